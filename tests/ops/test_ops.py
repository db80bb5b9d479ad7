from __future__ import annotations


async def test_healthz_readyz_and_schema(client):
    assert (await client.get("/healthz")).text == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["openapi"].startswith("3.")
    assert "/healthz" in schema["paths"]


async def test_readyz_fails_when_migrations_are_missing(client, db):
    # The PostgreSQL test database is shared by the session (truncated between tests, but
    # not its migration record): put the rows back, or a later `migrate` runs every migration
    # again on tables that exist.
    ran = await db.fetch("SELECT name, app_name, ran_on FROM migration")
    await db.execute("DELETE FROM migration")
    try:
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["error"] == "migrations pending"
    finally:
        async with db.transaction() as tx:
            await tx.executemany("INSERT INTO migration (name, app_name, ran_on)"
                                 " VALUES ($1, $2, $3)", [tuple(r) for r in ran])
    assert (await client.get("/readyz")).status_code == 200


async def test_security_headers_on_every_response(client):
    response = await client.get("/healthz")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_metrics_exposes_requests_and_outbox(client):
    await client.get("/healthz")
    body = (await client.get("/metrics")).text
    assert "prefs_requests_total" in body
    assert 'prefs_outbox_pending{kind="email"}' in body
