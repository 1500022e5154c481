"""The list response every paginated route gives: items, next cursor and ``Link``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import JSONResponse

from truapi.application.pagination import DEFAULT_LIMIT, MAX_LIMIT

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (1-200).")]
Cursor = Annotated[
    str | None, Query(max_length=2048, description="`next_cursor` of the previous page.")
]
DEFAULT = DEFAULT_LIMIT


def page_response(request: Request, items: list[Any], next_cursor: str | None) -> JSONResponse:
    headers: dict[str, str] = {}
    if next_cursor is not None:
        next_query = request.url.include_query_params(cursor=next_cursor).query
        headers["Link"] = f'<{request.url.path}?{next_query}>; rel="next"'
    return JSONResponse({"items": items, "next_cursor": next_cursor}, headers=headers)
