"""The operator's command line: `tenant create/update/list` and a tenant's API keys, through
the real `python -m service` as an operator runs it."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, cli_env


def run(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service", *args], cwd=ROOT,
                          env=cli_env(settings), capture_output=True, text=True, timeout=120)


async def test_tenant_create_list_and_a_tenants_key(settings, client, db):
    made = run(settings, "tenant", "create", "--slug", "b", "--name", "Brand B", "--group", "g1",
               "--domain", "prefs.b.example", "--set", "org_primary_colour=#aa0000",
               "--set", "retention_opted_out_days=60")
    assert made.returncode == 0, made.stderr
    assert "created tenant" in made.stdout

    listed = run(settings, "tenant", "list")
    assert listed.returncode == 0, listed.stderr
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [line[1] for line in lines] == ["default", "b"]
    assert lines[1][2:5] == ["Brand B", "g1", "prefs.b.example"]
    assert '"retention_opted_out_days": 60' in lines[1][5]

    key = run(settings, "api-key", "create", "--tenant", "b", "--name", "b-crm",
              "--scopes", "admin")
    assert key.returncode == 0, key.stderr
    secret = key.stdout.strip().splitlines()[-1]
    # the running app learns of the tenant on the key's first request, and acts in it
    headers = {"Authorization": f"Bearer {secret}"}
    keys = await client.get("/v1/api-keys", headers=headers)
    assert keys.status_code == 200, keys.text
    assert [k["name"] for k in keys.json()] == ["b-crm"]
    assert (await client.get("/v1/api-keys", headers={**headers, "X-Tenant": "b"})
            ).status_code == 200

    listed_b = run(settings, "api-key", "list", "--tenant", "b")
    assert "b-crm" in listed_b.stdout
    assert "b-crm" not in run(settings, "api-key", "list").stdout
    key_id = key.stdout.split()[3]
    assert run(settings, "api-key", "revoke", "--id", key_id).returncode == 1  # not default's
    assert run(settings, "api-key", "revoke", "--tenant", "b", "--id", key_id).returncode == 0

    updated = run(settings, "tenant", "update", "--slug", "b", "--name", "Brand B Ltd",
                  "--set", "retention_opted_out_days=")
    assert updated.returncode == 0, updated.stderr
    row = await db.fetchrow("SELECT name, settings FROM tenant WHERE slug = 'b'")
    assert row["name"] == "Brand B Ltd" and "retention" not in row["settings"]


async def test_bad_tenant_commands_say_what_is_wrong(settings, client, db):
    bad_slug = run(settings, "tenant", "create", "--slug", "B B", "--name", "X")
    assert bad_slug.returncode == 2 and "slug" in bad_slug.stderr
    unknown = run(settings, "tenant", "create", "--slug", "x", "--name", "X",
                  "--set", "smtp_password=secret")
    assert unknown.returncode == 2 and "settings.smtp_password" in unknown.stderr
    assert run(settings, "tenant", "create", "--slug", "x", "--name", "X").returncode == 0
    again = run(settings, "tenant", "create", "--slug", "x", "--name", "X")
    assert again.returncode == 1 and "already exists" in again.stderr
    nowhere = run(settings, "api-key", "create", "--tenant", "nosuch", "--name", "k")
    assert nowhere.returncode == 1 and "nosuch" in nowhere.stderr
    assert (await db.fetchval("SELECT COUNT(*) FROM api_key")) == 0
    assert (await db.fetchval("SELECT COUNT(*) FROM tenant")) == 2
