"""Per-endpoint authorization settings: the mode (``APP_AUTHZ_MODE``) and the overrides
of ``APP_AUTHZ_ENDPOINT_OVERRIDES``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Mode(StrEnum):
    ENFORCE = "enforce"
    AUDIT = "audit"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class EndpointOverride:
    mode: Mode | None = None
    action: str | None = None


def parse_overrides(raw: str) -> dict[str, EndpointOverride]:
    """``APP_AUTHZ_ENDPOINT_OVERRIDES``: ``{"METHOD /path/template": {"mode"?, "action"?}}``."""
    if not raw.strip():
        return {}
    try:
        data: Any = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"APP_AUTHZ_ENDPOINT_OVERRIDES is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("APP_AUTHZ_ENDPOINT_OVERRIDES must be a JSON object")
    overrides = {}
    for key, value in data.items():
        method, _, path = str(key).partition(" ")
        if not method.isalpha() or not path.startswith("/"):
            raise ValueError(
                f"APP_AUTHZ_ENDPOINT_OVERRIDES key {key!r} is not 'METHOD /path/template'"
            )
        if not isinstance(value, dict) or set(value) - {"mode", "action"}:
            raise ValueError(
                f"APP_AUTHZ_ENDPOINT_OVERRIDES[{key!r}] must be an object with 'mode' and/or "
                "'action'"
            )
        try:
            mode = Mode(value["mode"]) if "mode" in value else None
        except ValueError:
            raise ValueError(
                f"APP_AUTHZ_ENDPOINT_OVERRIDES[{key!r}].mode must be enforce, audit or off"
            ) from None
        action = value.get("action")
        if action is not None and not isinstance(action, str):
            raise ValueError(f"APP_AUTHZ_ENDPOINT_OVERRIDES[{key!r}].action must be a string")
        overrides[f"{method.upper()} {path}"] = EndpointOverride(mode, action)
    return overrides
