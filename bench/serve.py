"""Start one uvicorn server with the options ``truapi serve`` uses (``python -m bench.serve``)."""

from __future__ import annotations

import argparse

import uvicorn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("app", help="import string, e.g. truapi.api.asgi:serve_app")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--factory", action="store_true", help="APP is an app factory")
    args = parser.parse_args(argv)
    # Mirrors truapi.cli.serve (one worker, no access log, no server header, no proxy
    # headers, no logging config), with uvloop and httptools named rather than "auto".
    uvicorn.run(
        args.app,
        factory=args.factory,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
