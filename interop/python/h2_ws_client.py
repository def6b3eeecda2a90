#!/usr/bin/env python3
"""RFC 8441 WebSocket client on Python `h2` and `wsproto`, independent of wsx:
many WebSockets over one HTTP/2 connection, and hostile HTTP/2 probes.

    h2_ws_client.py --url wss://HOST:PORT/PATH (--ca FILE | --insecure) [options]
    h2_ws_client.py --url ws://HOST:PORT/PATH --h2c [options]
    h2_ws_client.py --url ... --probe NAME [--probe NAME ...] [--report-only]

Transport: `wss://` is TLS with ALPN `h2` (the server must pick h2), `ws://`
with --h2c is cleartext HTTP/2 with prior knowledge. The client waits for the
server's first SETTINGS and requires SETTINGS_ENABLE_CONNECT_PROTOCOL = 1.

Scripted mode (default): --sockets N extended CONNECTs (`:method CONNECT`,
`:protocol websocket`, `:scheme`, `:authority`, `:path`,
`sec-websocket-version: 13`, and `sec-websocket-protocol` /
`sec-websocket-extensions` when --subprotocol / --deflate are given), each on
its own stream of the one connection, all at once. On each socket:

    1. a text message (non-ASCII included)
    2. a binary message of --size bytes (default 100000: more than the
       default 65535-byte stream window, so flow control is exercised)
    3. a text message sent as 3 fragments
    4. a ping, whose pong must carry the same payload
    5. a Close with --close-code/--close-reason (or, with --server-close
       CODE REASON, the text "close CODE REASON", after which the server must
       close with that code), then END_STREAM

Every echo must equal what was sent (type, length, SHA-256); the Close must
come back with the same code; our Close frame carries END_STREAM, and the
server must end its side of the stream (END_STREAM, not RST_STREAM) after the
close handshake; --allow-open-stream tolerates a server that leaves it open
(the client then resets it with CANCEL; hypercorn 0.18 does that when the
client closes first). --deflate offers permessage-deflate (wsproto's
PerMessageDeflate) and uses it if the server accepts.

Every line on stdout is one JSON object, flushed at once:

    {"connected": {"transport": "tls"|"h2c", "alpn": A}}
    {"settings": {...the server's SETTINGS...}}
    {"stream": S, "socket": I, "response": {"status": 200, "headers": {...}}}
    {"stream": S, "sent"|"received": {"kind": "text"|"binary", "len": N, "sha256": HEX}}
    {"stream": S, "pong": {"len": N, "ok": true}}
    {"stream": S, "closed": {"code": C, "reason": R, "sent": {"code": C, "reason": R},
                             "end_stream": true, "reset": null|ERROR}}
    {"stream": S, "ok": true} or {"stream": S, "error": "..."}
    {"summary": {"sockets": N, "ok": K, "failed": F}}

Exit status 0 only if every socket did everything right; 1 otherwise; 2 on
usage errors. Every wait has a deadline (--timeout seconds, default 10).

Probe mode (--probe NAME, repeatable; `--probe all` runs every one), each on
a fresh connection with frames built by hand (hyperframe + hpack), so that
requests h2 itself refuses to send can be sent:

    connect-no-protocol  CONNECT with :scheme/:path/:authority, no :protocol
                         (malformed, RFC 9113 §8.5): must not get a 2xx
    plain-connect        CONNECT with only :authority (RFC 9113 §8.5), not a
                         WebSocket: must not get a 2xx
    protocol-on-get      GET with :protocol websocket (RFC 8441 §4: malformed):
                         must not get a 2xx
    unknown-protocol     CONNECT with :protocol foo: must not get a 2xx
    protocol-before-settings  the extended CONNECT sent before the server's
                         SETTINGS arrived (RFC 8441 §3 forbids it; the server's
                         answer is reported, any answer but a hang passes)
    rst-mid-message      RST_STREAM(CANCEL) in the middle of a frame; then a
                         new WebSocket on the same connection must still echo
    data-after-end-stream  DATA on a stream after END_STREAM (RFC 9113 §5.1:
                         STREAM_CLOSED): must get RST_STREAM or GOAWAY
    many-streams         --streams extended CONNECTs at once (default 200):
                         those within SETTINGS_MAX_CONCURRENT_STREAMS must get
                         200, those past it RST_STREAM (RFC 9113 §5.1.2: a
                         stream error), and no GOAWAY
    no-window-update     initial window --window bytes (default 16), no
                         WINDOW_UPDATE ever; a 1000-byte message to echo: the
                         server must send at most the window and stay
                         responsive (HTTP/2 PING answered)

Each probe prints {"probe": NAME, "answers": [...], "verdict": "pass"|"fail",
"why": "..."}; answers are what came back (HEADERS status per stream,
RST_STREAM codes, GOAWAY code and debug data, DATA byte counts). Exit status
1 if any probe fails, unless --report-only.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import ssl
import struct
import sys
import time
import urllib.parse

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack
import hyperframe.frame as hf
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.handshake import client_extensions_handshake

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def describe(kind: str, payload: bytes) -> dict:
    return {"kind": kind, "len": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}


def error_name(code: int) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"0x{code:x}"


class Failure(Exception):
    """A check that failed; its message is reported."""


# --- the connection ----------------------------------------------------------


class Target:
    def __init__(self, args: argparse.Namespace) -> None:
        url = urllib.parse.urlsplit(args.url)
        if url.scheme not in ("ws", "wss"):
            raise SystemExit("h2_ws_client: --url must be ws:// or wss://")
        self.secure = url.scheme == "wss"
        if self.secure == args.h2c:
            raise SystemExit("h2_ws_client: use wss:// with TLS, or ws:// with --h2c")
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or (443 if self.secure else 80)
        self.scheme = b"https" if self.secure else b"http"
        default_port = 443 if self.secure else 80
        self.authority = (url.netloc.rsplit("@", 1)[-1]).encode()
        if url.port == default_port:
            self.authority = self.host.encode()
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        self.path = path.encode()
        self.ssl: ssl.SSLContext | None = None
        if self.secure:
            ctx = ssl.create_default_context(cafile=args.ca)
            if args.insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            self.ssl = ctx

    async def open(self, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str | None]:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, ssl=self.ssl,
                                    server_hostname=self.host if self.ssl else None),
            timeout)
        alpn = None
        if self.ssl is not None:
            alpn = writer.get_extra_info("ssl_object").selected_alpn_protocol()
            if alpn != "h2":
                writer.close()
                raise Failure(f"the server chose ALPN {alpn!r}, not 'h2'")
        return reader, writer, alpn

    def websocket_headers(self, args: argparse.Namespace, offer: str | None) -> list[tuple[bytes, bytes]]:
        headers = [
            (b":method", b"CONNECT"),
            (b":protocol", b"websocket"),
            (b":scheme", self.scheme),
            (b":authority", self.authority),
            (b":path", self.path),
            (b"sec-websocket-version", b"13"),
        ]
        if args.subprotocol:
            headers.append((b"sec-websocket-protocol", ", ".join(args.subprotocol).encode()))
        if offer:
            headers.append((b"sec-websocket-extensions", offer.encode()))
        if args.origin:
            headers.append((b"origin", args.origin.encode()))
        return headers


class StreamState:
    def __init__(self) -> None:
        self.response: asyncio.Future = asyncio.get_running_loop().create_future()
        self.data: asyncio.Queue = asyncio.Queue()  # bytes, or None at END_STREAM
        self.reset: int | None = None
        self.ended = False


class H2Client:
    """One HTTP/2 connection (python-hyper h2) shared by many WebSockets."""

    def __init__(self, reader, writer, timeout: float, window_updates: bool = True) -> None:
        self.reader, self.writer, self.timeout = reader, writer, timeout
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.streams: dict[int, StreamState] = {}
        self.window_changed = asyncio.Event()
        self.settings_seen: asyncio.Future = asyncio.get_running_loop().create_future()
        self.terminated: h2.events.ConnectionTerminated | None = None
        self.closed = asyncio.Event()
        self.window_updates = window_updates
        self.pump_task: asyncio.Task | None = None

    async def start(self) -> dict:
        self.conn.initiate_connection()
        await self.flush()
        self.pump_task = asyncio.create_task(self.pump())
        await asyncio.wait_for(asyncio.shield(self.settings_seen), self.timeout)
        s = self.conn.remote_settings
        return {
            "enable_connect_protocol": s.enable_connect_protocol,
            "max_concurrent_streams": s.max_concurrent_streams,
            "initial_window_size": s.initial_window_size,
            "max_frame_size": s.max_frame_size,
            "max_header_list_size": s.max_header_list_size,
        }

    async def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.writer.write(data)
            await asyncio.wait_for(self.writer.drain(), self.timeout)

    async def pump(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                for event in self.conn.receive_data(data):
                    self.handle(event)
                await self.flush()
        except (ConnectionError, h2.exceptions.ProtocolError, asyncio.TimeoutError) as err:
            emit({"connection_error": f"{type(err).__name__}: {err}"})
        finally:
            self.closed.set()
            if not self.settings_seen.done():
                self.settings_seen.set_exception(Failure("connection closed before the server's SETTINGS"))
            for state in self.streams.values():
                if not state.response.done():
                    state.response.set_exception(Failure("connection closed before the response"))
                state.data.put_nowait(None)
            self.window_changed.set()

    def handle(self, event) -> None:
        if isinstance(event, h2.events.RemoteSettingsChanged):
            if not self.settings_seen.done():
                self.settings_seen.set_result(True)
            self.window_changed.set()
        elif isinstance(event, h2.events.ResponseReceived):
            state = self.streams.get(event.stream_id)
            if state and not state.response.done():
                state.response.set_result(event.headers)
            if state and event.stream_ended:
                state.ended = True
                state.data.put_nowait(None)
        elif isinstance(event, h2.events.DataReceived):
            if self.window_updates and event.flow_controlled_length:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            state = self.streams.get(event.stream_id)
            if state:
                state.data.put_nowait(event.data)
        elif isinstance(event, h2.events.StreamEnded):
            state = self.streams.get(event.stream_id)
            if state:
                state.ended = True
                state.data.put_nowait(None)
        elif isinstance(event, h2.events.StreamReset):
            state = self.streams.get(event.stream_id)
            if state:
                state.reset = event.error_code
                if not state.response.done():
                    state.response.set_exception(
                        Failure(f"stream reset before the response: {error_name(event.error_code)}"))
                state.data.put_nowait(None)
            self.window_changed.set()
        elif isinstance(event, h2.events.WindowUpdated):
            self.window_changed.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.terminated = event
            emit({"goaway": {"error": error_name(event.error_code),
                             "last_stream_id": event.last_stream_id,
                             "debug": (event.additional_data or b"").decode("utf-8", "replace")}})

    async def open_stream(self, headers: list[tuple[bytes, bytes]]) -> tuple[int, StreamState]:
        sid = self.conn.get_next_available_stream_id()
        state = StreamState()
        self.streams[sid] = state
        self.conn.send_headers(sid, headers)
        await self.flush()
        return sid, state

    async def send(self, sid: int, data: bytes, end_stream: bool = False) -> None:
        """Sends DATA, waiting for flow-control window (with a deadline)."""
        view = memoryview(data)
        deadline = time.monotonic() + self.timeout
        while view or end_stream:
            state = self.streams[sid]
            if state.reset is not None:
                raise Failure(f"stream reset by the server: {error_name(state.reset)}")
            if self.closed.is_set():
                raise Failure("connection closed")
            if not view:
                self.conn.end_stream(sid)
                await self.flush()
                return
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0:
                self.window_changed.clear()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Failure("no flow-control window from the server within the deadline")
                try:
                    await asyncio.wait_for(self.window_changed.wait(), remaining)
                except asyncio.TimeoutError:
                    raise Failure("no flow-control window from the server within the deadline") from None
                continue
            chunk, view = view[:window], view[window:]
            last = end_stream and not view
            self.conn.send_data(sid, bytes(chunk), end_stream=last)
            await self.flush()
            if last:
                return

    async def close(self) -> None:
        try:
            if not self.closed.is_set():
                self.conn.close_connection()
                await self.flush()
        except (ConnectionError, asyncio.TimeoutError, h2.exceptions.ProtocolError):
            pass
        self.writer.close()
        if self.pump_task:
            self.pump_task.cancel()
            try:
                await self.pump_task
            except (asyncio.CancelledError, Exception):
                pass


# --- the scripted exchange -------------------------------------------------------


def payload(seed: int, size: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


class Socket:
    """One WebSocket (wsproto, client side, no handshake) on one HTTP/2 stream."""

    def __init__(self, client: H2Client, sid: int, state: StreamState, ws: Connection, timeout: float) -> None:
        self.client, self.sid, self.state, self.ws, self.timeout = client, sid, state, ws, timeout
        self.events: list = []
        self.remote_close: CloseConnection | None = None

    async def send(self, event) -> None:
        await self.client.send(self.sid, self.ws.send(event))

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
                self.state.data.put_nowait(None)  # stays at the end
                if self.state.reset is not None:
                    raise Failure(f"stream reset by the server: {error_name(self.state.reset)}")
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
                await self.send(event.response())
                continue
            elif isinstance(event, Pong):
                raise Failure("unexpected pong")
            elif isinstance(event, CloseConnection):
                self.remote_close = event
                raise Failure(f"the server closed instead of echoing: {event.code} {event.reason!r}")
            else:
                raise Failure(f"unexpected event {event!r}")
            if event.message_finished:
                return kind, b"".join(parts)

    async def echo(self, kind: str, data: bytes, fragments: int = 1) -> None:
        step = max(1, -(-len(data) // fragments))
        chunks = [data[i:i + step] for i in range(0, len(data), step)] or [b""]
        if kind == "text":
            text = data.decode("utf-8")
            step = max(1, -(-len(text) // fragments))
            texts = [text[i:i + step] for i in range(0, len(text), step)] or [""]
            for n, part in enumerate(texts):
                await self.send(TextMessage(data=part, message_finished=n == len(texts) - 1))
        else:
            for n, part in enumerate(chunks):
                await self.send(BytesMessage(data=part, message_finished=n == len(chunks) - 1))
        sent = describe(kind, data)
        emit({"stream": self.sid, "sent": {**sent, "fragments": fragments}})
        got_kind, got = await self.receive_message()
        received = describe(got_kind, got)
        emit({"stream": self.sid, "received": received})
        if received != sent:
            raise Failure(f"echo mismatch: sent {sent}, received {received}")

    async def ping(self, data: bytes) -> None:
        await self.send(Ping(payload=data))
        while True:
            event = await self.next_event()
            if isinstance(event, Pong):
                ok = bytes(event.payload) == data
                emit({"stream": self.sid, "pong": {"len": len(event.payload), "ok": ok}})
                if not ok:
                    raise Failure("pong payload differs from the ping's")
                return
            if isinstance(event, Ping):
                await self.send(event.response())
                continue
            raise Failure(f"expected a pong, got {event!r}")

    async def close(self, code: int, reason: str, server_close: tuple[int, str] | None,
                    allow_open_stream: bool) -> None:
        # Closing is the WebSocket close handshake, then END_STREAM (RFC 8441
        # §5). Nothing may follow our Close frame, so END_STREAM rides on the
        # DATA frame that carries it.
        sent = None
        if server_close:
            await self.send(TextMessage(data=f"close {server_close[0]} {server_close[1]}"))
        else:
            await self.client.send(self.sid, self.ws.send(CloseConnection(code=code, reason=reason)),
                                   end_stream=True)
            sent = {"code": code, "reason": reason}
        event = await self.next_event()
        while isinstance(event, (Ping, Pong)):
            if isinstance(event, Ping):
                await self.send(event.response())
            event = await self.next_event()
        if not isinstance(event, CloseConnection):
            raise Failure(f"expected a Close, got {event!r}")
        if server_close:
            # Our answer echoes the server's code.
            sent = {"code": event.code, "reason": event.reason}
            await self.client.send(self.sid, self.ws.send(event.response()), end_stream=True)
        # The server must end its side of the stream (END_STREAM, not a reset).
        wait = min(1.0, self.timeout) if allow_open_stream else self.timeout
        deadline = time.monotonic() + wait
        while not self.state.ended and self.state.reset is None:
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
        left_open = not self.state.ended and self.state.reset is None
        emit({"stream": self.sid, "closed": {
            "code": event.code, "reason": event.reason, "sent": sent,
            "end_stream": self.state.ended,
            "reset": None if self.state.reset is None else error_name(self.state.reset)}})
        if left_open and allow_open_stream:
            # Tolerated (--allow-open-stream): free the stream on both sides.
            self.client.conn.reset_stream(self.sid, h2.errors.ErrorCodes.CANCEL)
            await self.client.flush()
        expected = server_close[0] if server_close else code
        if event.code != expected:
            raise Failure(f"close code {event.code}, expected {expected}")
        if self.state.reset is not None:
            raise Failure(f"the server reset the stream ({error_name(self.state.reset)}) instead of ending it")
        if left_open and not allow_open_stream:
            raise Failure("the server did not end the stream (END_STREAM) after the close handshake")


async def run_socket(client: H2Client, target: Target, args: argparse.Namespace, index: int) -> bool:
    sid = None
    try:
        deflate = PerMessageDeflate() if args.deflate else None
        offer = deflate.offer() if deflate else None
        if isinstance(offer, bool):
            offer = "permessage-deflate"
        if offer and not offer.startswith("permessage-deflate"):
            offer = "permessage-deflate; " + offer
        sid, state = await client.open_stream(target.websocket_headers(args, offer))
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
        if args.subprotocol and fields.get("sec-websocket-protocol") not in [None, *args.subprotocol]:
            raise Failure(f"subprotocol {fields['sec-websocket-protocol']!r} was not offered")
        extensions = []
        if "sec-websocket-extensions" in fields:
            if not deflate:
                raise Failure("the server accepted an extension that was not offered")
            extensions = [deflate]
            client_extensions_handshake([e.strip() for e in fields["sec-websocket-extensions"].split(",")],
                                        extensions)
        ws = Connection(ConnectionType.CLIENT, extensions=extensions)
        sock = Socket(client, sid, state, ws, args.timeout)
        await sock.echo("text", f"héllo from socket {index} 😀 over stream {sid}".encode())
        await sock.echo("binary", payload(index, args.size))
        await sock.echo("text", ("fragmented ✓ " * 100).encode(), fragments=3)
        await sock.ping(f"ping {index}".encode())
        await sock.close(args.close_code, args.close_reason,
                         (int(args.server_close[0]), args.server_close[1]) if args.server_close else None,
                         args.allow_open_stream)
        emit({"stream": sid, "ok": True})
        return True
    except (Failure, asyncio.TimeoutError, ConnectionError, h2.exceptions.H2Error) as err:
        message = str(err) or type(err).__name__
        emit({"stream": sid, "socket": index, "error": message})
        return False


async def scripted(args: argparse.Namespace) -> int:
    target = Target(args)
    try:
        reader, writer, alpn = await target.open(args.timeout)
    except (OSError, asyncio.TimeoutError, Failure) as err:
        emit({"error": f"cannot connect: {err or type(err).__name__}"})
        return 1
    emit({"connected": {"transport": "tls" if target.secure else "h2c", "alpn": alpn}})
    client = H2Client(reader, writer, args.timeout)
    try:
        try:
            settings = await client.start()
        except (Failure, asyncio.TimeoutError) as err:
            emit({"error": f"no SETTINGS from the server: {err or 'timed out'}"})
            return 1
        emit({"settings": settings})
        if settings["enable_connect_protocol"] != 1:
            emit({"error": "the server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL = 1"})
            return 1
        results = await asyncio.gather(*(run_socket(client, target, args, i) for i in range(args.sockets)))
    finally:
        await client.close()
    ok = sum(results)
    emit({"summary": {"sockets": args.sockets, "ok": ok, "failed": args.sockets - ok}})
    return 0 if ok == args.sockets else 1


# --- probes: frames built by hand ------------------------------------------------


class RawH2:
    """A minimal HTTP/2 client endpoint for probes: hyperframe frames, hpack
    headers, no validation of what it sends."""

    def __init__(self, reader, writer, timeout: float, window: int | None = None,
                 window_updates: bool = True) -> None:
        self.reader, self.writer, self.timeout = reader, writer, timeout
        self.encoder, self.decoder = hpack.Encoder(), hpack.Decoder()
        self.buf = b""
        self.answers: list[dict] = []
        self.settings: dict[int, int] = {}
        self.window_updates = window_updates
        self.window = window
        self.statuses: dict[int, int] = {}
        self.resets: dict[int, str] = {}
        self.ended: set[int] = set()
        self.data_bytes: dict[int, int] = {}
        self.data: dict[int, bytes] = {}
        self.goaway: dict | None = None
        self.eof = False
        self.ping_acks = 0
        self.got_settings = False

    def write(self, *frames) -> None:
        for frame in frames:
            self.writer.write(frame.serialize())

    def start(self, send_settings: bool = True) -> None:
        self.writer.write(PREFACE)
        settings = hf.SettingsFrame(0)
        settings.settings = {hf.SettingsFrame.ENABLE_PUSH: 0}
        if self.window is not None:
            settings.settings[hf.SettingsFrame.INITIAL_WINDOW_SIZE] = self.window
        self.write(settings)

    def headers(self, sid: int, fields: list[tuple[bytes, bytes]], end_stream: bool = False) -> None:
        frame = hf.HeadersFrame(sid)
        frame.data = self.encoder.encode(fields)
        frame.flags.add("END_HEADERS")
        if end_stream:
            frame.flags.add("END_STREAM")
        self.write(frame)

    def data_frame(self, sid: int, data: bytes, end_stream: bool = False) -> None:
        frame = hf.DataFrame(sid)
        frame.data = data
        if end_stream:
            frame.flags.add("END_STREAM")
        self.write(frame)

    def rst(self, sid: int, code: int) -> None:
        self.write(hf.RstStreamFrame(sid, error_code=code))

    def ping(self) -> None:
        self.write(hf.PingFrame(0, opaque_data=b"probe!!!"))

    async def read_until(self, done, seconds: float | None = None) -> bool:
        """Reads frames until done() or EOF or the deadline; True if done()."""
        await asyncio.wait_for(self.writer.drain(), self.timeout)
        deadline = time.monotonic() + (self.timeout if seconds is None else seconds)
        while not done():
            if self.eof:
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), remaining)
            except asyncio.TimeoutError:
                return False
            except ConnectionError as err:
                self.answers.append({"connection_error": str(err)})
                self.eof = True
                return done()
            if not chunk:
                self.eof = True
                self.answers.append({"eof": True})
                return done()
            self.buf += chunk
            self.parse()
            await self.writer.drain()
        return True

    def parse(self) -> None:
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + length:
                return
            frame, _ = hf.Frame.parse_frame_header(memoryview(self.buf[:9]))
            frame.parse_body(memoryview(self.buf[9:9 + length]))
            self.buf = self.buf[9 + length:]
            self.on_frame(frame)

    def on_frame(self, frame) -> None:
        sid = frame.stream_id
        if isinstance(frame, hf.SettingsFrame):
            if "ACK" not in frame.flags:
                self.settings.update(frame.settings)
                self.got_settings = True
                self.write(hf.SettingsFrame(0, flags=["ACK"]))
        elif isinstance(frame, hf.PingFrame):
            if "ACK" in frame.flags:
                self.ping_acks += 1
            else:
                self.write(hf.PingFrame(0, flags=["ACK"], opaque_data=frame.opaque_data))
        elif isinstance(frame, hf.HeadersFrame):
            fields = self.decoder.decode(frame.data, raw=True)
            status = dict(fields).get(b":status")
            if status is not None:
                self.statuses[sid] = int(status)
                self.answers.append({"stream": sid, "status": int(status)})
            if "END_STREAM" in frame.flags:
                self.ended.add(sid)
        elif isinstance(frame, hf.ContinuationFrame):
            self.answers.append({"stream": sid, "continuation": len(frame.data)})
        elif isinstance(frame, hf.DataFrame):
            n = len(frame.data)
            self.data_bytes[sid] = self.data_bytes.get(sid, 0) + n
            self.data[sid] = self.data.get(sid, b"") + frame.data
            if self.window_updates and frame.flow_controlled_length:
                self.write(hf.WindowUpdateFrame(0, window_increment=frame.flow_controlled_length),
                           hf.WindowUpdateFrame(sid, window_increment=frame.flow_controlled_length))
            if "END_STREAM" in frame.flags:
                self.ended.add(sid)
        elif isinstance(frame, hf.RstStreamFrame):
            self.resets[sid] = error_name(frame.error_code)
            self.answers.append({"stream": sid, "rst_stream": error_name(frame.error_code)})
        elif isinstance(frame, hf.GoAwayFrame):
            self.goaway = {"error": error_name(frame.error_code), "last_stream_id": frame.last_stream_id,
                           "debug": frame.additional_data.decode("utf-8", "replace")}
            self.answers.append({"goaway": self.goaway})

    def answered(self, sid: int) -> bool:
        return sid in self.statuses or sid in self.resets or self.goaway is not None or self.eof


def masked_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A client WebSocket frame (masked)."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def unmasked_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Parses server frames (unmasked, no extensions); returns (opcode, payload)."""
    out = []
    while len(data) >= 2:
        opcode, n = data[0] & 0x0F, data[1] & 0x7F
        pos = 2
        if n == 126:
            n, pos = struct.unpack("!H", data[2:4])[0], 4
        elif n == 127:
            n, pos = struct.unpack("!Q", data[2:10])[0], 10
        if len(data) < pos + n:
            break
        out.append((opcode, data[pos:pos + n]))
        data = data[pos + n:]
    return out


