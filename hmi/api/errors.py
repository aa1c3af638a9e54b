"""Every refusal of the API as JSON `{"error": ..., "detail": ...}`: a short kind and a sentence saying what to do."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hmi.access.context import PermissionDenied
from hmi.access.roles import PERMISSIONS, Permission
from hmi.cluster.commands import NotForwarded
from hmi.control.recipe_values import RecipeError
from hmi.limits import RangeTooLong, TooManyRows
from hmi.records.notes import StaleNote
from hmi.records.signatures import SignatureError, SignatureRequired
from hmi.store.database import DatabaseUnavailable

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A refusal with its HTTP status, short `error` kind and the `detail` sentence a person acts on."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = dict(headers or {})
        # More of the refusal where it helps the caller, e.g. a refused write's outcome.
        self.extra = dict(extra or {})


def error_body(error: str, detail: str) -> dict[str, str]:
    """The one error shape of the API."""
    return {"error": error, "detail": detail}


def roles_with(permission: Permission) -> str:
    """'lead, engineer': the roles that have `permission`, in order of trust."""
    return ", ".join(role.value for role, allowed in PERMISSIONS.items() if permission in allowed)


def forbidden(role: str, permission: Permission) -> ApiError:
    """403 naming the permission and the roles that have it."""
    what = permission.value.replace("_", " ")
    return ApiError(
        403,
        "forbidden",
        f"role {role} may not {what}; this needs a token of an account with role {roles_with(permission)}",
    )


SIGNATURE_DETAIL = (
    "{what} needs an electronic signature; signatures are not taken over the API: a person must do this at a "
    "screen of the HMI and sign there (21 CFR 11.200)"
)


def _error(
    status: int,
    error: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body = {**(extra or {}), **error_body(error, detail)}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def install(app: FastAPI) -> None:
    """Map the API's and the services' exceptions to JSON answers on `app`."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.error, exc.detail, exc.headers, exc.extra)

    @app.exception_handler(PermissionDenied)
    async def _denied(_: Request, exc: PermissionDenied) -> JSONResponse:
        refusal = forbidden(exc.ctx.role.value, exc.permission)
        return _error(refusal.status, refusal.error, refusal.detail)

    @app.exception_handler(SignatureError)
    async def _signature(_: Request, exc: SignatureError) -> JSONResponse:
        what = exc.what if isinstance(exc, SignatureRequired) else "this action"
        return _error(403, "signature required", SIGNATURE_DETAIL.format(what=what[:1].upper() + what[1:]))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for problem in exc.errors():
            where = ".".join(str(p) for p in problem.get("loc", ()) if p not in ("body", "query", "path"))
            parts.append(f"{where or 'request'}: {problem.get('msg', 'invalid')}")
        return _error(422, "invalid request", "; ".join(parts) or "the request is not valid")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = "not found" if exc.status_code == 404 else "method not allowed" if exc.status_code == 405 else "error"
        detail = str(exc.detail) if exc.detail else error
        if exc.status_code == 404 and detail == "Not Found":
            detail = "there is no such address in the API; see /api/docs for the endpoints"
        return _error(exc.status_code, error, detail, exc.headers)

    for kind, status, error in (
        (RangeTooLong, 422, "range too long"),
        (TooManyRows, 422, "too many rows"),
        (RecipeError, 409, "recipe refused"),
        (StaleNote, 409, "changed meanwhile"),
        # Given on a standby, and no active server took it: not the request's fault, try again (before ValueError).
        (NotForwarded, 503, "no active server"),
        (ValueError, 422, "invalid request"),
    ):
        _map(app, kind, status, error)

    @app.exception_handler(DatabaseUnavailable)
    async def _database(_: Request, exc: DatabaseUnavailable) -> JSONResponse:
        return _error(503, "database unavailable", str(exc), {"Retry-After": "30"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("API request %s %s failed", request.method, request.url.path)
        return _error(500, "internal error", "the HMI could not answer; the error is in its log, tell the engineer")


def _map(app: FastAPI, kind: type[Exception], status: int, error: str) -> None:
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return _error(status, error, str(exc))

    app.add_exception_handler(kind, handler)
