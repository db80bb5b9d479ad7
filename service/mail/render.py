"""Rendering the service's own emails from `templates/email/`, in the recipient's language.

Every email has three templates: `<name>.subject.txt`, `<name>.txt` (plain text) and
`<name>.html`. They get the job's `context`, plus `org` (branding from settings), `lang` and
`_` (the gettext translator of `locale/<lang>/LC_MESSAGES/*.po`, where `mail.po` holds these
texts). HTML templates are autoescaped; text templates are not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from service.i18n import available_languages, translator
from service.settings import Settings

EMAIL_TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "email"

_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")
_html = Environment(loader=FileSystemLoader(EMAIL_TEMPLATES), autoescape=True,
                    undefined=StrictUndefined)
_text = Environment(loader=FileSystemLoader(EMAIL_TEMPLATES), autoescape=False,  # noqa: S701
                    undefined=StrictUndefined, keep_trailing_newline=True)


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def org_context(settings: Settings) -> dict[str, str]:
    return {
        "name": settings.org_name,
        "logo_url": settings.org_logo_url,
        # goes into a style attribute: only a plain hex colour
        "primary_colour": settings.org_primary_colour
        if _COLOUR.fullmatch(settings.org_primary_colour) else "#1d4ed8",
        "privacy_url": settings.org_privacy_url,
        "support_contact": settings.org_support_contact,
        "base_url": settings.public_base_url.rstrip("/"),
    }


def email_language(lang: str | None, settings: Settings) -> str:
    """The payload's language when we have a catalogue for it, else the default."""
    if lang and lang in available_languages():
        return lang
    return settings.default_language


def render_email(settings: Settings, template: str, lang: str | None,
                 context: dict[str, Any]) -> RenderedEmail:
    """Subject (one line), text and HTML of `template` for `context` in `lang`."""
    lang = email_language(lang, settings)
    values = {**context, "org": org_context(settings), "lang": lang, "_": translator(lang)}
    subject = _text.get_template(f"{template}.subject.txt").render(values)
    return RenderedEmail(
        subject=" ".join(subject.split()),  # no line breaks in a header
        text=_text.get_template(f"{template}.txt").render(values),
        html=_html.get_template(f"{template}.html").render(values),
    )
