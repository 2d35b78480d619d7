"""`python -m booking_demo` (what `make demo` runs): throwaway servers around one demo run."""

from __future__ import annotations

import asyncio
import contextlib
import sys

from .run import DemoFailed, run_demo
from .servers import ServerUnavailable, throwaway_postgres, throwaway_redis
from .tenant import BotFailed


def main() -> int:
    try:
        with contextlib.ExitStack() as stack:
            pg = stack.enter_context(throwaway_postgres())
            redis = stack.enter_context(throwaway_redis())
            asyncio.run(run_demo(pg, redis, sys.stdout))
    except (ServerUnavailable, BotFailed, DemoFailed) as exc:
        sys.stderr.write(f"booking_demo: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