class Probes:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.target = Target(args)

    def ws_headers(self, protocol: bytes | None = b"websocket", method: bytes = b"CONNECT",
                   pseudo: bool = True) -> list[tuple[bytes, bytes]]:
        fields = [(b":method", method)]
        if protocol is not None:
            fields.append((b":protocol", protocol))
        if pseudo:
            fields += [(b":scheme", self.target.scheme), (b":path", self.target.path)]
        fields += [(b":authority", self.target.authority), (b"sec-websocket-version", b"13")]
        return fields

    async def connect(self, wait_settings: bool = True, **kw) -> RawH2:
        reader, writer, _ = await self.target.open(self.args.timeout)
        raw = RawH2(reader, writer, self.args.timeout, **kw)
        raw.start()
        if wait_settings and not await raw.read_until(lambda: raw.got_settings):
            raise Failure("no SETTINGS from the server")
        return raw

    async def open_ws(self, raw: RawH2, sid: int) -> None:
        raw.headers(sid, self.ws_headers())
        if not await raw.read_until(lambda: raw.answered(sid)):
            raise Failure(f"no answer to the extended CONNECT on stream {sid}")
        if raw.statuses.get(sid) != 200:
            raise Failure(f"extended CONNECT on stream {sid} refused: {raw.answers}")

    async def echo_works(self, raw: RawH2, sid: int) -> bool:
        await self.open_ws(raw, sid)
        raw.data_frame(sid, masked_frame(0x1, b"still alive?"))
        ok = await raw.read_until(lambda: any(p == b"still alive?" for _, p in unmasked_frames(raw.data.get(sid, b""))))
        raw.answers.append({"stream": sid, "echo_after": ok})
        return ok

    @staticmethod
    def refused(raw: RawH2, sid: int) -> tuple[bool, str]:
        status = raw.statuses.get(sid)
        if status is not None and 200 <= status < 300:
            return False, f"accepted with {status}"
        if status is None and sid not in raw.resets and raw.goaway is None and not raw.eof:
            return False, "no answer"
        return True, "refused"

    async def malformed(self, fields, end_stream: bool = False) -> tuple[RawH2, bool, str]:
        raw = await self.connect()
        raw.headers(1, fields, end_stream=end_stream)
        await raw.read_until(lambda: raw.answered(1))
        ok, why = self.refused(raw, 1)
        return raw, ok, why

    async def probe_connect_no_protocol(self):
        return await self.malformed(self.ws_headers(protocol=None))

    async def probe_plain_connect(self):
        return await self.malformed(self.ws_headers(protocol=None, pseudo=False))

    async def probe_protocol_on_get(self):
        return await self.malformed(self.ws_headers(method=b"GET"), end_stream=True)

    async def probe_unknown_protocol(self):
        return await self.malformed(self.ws_headers(protocol=b"foo"))

    async def probe_protocol_before_settings(self):
        raw = await self.connect(wait_settings=False)
        raw.headers(1, self.ws_headers())
        await raw.read_until(lambda: raw.answered(1))
        if not raw.answered(1):
            return raw, False, "no answer"
        return raw, True, f"answered ({'status %s' % raw.statuses[1] if 1 in raw.statuses else 'no status'})"

    async def probe_rst_mid_message(self):
        raw = await self.connect()
        await self.open_ws(raw, 1)
        # A frame that declares 1000 bytes (8-byte head), of which 100 are sent; then a reset.
        raw.data_frame(1, masked_frame(0x2, b"x" * 1000)[:8 + 100])
        await raw.writer.drain()
        raw.rst(1, h2.errors.ErrorCodes.CANCEL)
        alive = await self.echo_works(raw, 3)
        ok = alive and raw.goaway is None
        return raw, ok, "the connection still serves WebSockets" if ok else "the connection did not survive"

    async def probe_data_after_end_stream(self):
        raw = await self.connect()
        await self.open_ws(raw, 1)
        raw.data_frame(1, masked_frame(0x8, struct.pack("!H", 1000)), end_stream=True)
        await raw.writer.drain()
        await asyncio.sleep(0.2)
        raw.data_frame(1, masked_frame(0x1, b"after END_STREAM"))
        await raw.read_until(lambda: 1 in raw.resets or raw.goaway is not None, seconds=min(3, self.args.timeout))
        reset = raw.resets.get(1)
        ok = reset is not None or raw.goaway is not None
        why = f"RST_STREAM {reset}" if reset else (f"GOAWAY {raw.goaway['error']}" if raw.goaway else "ignored")
        return raw, ok, why

    async def probe_many_streams(self):
        raw = await self.connect()
        n = self.args.streams
        sids = [1 + 2 * i for i in range(n)]
        for sid in sids:
            raw.headers(sid, self.ws_headers())
        await raw.read_until(lambda: all(raw.answered(s) for s in sids))
        limit = raw.settings.get(hf.SettingsFrame.MAX_CONCURRENT_STREAMS)
        accepted = sum(1 for s in sids if raw.statuses.get(s) == 200)
        refused = sum(1 for s in sids if s in raw.resets)
        unanswered = sum(1 for s in sids if not raw.answered(s))
        counts = {"streams": n, "accepted": accepted, "reset": refused, "unanswered": unanswered,
                  "max_concurrent_streams": limit}
        raw.answers = [counts] + [a for a in raw.answers if "goaway" in a or "eof" in a] + \
            [{"reset_codes": sorted(set(raw.resets.values()))}]
        # RFC 9113 §5.1.2: streams past the limit are a *stream* error
        # (REFUSED_STREAM or PROTOCOL_ERROR); the others are served.
        within = sids if limit is None else sids[:limit]
        beyond = [] if limit is None else sids[limit:]
        ok = (raw.goaway is None and not raw.eof
              and all(raw.statuses.get(s) == 200 for s in within)
              and all(s in raw.resets for s in beyond))
        return raw, ok, json.dumps(counts)

    async def probe_no_window_update(self):
        window = self.args.window
        raw = await self.connect(window=window, window_updates=False)
        await self.open_ws(raw, 1)
        raw.data_frame(1, masked_frame(0x2, b"w" * 1000))
        await raw.read_until(lambda: False, seconds=min(2, self.args.timeout))
        got = raw.data_bytes.get(1, 0)
        raw.ping()
        alive = await raw.read_until(lambda: raw.ping_acks > 0)
        raw.answers.append({"stream": 1, "data_bytes": got, "window": window, "ping_answered": alive})
        ok = got <= window and alive
        return raw, ok, f"{got} bytes within a window of {window}; PING answered: {alive}"

    async def run(self, name: str) -> bool:
        method = getattr(self, "probe_" + name.replace("-", "_"))
        raw = None
        try:
            raw, ok, why = await asyncio.wait_for(method(), self.args.timeout * 4)
        except (Failure, OSError, asyncio.TimeoutError) as err:
            ok, why = False, f"{type(err).__name__}: {err}"
        emit({"probe": name, "answers": raw.answers if raw else [], "verdict": "pass" if ok else "fail",
              "why": why})
        if raw:
            raw.writer.close()
        return ok


