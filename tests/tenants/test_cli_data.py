"""`--tenant SLUG` on the commands that read or write a tenant's data (import, export, ledger,
retention), through the real `python -m service` as an operator runs it: each acts in the
tenant named and in no other; an unknown slug stops the command, exit code 1, before anything
is written (not even the export's output file)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from service.db.tenant_db import TenantDb
from service.outbox import enqueue
from service.runtime import build_runtime
from tests.contacts.test_import import HEADER
from tests.privacy.test_retention import _contact, _pref
from tests.tenants.test_cli import run

OLD = datetime.now(UTC) - timedelta(days=400)


async def cli(settings, *args: str):
    return await asyncio.to_thread(run, settings, *args)


async def _count(raw_db, table: str, tenant_id: int) -> int:
    return await raw_db.fetchval(f"SELECT COUNT(*) FROM {table} WHERE tenant_id = $1",
                                 tenant_id)


async def test_import_and_export_act_in_the_tenant_named(settings, client, raw_db, tenant_b,
                                                         tmp_path):
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(HEADER + "crm-9,email,bea@example.com,,opted_in,,,\n", encoding="utf-8")
    made = await cli(settings, "import", "contacts", str(contacts), "--tenant", "b")
    assert made.returncode == 0, made.stderr
    assert (await _count(raw_db, "contact", tenant_b.id), await _count(raw_db, "contact", 1)
            ) == (1, 0)
    default_export = await cli(settings, "export", "contacts", "-")
    assert default_export.returncode == 0 and "bea@example.com" not in default_export.stdout
    b_export = await cli(settings, "export", "contacts", "-", "--tenant", "b")
    assert "crm-9,email,bea@example.com" in b_export.stdout

    blocked = tmp_path / "blocked.csv"
    blocked.write_text("address\nbea@example.com\n", encoding="utf-8")
    added = await cli(settings, "import", "suppressions", str(blocked), "--channel", "email",
                      "--reason", "manual", "--tenant", "b")
    assert added.returncode == 0, added.stderr
    assert (await _count(raw_db, "suppression", tenant_b.id),
            await _count(raw_db, "suppression", 1)) == (1, 0)
    key = build_runtime(settings).parse_address("email", "bea@example.com")[1]
    assert key not in (await cli(settings, "export", "suppressions", "-")).stdout
    assert key in (await cli(settings, "export", "suppressions", "-", "--tenant", "b")).stdout


async def test_an_unknown_tenant_writes_nothing(settings, client, raw_db, tmp_path):
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(HEADER + "crm-1,email,ann@example.com,,opted_in,,,\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    for args in (("import", "contacts", str(contacts)), ("export", "contacts", str(out)),
                 ("ledger", "checkpoint"), ("retention", "--once")):
        refused = await cli(settings, *args, "--tenant", "nosuch")
        assert refused.returncode == 1, (args, refused.stdout, refused.stderr)
        assert "no tenant with the slug 'nosuch'" in refused.stderr
    assert not out.exists()
    for table in ("contact", "consent_event", "ledger_checkpoint", "outbox"):
        assert await raw_db.fetchval(f"SELECT COUNT(*) FROM {table}") == 0, table


async def test_retention_and_ledger_commands_touch_only_their_tenant(settings, client, db,
                                                                    raw_db, tenant_b):
    rt = build_runtime(settings)  # for its keyer: the addresses' keys
    b = TenantDb(raw_db, tenant_b.id)
    for view in (db, b):
        cid, key = await _contact(view, rt, "gone@example.com", OLD)
        await _pref(view, cid, key, None, "opt_out", OLD)
        async with view.transaction() as tx:
            await enqueue(tx, "email", {"to": "x@example.com"}, now=OLD)
    await raw_db.execute("UPDATE outbox SET status = 'sent', sent_at = $1", OLD)

    removed = await cli(settings, "retention", "--once", "--tenant", "b")
    assert removed.returncode == 0, removed.stderr
    assert "Removed: 1 contacts opted out of everything" in removed.stdout
    assert (await _count(raw_db, "contact", tenant_b.id), await _count(raw_db, "contact", 1)
            ) == (0, 1)
    # the outbox is the deployment's queue: pruned by the default tenant's run only
    assert await raw_db.fetchval("SELECT COUNT(*) FROM outbox") == 2

    point = await cli(settings, "ledger", "checkpoint", "--tenant", "b")
    assert point.returncode == 0, point.stderr
    rows = await raw_db.fetch("SELECT tenant_id FROM ledger_checkpoint")
    assert [r["tenant_id"] for r in rows] == [tenant_b.id]
    checked = await cli(settings, "ledger", "verify", "--tenant", "b")
    assert checked.returncode == 0 and "matches checkpoint" in checked.stdout, checked.stdout
    assert "no checkpoint yet" in (await cli(settings, "ledger", "verify")).stdout
