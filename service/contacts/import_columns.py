"""The header of a contacts CSV file: which column is what (`plan_columns`).

The names of a typical CRM export are known (`ALIASES`), `--map COLUMN=FIELD` names any other
(`parse_mapping`); columns not used are named in the summary and never stored. Format:
docs/consent.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from service.contacts.normalize import CHANNELS
from service.errors import InputError

CONSENT_FIELDS = ("topic", "status", "paused_until", "occurred_at", "wording_version",
                  "campaign", "ip", "user_agent")
# What a column may be: an address on a channel, the long format's channel and address, the
# contact's CRM id, the consent and its proof; `ignore` drops a column (--map X=ignore).
FIELDS = (*CHANNELS, "channel", "address", "external_ref", *CONSENT_FIELDS, "ignore")
# Header names of typical CRM exports (compared as `header_name` makes them).
ALIASES = {
    "e_mail": "email", "email_address": "email", "e_mail_address": "email",
    "mobile": "sms", "telephone": "phone", "postal_address": "post",
    "id": "external_ref", "contact_id": "ignore",  # contact_id: ours, in exports
}
_SEPARATORS = re.compile(r"[\s_-]+")


def header_name(name: str) -> str:
    """A header name as matched: case, spaces, hyphens and underscores do not matter
    (`E-mail`, `e_mail` and `E mail` are one name)."""
    return _SEPARATORS.sub("_", name.strip().lower()).strip("_")


def parse_mapping(items: Sequence[str]) -> dict[str, str]:
    """`--map COLUMN=FIELD` options as {COLUMN: FIELD}; InputError naming an item that is not
    COLUMN=FIELD or an unknown FIELD. (The header is checked by `plan_columns`.)"""
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, target = item.rpartition("=")
        if not sep or not column.strip() or not target.strip():
            raise InputError("--map", f"{item!r} is not COLUMN=FIELD")
        target = header_name(target)
        if target not in FIELDS:
            raise InputError("--map", f"{item!r}: unknown field {target!r} (fields: "
                                      f"{', '.join(FIELDS)})")
        mapping[column.strip()] = target
    return mapping


@dataclass(frozen=True, slots=True)
class Columns:
    """What each column of a file is."""

    names: list[str]  # the header as written
    single: dict[str, int]  # field -> column index (external_ref, channel, address, consent)
    addresses: list[tuple[int, str]]  # (column index, channel): one address column each
    default_channel: str | None  # of the `address` column when there is no `channel` column
    unused: list[str]  # named once in the summary, never read

    def name(self, field_name: str) -> str:
        """How the file names a field's column (for messages)."""
        i = self.single.get(field_name)
        return (self.names[i].strip() or field_name) if i is not None else field_name


def plan_columns(header: Sequence[str], mapping: Mapping[str, str] | None = None,
                 default_channel: str | None = None) -> Columns:
    """Read the header; InputError (a usage error) when it cannot be imported as asked."""
    names = [header_name(h) for h in header]
    missing = [column for column in mapping or {} if header_name(column) not in names]
    if missing:
        raise InputError("--map", f"no column {missing[0]!r} in the header (its columns: "
                                  f"{', '.join(h for h in header if h.strip())})")
    single: dict[str, int] = {}
    addresses: list[tuple[int, str]] = []
    unused: list[str] = []
    mapping = {header_name(column): target for column, target in (mapping or {}).items()}
    for i, (given, name) in enumerate(zip(header, names, strict=True)):
        target = mapping.get(name) or ALIASES.get(name) or (name if name in FIELDS else None)
        if target is None or target == "ignore":
            unused.append(given.strip() or f"column {i + 1} (no name)")
        elif target in CHANNELS:
            addresses.append((i, target))
        elif target in single:
            raise InputError("header", f"columns {header[single[target]]!r} and {given!r} are "
                                       f"both {target}: --map one of them to another field or "
                                       "to ignore")
        else:
            single[target] = i
    if "channel" in single and "address" not in single:
        raise InputError("header", "a 'channel' column needs an 'address' column")
    if "address" in single and "channel" not in single and default_channel is None:
        raise InputError("header", "no 'channel' column: give one, or --channel")
    if "address" not in single and not addresses:
        raise InputError("header", "the first line must name the columns, with at least one "
                                   "address column: email (or e-mail, email_address), phone, "
                                   "mobile or sms, fax, postal_address, or channel and address; "
                                   "--map COLUMN=FIELD names any other")
    if default_channel is not None and "address" not in single:
        raise InputError("--channel", "--channel names the channel of an 'address' column, and "
                                      "this file has none (--map COLUMN=CHANNEL instead)")
    return Columns(list(header), single, addresses, default_channel, unused)

