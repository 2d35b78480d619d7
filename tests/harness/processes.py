"""Ending a server process the tests started (nginx, PgBouncer): ask, then insist.

SIGTERM gives it the chance to close its listeners and logs; a process that has not gone in
``grace`` seconds is killed, so a hung stand-in cannot hold a test run's teardown.
"""

from __future__ import annotations

import subprocess


def end(proc: subprocess.Popen[bytes] | None, grace: float = 10) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
