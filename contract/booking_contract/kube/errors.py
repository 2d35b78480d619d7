"""One error model for every Kubernetes API call of the platform.

Every failure is a ``KubeError`` whose subclass says what the caller can do about it:
``KubeUnavailable`` (no answer, 5xx, 429: retry later), ``KubeConflict`` (409: re-read and
retry), ``KubeNotFound`` (404), ``KubeForbidden`` (401/403: RBAC), ``KubeGone`` (410: the
resourceVersion a watch started from is too old: read the object again), ``KubeInvalid`` (any
other 4xx: the request itself is wrong).
"""

from __future__ import annotations

from typing import ClassVar


class KubeError(Exception):
    """A Kubernetes API call that did not do what was asked. ``status``: HTTP code, 0 = no answer."""

    retryable: ClassVar[bool] = False

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


class KubeUnavailable(KubeError):
    """The API server could not be reached, or answered 5xx/429: the same call may work later."""

    retryable = True


class KubeConflict(KubeError):
    """409: AlreadyExists on create, a stale resourceVersion on patch."""


class KubeNotFound(KubeError):
    """404: the object, its namespace or its kind does not exist."""


class KubeForbidden(KubeError):
    """401/403: this identity may not do this (RBAC); retrying will not help."""


class KubeInvalid(KubeError):
    """Any other 4xx (400, 422 ...): the request itself was refused; retrying will not help."""


class KubeGone(KubeInvalid):
    """410: a watch's resourceVersion is older than the server keeps; list (or get) again."""


def error_for(status: int, message: str) -> KubeError:
    """The KubeError subclass for an HTTP status (0: no answer at all)."""
    if status == 0 or status == 429 or status >= 500:
        return KubeUnavailable(status, message)
    if status == 409:
        return KubeConflict(status, message)
    if status == 404:
        return KubeNotFound(status, message)
    if status in (401, 403):
        return KubeForbidden(status, message)
    if status == 410:
        return KubeGone(status, message)
    return KubeInvalid(status, message)
