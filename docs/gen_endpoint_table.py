"""Print the endpoint requirement table of docs/authorization.md, built from the registry.

    python docs/gen_endpoint_table.py           # print the Markdown table
    python docs/gen_endpoint_table.py --write   # replace the table in docs/authorization.md

The table lists what ``truapi.api.guards.endpoints`` reports for every route of the app
built with the default settings (API docs and metrics on). ``tests/docs`` fails when the
guide's copy differs from this output, so run ``--write`` after changing a requirement.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from fastapi import FastAPI

from truapi.api.app import create_app
from truapi.api.guards import Access, Endpoint, Requirement, endpoints
from truapi.bootstrap import build_container
from truapi.config import Settings

GUIDE = Path(__file__).resolve().parent / "authorization.md"
START = "<!-- endpoints:start -->"
END = "<!-- endpoints:end -->"

HEADER = ("| Method | Path | Access | Needs |", "| --- | --- | --- | --- |")


def build_app() -> FastAPI:
    """The app as ``truapi serve`` builds it with the default settings, whatever the
    environment says. It is never started: its database is an empty file, thrown away."""
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings.model_construct(
            database_url=f"sqlite+aiosqlite:///{Path(scratch) / 'unused.db'}",
            docs_enabled=True,
            metrics_enabled=True,
        )
        container = build_container(settings)
        app = create_app(settings, container=container)
        asyncio.run(container.close())
    return app


def needs(requirement: Requirement | None) -> tuple[str, str]:
    """The Access and Needs cells of one route."""
    if requirement is None:
        return "**undeclared**", "a route must declare its requirement"
    if requirement.access is Access.PUBLIC:
        return "public", "nothing"
    if requirement.access is Access.AUTHENTICATED:
        return "authenticated", "any authenticated principal"
    needed = f"`{requirement.action}` on `{requirement.resource}`"
    if requirement.administer:
        needed += ", or on the tenant root by its own ACL"
    if requirement.resource == "{parent}":
        needed += " (the tenant root when `parent` is left out)"
    return "permission", needed


def table(found: list[Endpoint]) -> str:
    rows = list(HEADER)
    for endpoint in found:
        access, needed = needs(endpoint.requirement)
        rows.append(f"| `{endpoint.method}` | `{endpoint.path}` | {access} | {needed} |")
    return "\n".join(rows) + "\n"


def current_table() -> str:
    """The table for the current code."""
    return table(endpoints(build_app()))


def guide_table(text: str) -> str:
    """The table between the markers of the guide."""
    start = text.index(START) + len(START)
    return text[start : text.index(END, start)].strip("\n") + "\n"


def write(path: Path = GUIDE) -> bool:
    """Put the current table between the markers of ``path``; True when it changed."""
    text = path.read_text(encoding="utf-8")
    start = text.index(START) + len(START)
    end = text.index(END, start)
    updated = f"{text[:start]}\n{current_table()}{text[end:]}"
    if updated == text:
        return False
    path.write_text(updated, encoding="utf-8")
    return True


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        changed = write()
        print(f"{GUIDE.name}: {'updated' if changed else 'already current'}")
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.write(current_table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
