"""The printed-code capability's SQL, by name (read by codes/logic.py).

Codes are issued set-based, one statement per batch on each engine, and a code whose hash is
already taken (two equal draws of 50 bits: rare, but certain somewhere among 10^8 codes) is
left out by ON CONFLICT and drawn again, never given to a second recipient.
"""

from __future__ import annotations

INSERT_SQLITE = (  # $1: JSON array of [hash, contact, channel, topic, campaign]
    "INSERT INTO opt_out_code (code_hash, contact_id, channel, topic, campaign, created_at)"
    " SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'),"
    " json_extract(j.value, '$[2]'), json_extract(j.value, '$[3]'),"
    " json_extract(j.value, '$[4]'), $2 FROM json_each($1) AS j WHERE true"
    " ON CONFLICT (code_hash) DO NOTHING RETURNING code_hash"
)
INSERT_PG = (
    "INSERT INTO opt_out_code (code_hash, contact_id, channel, topic, campaign, created_at)"
    " SELECT h, c, ch, tp, cp, $6 FROM unnest(CAST($1 AS text[]), CAST($2 AS text[]),"
    " CAST($3 AS text[]), CAST($4 AS text[]), CAST($5 AS text[])) AS t(h, c, ch, tp, cp)"
    " ON CONFLICT (code_hash) DO NOTHING RETURNING code_hash"
)
# What a typed code stops: one probe of the primary key.
FIND = "SELECT contact_id, channel, topic, campaign FROM opt_out_code WHERE code_hash = $1"
