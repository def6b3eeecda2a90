#!/usr/bin/env python3
"""Echo server on Python `websockets` (asyncio), the peer for wsx's interop tests.

    ws_echo_server.py --port P [--host H] [--once]
                      [--close-after-first CODE REASON] [--max-fragments N]

Every line on stdout is one JSON object, flushed at once:

    {"listening": PORT}                                   once, when ready (--port 0 picks one)
    {"kind": "text"|"binary", "len": N, "sha256": HEX}    per message received, before its echo;
                                                          len and sha256 are over the payload
                                                          bytes (UTF-8 for text)
    {"closed": {"code": C, "reason": R, "sent": {"code": C2, "reason": R2} | null,
                "initiator": "client"|"server"|null}}     per connection, when it is closed

"code"/"reason" are what the client's Close frame said (1005 for an empty one,
1006 if none arrived: `ws.close_code`, `ws.close_reason`); "sent" is our own
Close frame; "initiator" is who sent the first Close frame.

Every message is echoed with its own type and exact payload. Pings are answered
by `websockets`. With --close-after-first CODE REASON, a text message
"please close" is not echoed: the server starts the closing handshake with
CODE and REASON instead. With --once the server exits after its first
connection closes. Compression is off unless --deflate is given, and then
each connection first prints {"extensions": "<Sec-WebSocket-Extensions of the
101, or null>"}; message size is unbounded; up to
--max-fragments frames (default 1 Mi) are accepted per message.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def describe(message: str | bytes) -> dict:
    if isinstance(message, str):
        kind, payload = "text", message.encode("utf-8")
    else:
        kind, payload = "binary", bytes(message)
    return {"kind": kind, "len": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--close-after-first", nargs=2, metavar=("CODE", "REASON"),
                        help='close with CODE and REASON on receiving the text "please close"')
    parser.add_argument("--once", action="store_true", help="exit after the first connection")
    parser.add_argument("--deflate", metavar="OPTIONS",
                        help="accept permessage-deflate with these RFC 7692 parameters "
                             "(comma-separated, '' for the defaults; see deflate_options.py)")
    parser.add_argument("--max-fragments", type=int, default=1 << 20,
                        help="frames allowed per message (websockets' own default is 4096)")
    args = parser.parse_args()
    if args.close_after_first:
        code, reason = args.close_after_first
        args.close_after_first = (int(code), reason)
    return args


async def main(args: argparse.Namespace) -> None:
    # websockets reads this limit when it is imported.
    os.environ["WEBSOCKETS_MAX_FRAGMENTS"] = str(args.max_fragments)
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed

    done = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        if args.deflate is not None:
            emit({"extensions": ws.response.headers.get("Sec-WebSocket-Extensions")})
        try:
            async for message in ws:
                emit(describe(message))
                if args.close_after_first and message == "please close":
                    await ws.close(*args.close_after_first)
                    break
                await ws.send(message)
        except ConnectionClosed:
            pass
        await ws.wait_closed()
        protocol = ws.protocol
        sent = protocol.close_sent
        initiator = None
        if protocol.close_rcvd_then_sent is not None:
            initiator = "client" if protocol.close_rcvd_then_sent else "server"
        elif sent is not None:
            initiator = "server"
        elif protocol.close_rcvd is not None:
            initiator = "client"
        emit({"closed": {
            "code": ws.close_code,
            "reason": ws.close_reason,
            "sent": None if sent is None else {"code": sent.code, "reason": sent.reason},
            "initiator": initiator,
        }})
        if args.once:
            done.set()

    from deflate_options import server_extensions

    async with serve(handler, args.host, args.port, compression=None, max_size=None,
                     extensions=server_extensions(args.deflate),
                     ping_interval=None, close_timeout=10) as server:
        port = server.sockets[0].getsockname()[1]
        emit({"listening": port})
        await done.wait()


if __name__ == "__main__":
    try:
        asyncio.run(main(parse_args()))
    except KeyboardInterrupt:
        sys.exit(130)
