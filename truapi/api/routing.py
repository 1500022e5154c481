"""Route dispatch by first path segment.

Starlette tries every route in order, so each request paid for matching all ~45 routes'
patterns before reaching the later ones. Here a request tries only the routes that could
match its first segment (in their original order); anything they do not answer — 404s,
405s elsewhere, slash redirects — goes to the router's own full scan, so behaviour is
unchanged.
"""

from __future__ import annotations

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Match, Router
from starlette.types import Receive, Scope, Send


def _first_segment(path: str) -> str | None:
    """The literal first segment of a route's path, or None when it is a parameter."""
    segment = path.lstrip("/").split("/", 1)[0]
    if not segment or "{" in segment:
        return None
    return segment


class SegmentDispatch:
    """The router's ASGI entry point, indexed by first path segment."""

    def __init__(self, router: Router) -> None:
        self._router = router
        self._index: dict[str, list[BaseRoute]] | None = None
        self._anywhere: list[BaseRoute] = []

    def _build(self) -> dict[str, list[BaseRoute]]:
        # An included router is one entry of the top-level list: it goes under every first
        # segment its own routes have, or everywhere when one of them starts with a parameter.
        per_route: list[set[str | None]] = []
        for route in self._router.routes:
            segments: set[str | None] = set()
            for context in iter_route_contexts([route]):
                path = context.path
                segments.add(_first_segment(path) if isinstance(path, str) else None)
            per_route.append(segments or {None})
        literal = {s for segments in per_route for s in segments if s is not None}
        index: dict[str, list[BaseRoute]] = {segment: [] for segment in sorted(literal)}
        for route, segments in zip(self._router.routes, per_route, strict=True):
            if None in segments:
                self._anywhere.append(route)
                for routes in index.values():
                    routes.append(route)
            else:
                for segment in segments:
                    if segment is not None:
                        index[segment].append(route)
        return index

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("root_path"):
            await self._router.app(scope, receive, send)
            return
        index = self._index
        if index is None:
            index = self._index = self._build()
        path: str = scope["path"]
        candidates = index.get(path[1:].split("/", 1)[0], self._anywhere)
        for route in candidates:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope.setdefault("router", self._router)
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
        # No full match among the candidates: the full scan decides (405, redirect, 404).
        await self._router.app(scope, receive, send)


def index_routes(router: Router) -> None:
    """Make ``router`` dispatch through ``SegmentDispatch`` (call once its routes are set)."""
    router.middleware_stack = SegmentDispatch(router)
