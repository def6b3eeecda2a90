#!/usr/bin/env python3
"""RFC 9220 WebSocket client on aioquic (QUIC and HTTP/3) and wsproto,
independent of wsx: many WebSockets over one HTTP/3 connection.

    h3_ws_client.py --url wss://HOST:PORT/PATH (--ca FILE | --insecure) [options]

The client connects with ALPN h3, waits for the server's SETTINGS and
requires SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, then opens --sockets N
extended CONNECTs (`:method CONNECT`, `:protocol websocket`, `:scheme
https`, `:authority`, `:path`, `sec-websocket-version: 13`, and
`sec-websocket-protocol` / `sec-websocket-extensions` with --subprotocol /
--deflate), each on its own request stream, all at once. On each socket:

    1. a text message (non-ASCII included)
    2. a binary message of --size bytes (default 100000)
    3. a text message sent as 3 fragments
    4. a ping, whose pong must carry the same payload
    5. a Close with --close-code/--close-reason (or, with --server-close
       CODE REASON, the text "close CODE REASON", after which the server
       must close with that code), then the stream's FIN

--no-echo skips steps 1-4 (for a server that does not echo).

Every echo must equal what was sent (type, length, SHA-256); the Close must
come back with the expected code, and the server must end its side of the
stream with a FIN (not a reset) after the close handshake.

Every line on stdout is one JSON object, flushed at once:

    {"connected": {"alpn": "h3"}}
    {"settings": {...the server's SETTINGS, by name...}}
    {"stream": S, "socket": I, "response": {"status": 200, "headers": {...}}}
    {"stream": S, "sent"|"received": {"kind": "text"|"binary", "len": N, "sha256": HEX}}
    {"stream": S, "pong": {"len": N, "ok": true}}
    {"stream": S, "closed": {"code": C, "reason": R, "sent": {...}, "fin": true, "reset": null|CODE}}
    {"stream": S, "ok": true} or {"stream": S, "error": "..."}
    {"summary": {"sockets": N, "ok": K, "failed": F}}

Exit status 0 only if every socket did everything right; 1 otherwise; 2 on
usage errors. Every wait has a deadline (--timeout seconds, default 10).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import ssl
import sys
import time
import urllib.parse

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection, Setting
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, StreamReset
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.handshake import client_extensions_handshake


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


class Failure(Exception):
    pass


class StreamState:
    def __init__(self) -> None:
        self.response: asyncio.Future = asyncio.get_running_loop().create_future()
        self.data: asyncio.Queue = asyncio.Queue()
        self.fin = False
        self.reset: int | None = None


class H3Client(QuicConnectionProtocol):
    """aioquic's QUIC connection with its H3Connection; events by stream."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.streams: dict[int, StreamState] = {}
        self.terminated: ConnectionTerminated | None = None
        self.settings_seen = asyncio.Event()

    def quic_event_received(self, event) -> None:
        if isinstance(event, StreamReset):
            state = self.streams.get(event.stream_id)
            if state:
                state.reset = event.error_code
                if not state.response.done():
                    state.response.set_exception(Failure(f"stream reset before the response: {event.error_code:#x}"))
                state.data.put_nowait(None)
        if isinstance(event, ConnectionTerminated):
            self.terminated = event
            emit({"connection_closed": {"error_code": event.error_code, "reason": event.reason_phrase}})
            for state in self.streams.values():
                if not state.response.done():
                    state.response.set_exception(Failure("connection closed before the response"))
                state.data.put_nowait(None)
            self.settings_seen.set()
        for h3_event in self.h3.handle_event(event):
            self.h3_event(h3_event)
        if self.h3.received_settings is not None:
            self.settings_seen.set()

    def h3_event(self, event) -> None:
        state = self.streams.get(event.stream_id) if hasattr(event, "stream_id") else None
        if state is None:
            return
        if isinstance(event, HeadersReceived):
            if not state.response.done():
                state.response.set_result(event.headers)
        elif isinstance(event, DataReceived):
            if event.data:
                state.data.put_nowait(event.data)
        if getattr(event, "stream_ended", False):
            state.fin = True
            state.data.put_nowait(None)

    def open_stream(self, headers: list[tuple[bytes, bytes]]) -> tuple[int, StreamState]:
        sid = self._quic.get_next_available_stream_id()
        state = StreamState()
        self.streams[sid] = state
        self.h3.send_headers(sid, headers)
        self.transmit()
        return sid, state

    def send(self, sid: int, data: bytes, end_stream: bool = False) -> None:
        if self.terminated is not None:
            raise Failure("connection closed")
        self.h3.send_data(sid, data, end_stream)
        self.transmit()


