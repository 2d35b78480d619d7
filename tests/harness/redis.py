"""A throwaway Redis server for the test session, started through pytest-redis.

The default user gets a password, as in production: tenants must reach Redis only
through their own ACL users, so an unauthenticated client must be refused.
"""

from __future__ import annotations

from dataclasses import dataclass

ADMIN_PASSWORD = "test-redis-admin-password"  # a throwaway server's password


@dataclass(frozen=True)
class RedisServer:
    host: str
    port: int
    password: str

    @property
    def admin_url(self) -> str:
        return f"redis://:{self.password}@{self.host}:{self.port}/0"

    @property
    def public_url(self) -> str:
        """The URL without credentials: what tenants are told before their own user is added."""
        return f"redis://{self.host}:{self.port}/0"
