"""Who calls: the bearer token resolved to its user at the moment of each request, rate limited per token."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from hmi.access.api_tokens import hash_secret
from hmi.access.context import ActionContext
from hmi.access.login_guard import describe_limit, parse_limit
from hmi.access.roles import Permission
from hmi.api.errors import ApiError, forbidden
from hmi.runtime import Runtime

# The scheme OpenAPI shows (the "Authorize" button of /api/docs); the check itself is ours, for our messages.
BEARER = HTTPBearer(auto_error=False, description="an API token from `hmi tokens create` (docs/api.md)")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="factory-hmi"'}

Caller = Callable[[HTTPAuthorizationCredentials | None], Awaitable[ActionContext]]


class RateLimit:
    """Requests per token over a moving window, counted in this process (the `limits` library, in memory)."""

    def __init__(self, text: str) -> None:
        self.item = parse_limit(text)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, key: str) -> None:
        """Count one request of `key`; ApiError 429 with Retry-After past the limit."""
        if self._limiter.hit(self.item, "api", key):
            return
        reset, _remaining = self._limiter.get_window_stats(self.item, "api", key)
        wait = max(1, math.ceil(reset - time.time()))
        raise ApiError(
            429,
            "too many requests",
            f"this token may make {describe_limit(self.item)}; wait {wait} s and ask again",
            {"Retry-After": str(wait)},
        )


def caller(rt: Runtime, limit: RateLimit) -> Caller:
    """The dependency every endpoint takes: the ActionContext of the calling token's user, or 401 / 429 / 503."""

    async def dependency(
        credentials: HTTPAuthorizationCredentials | None = Depends(BEARER),  # noqa: B008 - FastAPI's idiom
    ) -> ActionContext:
        if not rt.started:
            raise ApiError(
                503, "not running", f"the HMI is not running: {rt.start_error or 'it is still starting'}", _retry()
            )
        if credentials is None or not credentials.credentials:
            raise ApiError(
                401,
                "unauthorized",
                "send an API token as 'Authorization: Bearer <token>'; an administrator creates one with "
                "hmi tokens create",
                _CHALLENGE,
            )
        secret = credentials.credentials
        # Counted before the lookup, by the secret's hash: a flood of wrong tokens is throttled like a real one.
        limit.check(hash_secret(secret))
        check = await rt.api_tokens.resolve(secret)
        if check.ctx is None:
            raise ApiError(401, "unauthorized", check.reason, _CHALLENGE)
        return check.ctx.for_action()

    return dependency


def need(ctx: ActionContext, permission: Permission) -> None:
    """Return when `ctx` may `permission`; 403 naming what is needed else (reads: nothing to audit)."""
    if not ctx.can(permission):
        raise forbidden(ctx.role.value, permission)


def _retry() -> dict[str, str]:
    return {"Retry-After": "10"}
