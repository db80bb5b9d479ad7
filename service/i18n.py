"""Page and email texts in gettext catalogues (`locale/<lang>/LC_MESSAGES/*.po`), not in code.

Message ids are the English texts; every `.po` file of a language is merged, so each capability
keeps its own catalogue file. The language comes from Accept-Language, limited to those with a
catalogue, falling back to DEFAULT_LANGUAGE.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
SOURCE_LANGUAGE = "en"


@cache
def catalogue(lang: str) -> dict[str, str]:
    messages: dict[str, str] = {}
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    for path in sorted(folder.glob("*.po")):
        with path.open("rb") as fh:
            for message in read_po(fh, locale=lang):
                if message.id and message.string and not message.fuzzy:
                    messages[str(message.id)] = str(message.string)
    return messages


@cache
def available_languages() -> tuple[str, ...]:
    found = {p.name for p in LOCALE_DIR.iterdir() if p.is_dir()} if LOCALE_DIR.exists() else set()
    return tuple(sorted(found | {SOURCE_LANGUAGE}))


def negotiate(accept_language: str | None, default: str = SOURCE_LANGUAGE) -> str:
    """The best available language for an Accept-Language header."""
    available = available_languages()
    choices: list[tuple[float, str]] = []
    for part in (accept_language or "").split(","):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        choices.append((quality, tag.strip().lower()))
    for _quality, tag in sorted(choices, key=lambda c: -c[0]):
        for candidate in (tag, tag.split("-")[0]):
            if candidate in available:
                return candidate
    return default if default in available else SOURCE_LANGUAGE


def translator(lang: str) -> Callable[..., str]:
    """`_("text", name=value)`: the translation of text, with str.format placeholders."""
    messages = catalogue(lang) if lang != SOURCE_LANGUAGE else {}

    def gettext(text: str, **values: object) -> str:
        translated = messages.get(text, text)
        return translated.format(**values) if values else translated

    return gettext
