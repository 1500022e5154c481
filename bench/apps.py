"""Baseline applications: the cheapest responses uvicorn and FastAPI can give."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

_BODY = b'{"message":"hello"}'
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_BODY)).encode()),
]


async def bare_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """A raw ASGI callable: a small JSON body on every path, lifespan acknowledged."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})


fastapi_hello = FastAPI()


@fastapi_hello.get("/")
async def hello() -> dict[str, str]:
    return {"message": "hello"}