def describe(kind: str, data: bytes) -> dict:
    return {"kind": kind, "len": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def payload(seed: int, size: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


class Socket:
    """One WebSocket (wsproto, client side, no handshake) on one request stream."""

    def __init__(self, client: H3Client, sid: int, state: StreamState, ws: Connection, timeout: float) -> None:
        self.client, self.sid, self.state, self.ws, self.timeout = client, sid, state, ws, timeout
        self.events: list = []

    def send(self, event, end_stream: bool = False) -> None:
        self.client.send(self.sid, self.ws.send(event), end_stream)

    async def next_event(self):
        deadline = time.monotonic() + self.timeout
        while not self.events:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Failure("timed out waiting for the server")
            try:
                data = await asyncio.wait_for(self.state.data.get(), remaining)
            except asyncio.TimeoutError:
                raise Failure("timed out waiting for the server") from None
            if data is None:
                self.state.data.put_nowait(None)
                if self.state.reset is not None:
                    raise Failure(f"stream reset by the server: {self.state.reset:#x}")
                raise Failure("the server ended the stream")
            self.ws.receive_data(data)
            self.events.extend(self.ws.events())
        return self.events.pop(0)

    async def receive_message(self) -> tuple[str, bytes]:
        parts: list = []
        kind = None
        while True:
            event = await self.next_event()
            if isinstance(event, TextMessage):
                kind = "text"
                parts.append(event.data.encode("utf-8"))
            elif isinstance(event, BytesMessage):
                kind = "binary"
                parts.append(bytes(event.data))
            elif isinstance(event, Ping):
                self.send(event.response())
                continue
            elif isinstance(event, CloseConnection):
                raise Failure(f"the server closed instead of echoing: {event.code} {event.reason!r}")
            else:
                raise Failure(f"unexpected event {event!r}")
            if event.message_finished:
                return kind, b"".join(parts)

    async def echo(self, kind: str, data: bytes, fragments: int = 1) -> None:
        if kind == "text":
            text = data.decode("utf-8")
            step = max(1, -(-len(text) // fragments))
            texts = [text[i:i + step] for i in range(0, len(text), step)] or [""]
            for n, part in enumerate(texts):
                self.send(TextMessage(data=part, message_finished=n == len(texts) - 1))
        else:
            step = max(1, -(-len(data) // fragments))
            chunks = [data[i:i + step] for i in range(0, len(data), step)] or [b""]
            for n, part in enumerate(chunks):
                self.send(BytesMessage(data=part, message_finished=n == len(chunks) - 1))
        sent = describe(kind, data)
        emit({"stream": self.sid, "sent": {**sent, "fragments": fragments}})
        got_kind, got = await self.receive_message()
        received = describe(got_kind, got)
        emit({"stream": self.sid, "received": received})
        if received != sent:
            raise Failure(f"echo mismatch: sent {sent}, received {received}")

    async def ping(self, data: bytes) -> None:
        self.send(Ping(payload=data))
        while True:
            event = await self.next_event()
            if isinstance(event, Pong):
                ok = bytes(event.payload) == data
                emit({"stream": self.sid, "pong": {"len": len(event.payload), "ok": ok}})
                if not ok:
                    raise Failure("pong payload differs from the ping's")
                return
            if isinstance(event, Ping):
                self.send(event.response())
                continue
            raise Failure(f"expected a pong, got {event!r}")

    async def close(self, code: int, reason: str, server_close: tuple[int, str] | None) -> None:
        # RFC 9220 §3 (RFC 8441 §5): the close handshake, then the stream's
        # FIN; nothing follows our Close frame, so the FIN rides with it.
        sent = None
        if server_close:
            self.send(TextMessage(data=f"close {server_close[0]} {server_close[1]}"))
        else:
            self.send(CloseConnection(code=code, reason=reason), end_stream=True)
            sent = {"code": code, "reason": reason}
        event = await self.next_event()
        while isinstance(event, (Ping, Pong)):
            if isinstance(event, Ping):
                self.send(event.response())
            event = await self.next_event()
        if not isinstance(event, CloseConnection):
            raise Failure(f"expected a Close, got {event!r}")
        if server_close:
            sent = {"code": event.code, "reason": event.reason}
            self.send(event.response(), end_stream=True)
        deadline = time.monotonic() + self.timeout
        while not self.state.fin and self.state.reset is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                data = await asyncio.wait_for(self.state.data.get(), remaining)
            except asyncio.TimeoutError:
                break
            if data:
                raise Failure(f"{len(data)} bytes after the Close")
            if data is None:
                self.state.data.put_nowait(None)
                break
        emit({"stream": self.sid, "closed": {
            "code": event.code, "reason": event.reason, "sent": sent, "fin": self.state.fin,
            "reset": self.state.reset}})
        expected = server_close[0] if server_close else code
        if event.code != expected:
            raise Failure(f"close code {event.code}, expected {expected}")
        if self.state.reset is not None:
            raise Failure(f"the server reset the stream ({self.state.reset:#x}) instead of ending it")
        if not self.state.fin:
            raise Failure("the server did not end the stream (FIN) after the close handshake")


def websocket_headers(url: urllib.parse.SplitResult, args: argparse.Namespace, offer: str | None):
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    headers = [
        (b":method", b"CONNECT"),
        (b":protocol", b"websocket"),
        (b":scheme", b"https"),
        (b":authority", url.netloc.encode()),
        (b":path", path.encode()),
        (b"sec-websocket-version", b"13"),
    ]
    if args.subprotocol:
        headers.append((b"sec-websocket-protocol", ", ".join(args.subprotocol).encode()))
    if offer:
        headers.append((b"sec-websocket-extensions", offer.encode()))
    return headers


async def run_socket(client: H3Client, url, args: argparse.Namespace, index: int) -> bool:
    sid = None
    try:
        deflate = PerMessageDeflate() if args.deflate else None
        offer = deflate.offer() if deflate else None
        if isinstance(offer, bool):
            offer = "permessage-deflate"
        if offer and not offer.startswith("permessage-deflate"):
            offer = "permessage-deflate; " + offer
        sid, state = client.open_stream(websocket_headers(url, args, offer))
        headers = await asyncio.wait_for(asyncio.shield(state.response), args.timeout)
        status = int(dict(headers)[b":status"])
        fields: dict[str, str] = {}
        for name, value in headers:
            if not name.startswith(b":"):
                key = name.decode("latin-1")
                fields[key] = f"{fields[key]}, {value.decode('latin-1')}" if key in fields else value.decode("latin-1")
        emit({"stream": sid, "socket": index, "response": {"status": status, "headers": fields}})
        if not 200 <= status < 300:
            raise Failure(f"the server refused the WebSocket with {status}")
        extensions = []
        if "sec-websocket-extensions" in fields:
            if not deflate:
                raise Failure("the server accepted an extension that was not offered")
            extensions = [deflate]
            client_extensions_handshake([e.strip() for e in fields["sec-websocket-extensions"].split(",")],
                                        extensions)
        ws = Connection(ConnectionType.CLIENT, extensions=extensions)
        sock = Socket(client, sid, state, ws, args.timeout)
        if not args.no_echo:
            await sock.echo("text", f"héllo from socket {index} 😀 over stream {sid}".encode())
            await sock.echo("binary", payload(index, args.size))
            await sock.echo("text", ("fragmented ✓ " * 100).encode(), fragments=3)
            await sock.ping(f"ping {index}".encode())
        await sock.close(args.close_code, args.close_reason,
                         (int(args.server_close[0]), args.server_close[1]) if args.server_close else None)
        emit({"stream": sid, "ok": True})
        return True
    except (Failure, asyncio.TimeoutError, ConnectionError) as err:
        emit({"stream": sid, "socket": index, "error": str(err) or type(err).__name__})
        return False


async def scripted(args: argparse.Namespace) -> int:
    url = urllib.parse.urlsplit(args.url)
    if url.scheme != "wss" or not url.hostname or not url.port:
        print("--url must be wss://HOST:PORT/PATH (HTTP/3 is always TLS)", file=sys.stderr)
        return 2
    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, idle_timeout=args.timeout * 3)
    config.server_name = url.hostname
    if args.insecure:
        config.verify_mode = ssl.CERT_NONE
    elif args.ca:
        config.load_verify_locations(args.ca)
    results: list[bool] = []
    try:
        async with connect(url.hostname, url.port, configuration=config, create_protocol=H3Client) as client:
            emit({"connected": {"alpn": client._quic.tls.alpn_negotiated}})
            await asyncio.wait_for(client.settings_seen.wait(), args.timeout)
            settings = client.h3.received_settings or {}
            names = {int(s): s.name for s in Setting}
            emit({"settings": {names.get(k, hex(k)): v for k, v in settings.items()}})
            if settings.get(Setting.ENABLE_CONNECT_PROTOCOL) != 1:
                raise Failure("the server does not enable the extended CONNECT")
            results = await asyncio.gather(*(run_socket(client, url, args, i) for i in range(args.sockets)))
            client.close()
    except (Failure, asyncio.TimeoutError, ConnectionError, OSError) as err:
        emit({"error": f"{type(err).__name__}: {err}"})
    ok = sum(1 for r in results if r)
    emit({"summary": {"sockets": args.sockets, "ok": ok, "failed": args.sockets - ok}})
    return 0 if results and all(results) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="wss://HOST:PORT/PATH")
    parser.add_argument("--ca", help="PEM file of the CA to trust")
    parser.add_argument("--insecure", action="store_true", help="do not verify the server's certificate")
    parser.add_argument("--sockets", type=int, default=1, help="WebSockets on the one connection")
    parser.add_argument("--size", type=int, default=100_000, help="binary message size")
    parser.add_argument("--subprotocol", action="append", default=[], help="offer this subprotocol")
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    parser.add_argument("--close-code", type=int, default=1000)
    parser.add_argument("--close-reason", default="bye")
    parser.add_argument("--server-close", nargs=2, metavar=("CODE", "REASON"),
                        help='ask the server to close with CODE REASON (text "close CODE REASON")')
    parser.add_argument("--no-echo", action="store_true", help="skip steps 1-4: only the close")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds allowed for each wait")
    args = parser.parse_args()
    if args.sockets < 1:
        parser.error("--sockets must be at least 1")
    return asyncio.run(scripted(args))


if __name__ == "__main__":
    sys.exit(main())
