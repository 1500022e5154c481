"""The RFC 9457 problem document, for the OpenAPI description of error responses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FieldError(BaseModel):
    loc: list[str | int]
    message: str
    type: str


class Problem(BaseModel):
    type: str = Field(examples=["urn:truapi:error:user_not_found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["No user with this id exists."])
    instance: str = Field(examples=["/users/0192f0c1-7b7a-7cc0-8f00-000000000000"])
    code: str = Field(examples=["user_not_found"])
    request_id: str = Field(examples=["4f1c2a9e0b7d4c3e8a6f5d2b1c0e9f8a"])
    errors: list[FieldError] | None = None


_DESCRIPTIONS = {
    400: "Malformed request (`malformed_request`, `invalid_cursor`)",
    401: "Not authenticated (`unauthenticated`)",
    403: "Not allowed (`forbidden`)",
    404: "Not found",
    409: "Conflict",
    412: "`If-Match` does not match the current ETag (`precondition_failed`)",
    413: "Body larger than `APP_MAX_BODY_BYTES` (`payload_too_large`)",
    415: "Body is not `application/json` (`unsupported_media_type`)",
    422: "Validation failed (`validation_error`, …)",
    500: "Unexpected error (`internal_error`); the body holds no internals",
    503: "Database unavailable (`service_unavailable`)",
}


_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def problem_responses(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting each error status with the problem model."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {
            "model": Problem,
            "description": descriptions.get(f"s{status}", _DESCRIPTIONS.get(status, "Error")),
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
    return out
