"""permessage-deflate settings for the interop peers, from one command-line value.

    --deflate ""                                    websockets' defaults (window 12 bits, memLevel 5)
    --deflate "server_no_context_takeover,client_no_context_takeover,server_max_window_bits=10,client_max_window_bits=9"

Without --deflate the peers do not compress. The names are RFC 7692's parameters;
"client_max_window_bits" without a value offers the parameter without limiting.
"""

from __future__ import annotations

from typing import Any


def parse(spec: str | None) -> dict[str, Any] | None:
    """None when compression is off, else keyword arguments for the websockets factories."""
    if spec is None:
        return None
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, value = item.partition("=")
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            options[name] = True
        elif name in ("server_max_window_bits", "client_max_window_bits"):
            options[name] = int(value) if value else True
        else:
            raise ValueError(f"unknown permessage-deflate option {name!r}")
    return options


def server_extensions(spec: str | None) -> list:
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
    options = parse(spec)
    if options is None:
        return []
    if options.get("client_max_window_bits") is True:
        del options["client_max_window_bits"]
    return [ServerPerMessageDeflateFactory(**options, compress_settings={"memLevel": 5})]


def client_extensions(spec: str | None) -> list:
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
    options = parse(spec)
    if options is None:
        return []
    options.setdefault("client_max_window_bits", True)
    return [ClientPerMessageDeflateFactory(**options, compress_settings={"memLevel": 5})]
