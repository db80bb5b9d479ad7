"""Every text of the preference, confirmation and email templates has a German translation,
with the same {placeholders}."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.i18n import catalogue
from service.mail.render import render_email
from tests.conftest import ROOT, make_settings

MSGID = re.compile(r'''_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')''')
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def texts(paths: list[Path]) -> set[str]:
    found = set()
    for path in paths:
        for match in MSGID.finditer(path.read_text()):
            found.add(match.group(1) if match.group(1) is not None else match.group(2))
    return found


TEMPLATES = [
    *sorted((ROOT / "templates" / "preferences").glob("*.html")),
    *sorted((ROOT / "templates" / "confirm").glob("*.html")),
    *sorted(p for p in (ROOT / "templates" / "email").iterdir()
            if not p.name.startswith("privacy_")),
]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_text_is_translated_to_german(path):
    german = catalogue("de")
    for text in texts([path]):
        assert text in german, f"no German for {text!r}"
        assert set(PLACEHOLDER.findall(german[text])) == set(PLACEHOLDER.findall(text)), text


def test_emails_render_in_both_languages(tmp_path):
    settings = make_settings(f"sqlite:///{tmp_path}/unused.db", tmp_path)
    context = {"url": "https://x.example/c/t", "topics": ["Newsletter"], "days": 7}
    english = render_email(settings, "confirm", "en", context)
    german = render_email(settings, "confirm", "de", context)
    assert english.subject == "Please confirm your subscription to Example Ltd"
    assert german.subject == "Bitte bestätigen Sie Ihr Abonnement bei Example Ltd"
    for rendered in (english, german):
        assert "https://x.example/c/t" in rendered.text and "Newsletter" in rendered.html
        assert "\n" not in rendered.subject
