"""An API server that refuses one kind of request: the emulator behind a real HTTP front.

The emulator answers every request or none (stopped); a real API server also fails single
calls, most often by RBAC: a ClusterRole that lacks one verb on one resource answers 403 to
exactly those requests and serves the rest. ``RefusingApiServer`` forwards every request to
the emulator over HTTP and answers the ones a rule names with the 403 Status a real API server
sends, so each step's handling of its own Kubernetes call can be seen on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import aiohttp
import aiohttp.web
import port_for

HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


@dataclass(frozen=True)
class Refusal:
    """Requests with this method whose path matches ``path`` (a regular expression)."""

    method: str
    path: str

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.search(self.path, path) is not None


class RefusingApiServer:
    """Serve at ``url``; forward to ``upstream``, refuse what ``refuse`` names (see module doc)."""

    def __init__(self, upstream: str, refuse: Refusal) -> None:
        self.upstream = upstream.rstrip("/")
        self.refuse = refuse
        self.refused = 0  # requests answered 403
        self.url = ""
        self._runner: aiohttp.web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RefusingApiServer:
        app = aiohttp.web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._session = aiohttp.ClientSession(auto_decompress=False)
        self._runner = aiohttp.web.AppRunner(app)
        await self._runner.setup()
        port = port_for.select_random()
        await aiohttp.web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        if self.refuse.matches(request.method, request.path):
            self.refused += 1
            message = f"{request.method} {request.path} is forbidden: the role lacks this verb"
            return aiohttp.web.json_response(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "message": message,
                    "reason": "Forbidden",
                    "code": 403,
                },
                status=403,
            )
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            data=await request.read(),
            headers=headers,
        ) as answer:
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS}
            return aiohttp.web.Response(body=body, status=answer.status, headers=kept)
