"""``python -m booking_bot.shard``: serve the tenants of this shard until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from booking_bot.config import fail
from booking_bot.shard.config import ShardSettings, load_shard_settings
from booking_bot.shard.logs import setup_shard_logging
from booking_contract.settings import ConfigError, command_line


async def run(settings: ShardSettings) -> int:
    from booking_bot.shard.runtime import Shard
    from booking_contract.kube import KubeError

    shard = Shard(settings, own_process=True)  # this process is the shard's own (heap.py)
    try:
        await shard.start()
        source = shard.source()
    except (KubeError, ConfigError, OSError) as exc:
        await shard.close()
        sys.stderr.write(f"booking_bot.shard: startup error: {' '.join(str(exc).split())}\n")
        return 1
    serving = asyncio.create_task(shard.serve(source))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await asyncio.wait({serving, asyncio.create_task(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
    failure = serving.exception() if serving.done() and not serving.cancelled() else None
    serving.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await serving
    await shard.close()
    if failure is not None:  # the tenant list cannot be followed any more: let the kubelet restart us
        sys.stderr.write(f"booking_bot.shard: stopped: {type(failure).__name__}: {failure}\n")
        return 1
    return 0


USAGE = "usage: python -m booking_bot.shard (configured by SHARD_* variables, docs/shared-runtime.md)"


def main(argv: list[str] | None = None) -> None:
    if command_line(sys.argv[1:] if argv is None else argv, USAGE) is None:
        return
    try:
        settings = load_shard_settings()
        if settings.shard_tenants_secret:
            settings.namespace()
    except ConfigError as exc:
        fail(str(exc))
    setup_shard_logging(settings.shard_name, settings.log_level)
    from booking_bot.lazy_models import import_aiogram_lazily

    import_aiogram_lazily()
    # uvloop: one event loop serves every tenant of the shard, so its cost per I/O is paid by all
    # of them (10 % less CPU per update in the benchmark); 1.7 MB once per shard, where the
    # dedicated bot, one tenant per process, keeps asyncio's loop (its idle RSS has a budget).
    import uvloop

    raise SystemExit(uvloop.run(run(settings)))


if __name__ == "__main__":
    main()