PROBES = ["connect-no-protocol", "plain-connect", "protocol-on-get", "unknown-protocol",
          "protocol-before-settings", "rst-mid-message", "data-after-end-stream", "many-streams",
          "no-window-update"]


async def probes(args: argparse.Namespace) -> int:
    names = PROBES if "all" in args.probe else args.probe
    runner = Probes(args)
    results = [await runner.run(name) for name in names]
    emit({"summary": {"probes": len(results), "pass": sum(results), "fail": len(results) - sum(results)}})
    return 0 if all(results) or args.report_only else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="ws://HOST:PORT/PATH (with --h2c) or wss://...")
    parser.add_argument("--h2c", action="store_true", help="cleartext HTTP/2 with prior knowledge")
    parser.add_argument("--ca", help="PEM file of the CA to trust (TLS)")
    parser.add_argument("--insecure", action="store_true", help="do not verify the server's certificate")
    parser.add_argument("--sockets", type=int, default=1, help="WebSockets on the one connection")
    parser.add_argument("--size", type=int, default=100_000, help="binary message size")
    parser.add_argument("--subprotocol", action="append", default=[], help="offer this subprotocol")
    parser.add_argument("--origin")
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    parser.add_argument("--close-code", type=int, default=1000)
    parser.add_argument("--close-reason", default="bye")
    parser.add_argument("--server-close", nargs=2, metavar=("CODE", "REASON"),
                        help='ask the server to close with CODE REASON (text "close CODE REASON")')
    parser.add_argument("--allow-open-stream", action="store_true",
                        help="tolerate a server that does not end the stream after the close handshake")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds allowed for each wait")
    parser.add_argument("--probe", action="append", choices=PROBES + ["all"], help="run a hostile probe")
    parser.add_argument("--report-only", action="store_true", help="probes: exit 0 whatever the verdicts")
    parser.add_argument("--streams", type=int, default=200, help="many-streams: how many")
    parser.add_argument("--window", type=int, default=16, help="no-window-update: initial stream window")
    args = parser.parse_args()
    if args.sockets < 1:
        parser.error("--sockets must be at least 1")
    if args.probe:
        return asyncio.run(probes(args))
    return asyncio.run(scripted(args))


if __name__ == "__main__":
    sys.exit(main())
