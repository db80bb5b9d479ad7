"""Scale-out on PostgreSQL, for real: a primary and a streaming replica started here, two service
instances reading from the replica; an unsubscribe on one is seen by the checks of the other at
once, and the service keeps answering when the replica is down."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.scaleout.cluster import Instance, PgCluster, run_cli, service_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    pg = PgCluster().start()
    yield pg
    pg.close()


@pytest.fixture(scope="module")
def instances(cluster):
    env = service_env(cluster.url(cluster.primary_port),
                      DATABASE_REPLICA_URLS=cluster.url(cluster.replica_port),
                      REDIS_URL="redis://127.0.0.1:6379/15", RUN_WORKERS_IN_WEB="true")
    run_cli(env, "migrate")
    key = run_cli(env, "api-key", "create", "--name", "scaleout", "--scopes", "admin"
                  ).strip().splitlines()[-1]
    a, b = Instance(env), Instance(env, workers=2)
    yield a, b, {"Authorization": f"Bearer {key}"}
    a.stop()
    b.stop()


def check(base: str, headers: dict, address: str) -> dict:
    response = httpx.get(f"{base}/v1/suppressions/check", headers=headers,
                         params={"channel": "email", "address": address}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def replica_lag(base: str) -> str:
    return "\n".join(line for line in httpx.get(f"{base}/metrics").text.splitlines()
                     if line.startswith("prefs_replica_lag_seconds"))


def test_unsubscribe_on_one_instance_is_seen_at_once_by_the_other(instances):
    a, b, headers = instances
    for n in range(20):
        address = f"scale{n}@example.com"
        assert check(b.base, headers, address)["allowed"] is True
        added = httpx.post(f"{a.base}/v1/suppressions", headers=headers, timeout=10, json={
            "channel": "email", "reason": "unsubscribed", "source": "crm",
            "addresses": [address]})
        assert added.status_code in (200, 201), added.text
        answer = check(b.base, headers, address)
        assert answer["allowed"] is False and answer["reasons"] == ["unsubscribed"]


def test_replica_serves_checks_and_is_skipped_when_down(cluster, instances):
    a, b, headers = instances
    # another caller (no recent writes) is served by the replica once it has caught up
    reader_key = run_cli(service_env(cluster.url(cluster.primary_port)), "api-key", "create",
                         "--name", "reader", "--scopes", "suppressions:read"
                         ).strip().splitlines()[-1]
    reader = {"Authorization": f"Bearer {reader_key}"}
    httpx.post(f"{a.base}/v1/suppressions", headers=headers, timeout=10, json={
        "channel": "email", "reason": "hard_bounce", "source": "crm",
        "addresses": ["lagging@example.com"]})
    deadline = time.monotonic() + 10
    while check(b.base, reader, "lagging@example.com")["allowed"]:
        assert time.monotonic() < deadline, "the replica never caught up"
        time.sleep(0.1)
    assert 'replica="postgresql://postgres@127.0.0.1' in replica_lag(a.base)

    cluster.stop_server(cluster.replica)
    try:
        for n in range(10):  # every check still answers, from the primary
            assert check(b.base, reader, "lagging@example.com")["allowed"] is False
            assert check(a.base, reader, f"fresh{n}@example.com")["allowed"] is True
        time.sleep(1)
        assert "+Inf" in replica_lag(a.base)  # reported down
    finally:
        cluster.start_server(cluster.replica, cluster.replica_port)
