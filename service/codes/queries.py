"""The printed-code capability's SQL, by name (read by codes/logic.py).

Codes are issued set-based, one statement per batch on each engine, and a code whose hash is
already taken (two equal draws of 50 bits: rare, but certain somewhere among 10^8 codes) is
left out by ON CONFLICT and drawn again, never given to a second recipient. The hash is unique
across tenants (the primary key): a code is found before its tenant is known.
"""

from __future__ import annotations

from service.db.scoped import Scoped

INSERT_SQLITE = Scoped(  # $2: JSON array of [hash, contact, channel, topic, campaign]
    "INSERT INTO opt_out_code (tenant_id, code_hash, contact_id, channel, topic, campaign,"
    " created_at) SELECT $1, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'),"
    " json_extract(j.value, '$[2]'), json_extract(j.value, '$[3]'),"
    " json_extract(j.value, '$[4]'), $3 FROM json_each($2) AS j WHERE true"
    " ON CONFLICT (code_hash) DO NOTHING RETURNING code_hash"
)
INSERT_PG = Scoped(
    "INSERT INTO opt_out_code (tenant_id, code_hash, contact_id, channel, topic, campaign,"
    " created_at) SELECT $1, h, c, ch, tp, cp, $7 FROM unnest(CAST($2 AS text[]),"
    " CAST($3 AS text[]), CAST($4 AS text[]), CAST($5 AS text[]), CAST($6 AS text[]))"
    " AS t(h, c, ch, tp, cp) ON CONFLICT (code_hash) DO NOTHING RETURNING code_hash"
)
# What a typed code stops: one probe of the primary key, in whichever tenant issued it (the code
# is the credential and names no tenant; the row's tenant_id says whose it is).
FIND = (
    "SELECT contact_id, channel, topic, campaign, tenant_id FROM opt_out_code"
    " WHERE code_hash = $1"
)
