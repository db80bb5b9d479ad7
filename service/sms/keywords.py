"""What an inbound text asks for: "stop", "start", "help", or nothing (None).

The lists come from SMS_KEYWORDS (per language: English by default, German and Spanish shipped
as examples); every language is matched on every message, because a person texts in their own
language whatever the number. Matching ignores case, spaces and punctuation: "Stop.", " s t o p ",
"opt-out" and "OPT OUT" are the same word.

- A message that *is* a keyword (after that normalizing) is that keyword's kind.
- A short message (up to SHORT_WORDS words) that *contains* a stop word as a word ("Please
  stop.", "STOP texting me") is a stop too: the FCC's 2024 TCPA order (in force April 2025)
  says consent may be revoked "by any reasonable means", and a short sentence with STOP in it is
  one. Longer messages are conversation, and are left to people. START and HELP count only
  as the whole message: resuming marketing on a guess would be the wrong way to err.
- A stop wins over everything else in the same message ("yes stop" stops).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

KINDS = ("stop", "start", "help")
SHORT_WORDS = 5  # "a short message": CTIA's examples and the FCC's are all shorter
_NOT_WORD = re.compile(r"[\W_]+")


def words(text: str) -> list[str]:
    """The message's words, case-folded (NFKC, so full-width and accented forms compare)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return [w for w in _NOT_WORD.split(folded) if w]


def _keyword_forms(keywords: Mapping[str, Mapping[str, Sequence[str]]]
                   ) -> dict[str, dict[str, tuple[str, ...]]]:
    """kind -> {compact form ("optout"): its words (("opt", "out"))}, over every language."""
    forms: dict[str, dict[str, tuple[str, ...]]] = {kind: {} for kind in KINDS}
    for lists in keywords.values():
        for kind, entries in lists.items():
            if kind not in forms:
                continue
            for entry in entries:
                parts = tuple(words(entry))
                if parts:
                    forms[kind]["".join(parts)] = parts
    return forms


def _contains(message: list[str], parts: tuple[str, ...]) -> bool:
    """`parts` appears in `message` as consecutive whole words."""
    n = len(parts)
    return any(tuple(message[i:i + n]) == parts for i in range(len(message) - n + 1))


def classify(text: str, keywords: Mapping[str, Mapping[str, Sequence[str]]]) -> str | None:
    """"stop", "start", "help" or None for the message `text`."""
    message = words(text)
    if not message:
        return None
    forms = _keyword_forms(keywords)
    compact = "".join(message)
    if compact in forms["stop"]:
        return "stop"
    if len(message) <= SHORT_WORDS and any(
            _contains(message, parts) for parts in forms["stop"].values()):
        return "stop"
    for kind in ("start", "help"):
        if compact in forms[kind]:
            return kind
    return None
