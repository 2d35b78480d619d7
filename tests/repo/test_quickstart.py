"""README's "Run one bot locally", run as written: its SQL, its variables, its two commands.

Only what cannot be the same here is replaced: the PostgreSQL address (the test server's),
the token (one the fake Bot API knows) and TELEGRAM_API_URL (that fake). If README's block stops
working, for example a renamed variable or a missing step, this test fails.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from harness.postgres import PgServer
from harness.telegram import FakeTelegram

from .doc_claims import FENCE, ROOT


@dataclass(frozen=True)
class Recipe:
    sql: list[str]
    env: dict[str, str]
    commands: list[list[str]]


def readme_recipe() -> Recipe:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Run one bot locally") :]
    block = FENCE.findall(section)[0]
    block = block.replace("\\\n", " ")
    sql = re.findall(r'-c "([^"]+)"', block)
    env: dict[str, str] = {}
    commands = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["export"]:
            env.update(word.split("=", 1) for word in words[1:])  # type: ignore[misc]
        elif words[:1] == [".venv/bin/python"]:
            commands.append(words)
    return Recipe(sql=sql, env=env, commands=commands)


@pytest.fixture()
async def recipe(pg_server: PgServer) -> AsyncIterator[Recipe]:
    recipe = readme_recipe()
    client_id = recipe.env["CLIENT_ID"]
    admin = await asyncpg.connect(pg_server.dsn())
    try:
        for statement in recipe.sql:
            await admin.execute(statement)
        yield recipe
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{client_id}" CASCADE')
        await admin.execute(f'DROP ROLE IF EXISTS "{client_id}"')
        await admin.close()


def test_the_readme_recipe_is_a_role_a_migration_and_the_bot() -> None:
    recipe = readme_recipe()
    assert len(recipe.sql) == 3
    assert [c[1:] for c in recipe.commands] == [["-m", "booking_bot", "migrate"], ["-m", "booking_bot"]]
    assert {"CLIENT_ID", "DATABASE_URL", "BOT_TOKEN", "OWNER_TELEGRAM_ID"} <= set(recipe.env)


async def test_the_bot_from_the_readme_recipe_answers_its_owner(recipe: Recipe, pg_server: PgServer) -> None:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(recipe.env)
    env["DATABASE_URL"] = env["DATABASE_URL"].replace("localhost:5432", f"{pg_server.host}:{pg_server.port}")
    async with FakeTelegram() as tg:
        token = FakeTelegram.make_token(7100000001)
        tg.add_bot(token)
        env.update(BOT_TOKEN=token, TELEGRAM_API_URL=tg.url, HEALTH_PORT="0")
        migrate, run = ([sys.executable, *command[1:]] for command in recipe.commands)
        done = await asyncio.create_subprocess_exec(*migrate, env=env, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(done.communicate(), 60)
        assert done.returncode == 0, err.decode()
        bot = await asyncio.create_subprocess_exec(
            *run, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        try:
            owner = int(env["OWNER_TELEGRAM_ID"])
            # A language the bot has no texts for: README's DEFAULT_LANGUAGE decides.
            tg.push_message(token, {"id": owner, "first_name": "Owner", "language_code": "de"}, "/admin")
            panel = await tg.next_message(token, owner, timeout=60)
        finally:
            bot.terminate()
            await asyncio.wait_for(bot.wait(), 20)
    assert panel.text == f"Managing {env['BUSINESS_NAME']}"
    assert "💇 Services" in [text for text, _ in panel.buttons]
    assert bot.returncode == 0
