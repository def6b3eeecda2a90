#!/usr/bin/env python3
"""wss:// peers on Python `websockets` (asyncio) and the `ssl` module, for wsx's TLS interop tests.

    tls_peer.py server --cert CHAIN.pem --key KEY.pem [--subprotocol NAME ...]
        listens on 127.0.0.1 (a free port), prints {"port": P}, then echoes every
        message until killed.
    tls_peer.py client --url wss://localhost:P/echo --ca CA.pem [--subprotocol NAME ...]
                       [--origin ORIGIN] [--timeout SECONDS]
        sends "hello over TLS", waits for the echo, closes, and prints
        {"echo": TEXT, "subprotocol": NAME|null, "alpn": PROTO|null};
        a refused handshake prints {"status": CODE}; a TLS failure {"tls_error": TEXT}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import InvalidStatus


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


async def run_server(args: argparse.Namespace) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    context.set_alpn_protocols(["http/1.1"])

    async def echo(ws) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0, ssl=context, subprotocols=args.subprotocol or None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        emit({"port": port})
        await asyncio.Future()


async def run_client(args: argparse.Namespace) -> None:
    context = ssl.create_default_context(cafile=args.ca)
    context.set_alpn_protocols(["http/1.1"])
    try:
        async with asyncio.timeout(args.timeout):
            async with connect(
                args.url, ssl=context, subprotocols=args.subprotocol or None, origin=args.origin
            ) as ws:
                await ws.send("hello over TLS")
                echo = await ws.recv()
                alpn = ws.transport.get_extra_info("ssl_object").selected_alpn_protocol()
                emit({"echo": echo, "subprotocol": ws.subprotocol, "alpn": alpn})
    except InvalidStatus as error:
        emit({"status": error.response.status_code})
    except ssl.SSLError as error:
        emit({"tls_error": str(error)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="role", required=True)
    server = sub.add_parser("server")
    server.add_argument("--cert", required=True)
    server.add_argument("--key", required=True)
    server.add_argument("--subprotocol", action="append")
    client = sub.add_parser("client")
    client.add_argument("--url", required=True)
    client.add_argument("--ca", required=True)
    client.add_argument("--subprotocol", action="append")
    client.add_argument("--origin")
    client.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args()
    asyncio.run(run_server(args) if args.role == "server" else run_client(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
