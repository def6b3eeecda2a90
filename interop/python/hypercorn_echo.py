#!/usr/bin/env python3
"""ASGI WebSocket echo served by `hypercorn`, an HTTP/2 server independent of
wsx that accepts WebSockets over HTTP/2 (RFC 8441 extended CONNECT) and over
HTTP/1.1: the peer for wsx's HTTP/2 client and for the Autobahn bridge.

    hypercorn_echo.py --port P [--host H] [--cert FILE --key FILE]
                      [--subprotocol NAME ...] [--max-message-size BYTES]

With --cert/--key: TLS, ALPN `h2` and `http/1.1`. Without: cleartext, where
hypercorn takes HTTP/2 with prior knowledge (h2c) or HTTP/1.1 on the same port.
hypercorn always sends SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 and accepts
permessage-deflate when offered.

Every line on stdout is one JSON object, flushed at once:

    {"listening": PORT}                                   once, when ready (--port 0 picks one)
    {"connection": N, "http_version": "1.1"|"2", "path": P,
     "subprotocols": [...], "subprotocol": S|null}        per WebSocket, when accepted
    {"connection": N, "kind": "text"|"binary", "len": L,
     "sha256": HEX}                                       per message received, before its echo
    {"connection": N, "closed": {"code": C, "reason": R, "sent": {"code": C2, "reason": R2}|null,
                                 "http_version": V}}     per WebSocket, when it ends

Every message is echoed with its own type and payload. A text message
"close CODE REASON" is not echoed: the server closes with CODE and REASON.
The first offered subprotocol that is among --subprotocol is accepted. A
WebSocket request for a path starting with /refuse is refused (hypercorn
answers 403) and printed as {"connection": N, "http_version": V, "refused": 403}.

"code"/"reason" are what ASGI's `websocket.disconnect` said. hypercorn 0.18
does not pass the peer's Close code on: when the client closes first the app
sees 1006 (its stream-closed path), when the server closed first it sees 1000;
"sent" is the Close the app asked for. Exits on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import signal
import socket
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def make_app(accepted_subprotocols: list[str]):
    counter = itertools.count(1)

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "http":
            body = b"a WebSocket echo: connect with an upgrade or an extended CONNECT\n"
            await send({"type": "http.response.start", "status": 426,
                        "headers": [(b"content-type", b"text/plain"), (b"upgrade", b"websocket")]})
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] != "websocket":
            return
        n = next(counter)
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if scope.get("path", "").startswith("/refuse"):
            await send({"type": "websocket.close", "code": 1000})  # before accept: hypercorn answers 403
            emit({"connection": n, "http_version": scope.get("http_version"), "refused": 403})
            return
        offered = list(scope.get("subprotocols") or [])
        chosen = next((p for p in offered if p in accepted_subprotocols), None)
        await send({"type": "websocket.accept", "subprotocol": chosen})
        emit({"connection": n, "http_version": scope.get("http_version"), "path": scope.get("path"),
              "subprotocols": offered, "subprotocol": chosen})
        sent = None
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                emit({"connection": n, "closed": {"code": message.get("code"), "reason": message.get("reason"),
                                                  "sent": sent, "http_version": scope.get("http_version")}})
                return
            if message["type"] != "websocket.receive":
                continue
            text, data = message.get("text"), message.get("bytes")
            if text is not None:
                kind, payload = "text", text.encode("utf-8")
            else:
                kind, payload = "binary", bytes(data or b"")
            emit({"connection": n, "kind": kind, "len": len(payload),
                  "sha256": hashlib.sha256(payload).hexdigest()})
            if text is not None and text.startswith("close ") and sent is None:
                parts = text.split(" ", 2)
                try:
                    code = int(parts[1])
                except (IndexError, ValueError):
                    code = 1000
                reason = parts[2] if len(parts) > 2 else ""
                sent = {"code": code, "reason": reason}
                await send({"type": "websocket.close", "code": code, "reason": reason})
                continue
            if sent is not None:
                continue
            if text is not None:
                await send({"type": "websocket.send", "text": text})
            else:
                await send({"type": "websocket.send", "bytes": payload})

    return app


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--cert", help="PEM certificate chain (TLS with ALPN h2, http/1.1)")
    parser.add_argument("--key", help="PEM private key")
    parser.add_argument("--subprotocol", action="append", default=[], help="a subprotocol to accept")
    parser.add_argument("--max-message-size", type=int, default=64 * 1024 * 1024)
    args = parser.parse_args()
    if bool(args.cert) != bool(args.key):
        parser.error("--cert and --key go together")

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)

    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    config.errorlog = "-"  # stderr
    config.websocket_max_message_size = args.max_message_size
    config.h2_max_concurrent_streams = 100
    if args.cert:
        config.certfile, config.keyfile = args.cert, args.key
        config.alpn_protocols = ["h2", "http/1.1"]

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    emit({"listening": sock.getsockname()[1]})
    await serve(make_app(args.subprotocol), config, shutdown_trigger=stop.wait)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    sys.exit(0)
