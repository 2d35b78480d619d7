"""Every line a shard logs while working for a tenant names that tenant, and no credential."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import asyncpg
import pytest

from booking_bot.shard.logs import ShardJsonFormatter
from booking_bot.shard.runtime import Shard
from harness.telegram import FakeTelegram

from .conftest import MakeTenants, say, serve


@pytest.fixture()
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ShardJsonFormatter("shard-a"))
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_a_tenants_failures_are_logged_under_its_client_id_without_secrets(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants, log_lines: io.StringIO
) -> None:
    a, b = await make_tenants(2)
    conn = await asyncpg.connect(a.dsn)
    try:
        await conn.execute("ALTER TABLE users RENAME TO users_gone")
    finally:
        await conn.close()
    token_a, token_b = await serve(tg, shard, a, b)
    await say(tg, token_a, 1001, "/start")
    await say(tg, token_b, 1002, "/start")

    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    failed = [line for line in lines if line["event"] == "handler_failed"]
    assert failed and all(line["client_id"] == a.client_id for line in failed)
    states = {(line["client_id"], line["state"]) for line in lines if line["event"] == "tenant_state"}
    assert {(a.client_id, "Serving"), (b.client_id, "Serving")} <= states
    text = log_lines.getvalue()
    for secret in (token_a, token_b, a.password, b.password):
        assert secret not in text
