"""The keyword matrix of issue 15: what a text asks for, in any case, spacing or punctuation,
in the shipped languages; short sentences with a stop word stop, longer ones do not."""

from __future__ import annotations

import pytest

from service.settings import Settings
from service.sms.keywords import classify

KEYWORDS = Settings().sms_keywords  # the shipped lists: English, German, Spanish


@pytest.mark.parametrize("text, kind", [
    ("STOP", "stop"), ("stop.", "stop"), (" Stop! ", "stop"), ("s-t-o-p", "stop"),
    ("STOPALL", "stop"), ("stop all", "stop"), ("UNSUBSCRIBE", "stop"), ("cancel", "stop"),
    ("End", "stop"), ("QUIT", "stop"), ("revoke", "stop"), ("optout", "stop"),
    ("opt out", "stop"), ("Opt-Out", "stop"), ("OPT OUT!", "stop"),
    ("Please stop.", "stop"), ("STOP texting me", "stop"), ("please opt out of this", "stop"),
    ("yes stop", "stop"),  # a stop wins
    ("STOPP", "stop"), ("abmelden", "stop"), ("ALTO", "stop"), ("Baja.", "stop"),
    ("Bitte abmelden", "stop"),
    ("START", "start"), ("start.", "start"), ("UNSTOP", "start"), ("yes", "start"),
    ("Yes!", "start"),
    ("HELP", "help"), ("help?", "help"), ("INFO", "help"), ("Hilfe", "help"),
    ("ayuda", "help"),
    # six words with a stop word in them: conversation, not a keyword
    ("I will stop by the shop", None),
    ("Please never stop sending me the offers", None),
    ("yes please", None),  # START counts only as the whole message
    ("help me stop", "stop"),
    ("hello", None), ("", None), ("...", None), ("stopwatch", None), ("unstoppable", None),
])
def test_keyword_matrix(text, kind):
    assert classify(text, KEYWORDS) == kind


def test_word_lists_come_from_the_settings():
    custom = {"fr": {"stop": ["ARRET", "DÉSABONNER"], "start": ["REPRENDRE"], "help": ["AIDE"]}}
    assert classify("Arret", custom) == "stop"
    assert classify("désabonner svp", custom) == "stop"
    assert classify("reprendre", custom) == "start"
    assert classify("STOP", custom) is None  # only the languages configured
