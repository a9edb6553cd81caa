"""Vercel's error body: ``{"error": {"code": …, "message": …, …extra}}``."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

__all__ = ["ApiError", "bad_request", "batch_failure", "error_response", "not_found", "save_failed"]


class ApiError(Exception):
    """Raised by route handlers; becomes a Vercel-shaped JSON error response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> JSONResponse:
        """The JSON response for this error."""
        return error_response(self.status, self.code, self.message, headers=self.headers, **self.extra)


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A Vercel error response."""
    return JSONResponse(
        {"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers
    )


def bad_request(message: str, **extra: Any) -> ApiError:
    """400 ``bad_request`` with Vercel's ``Invalid request: …`` wording."""
    return ApiError(400, "bad_request", message, **extra)


def not_found(message: str, **extra: Any) -> ApiError:
    """404 ``not_found``."""
    return ApiError(404, "not_found", message, **extra)


def batch_failure(code: str, message: str, **subject: Any) -> dict[str, Any]:
    """One entry of a batch answer's ``failed`` list: ``{"error": {code, message, …subject}}``."""
    return {"error": {"code": code, "message": message, **subject}}


def save_failed(**subject: Any) -> dict[str, Any]:
    """The ``failed`` entry of a batch item that an (injected) internal error kept from being saved."""
    return batch_failure(
        "internal_server_error",
        "An unexpected internal error occurred while saving this variable.",
        **subject,
    )
