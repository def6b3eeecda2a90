#!/usr/bin/env python3
"""RFC 9220 WebSocket server on aioquic (QUIC and HTTP/3) and wsproto,
independent of wsx: accepts extended CONNECTs with `:protocol websocket`
and echoes every message.

    h3_ws_server.py --cert FILE --key FILE [--port N]

Paths:
    /echo               echo text and binary messages (permessage-deflate
                        accepted when offered); a Close is answered with the
                        same code
    /close/CODE         echo the first message, then close with CODE
    /refuse             answer the CONNECT with 501 (a server without
                        WebSocket over HTTP/3)
    anything else       404

The first line on stdout is {"listening": PORT}; then one JSON object per
event: {"request": {...}}, {"stream": S, "message": {"kind", "len"}},
{"stream": S, "closed": {"code", "reason"}}, {"stream": S, "fin": true} and
{"stream": S, "reset": CODE}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys

from aioquic.asyncio import serve
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ProtocolNegotiated, StreamReset
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.extensions import PerMessageDeflate


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


class Socket:
    """One accepted WebSocket on one request stream."""

    def __init__(self, protocol: "H3Server", sid: int, ws: Connection, close_with: int | None) -> None:
        self.protocol, self.sid, self.ws, self.close_with = protocol, sid, ws, close_with
        self.parts: list = []
        self.closed = False

    def send(self, event) -> None:
        self.protocol.h3.send_data(self.sid, self.ws.send(event), end_stream=False)

    def receive(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                self.parts.append(event.data)
                if not event.message_finished:
                    continue
                kind = "text" if isinstance(event, TextMessage) else "binary"
                whole = ("" if kind == "text" else b"").join(self.parts)
                self.parts = []
                emit({"stream": self.sid, "message": {"kind": kind, "len": len(whole)}})
                if kind == "text":
                    self.send(TextMessage(data=whole))
                else:
                    self.send(BytesMessage(data=whole))
                if self.close_with is not None and not self.closed:
                    self.closed = True
                    self.send(CloseConnection(code=self.close_with, reason="as asked"))
            elif isinstance(event, Ping):
                self.send(event.response())
            elif isinstance(event, CloseConnection):
                emit({"stream": self.sid, "closed": {"code": event.code, "reason": event.reason}})
                if not self.closed:
                    self.closed = True
                    self.send(event.response())
                # RFC 9220 §3 (RFC 8441 §5): after the close handshake, the
                # server ends its side of the stream.
                self.protocol.h3.send_data(self.sid, b"", end_stream=True)


class H3Server(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.h3: H3Connection | None = None
        self.sockets: dict[int, Socket] = {}

    def quic_event_received(self, event) -> None:
        if isinstance(event, ProtocolNegotiated) and event.alpn_protocol in H3_ALPN:
            self.h3 = H3Connection(self._quic)
        if isinstance(event, StreamReset):
            emit({"stream": event.stream_id, "reset": event.error_code})
            self.sockets.pop(event.stream_id, None)
        if self.h3 is None:
            return
        for h3_event in self.h3.handle_event(event):
            if isinstance(h3_event, HeadersReceived):
                self.on_request(h3_event)
            elif isinstance(h3_event, DataReceived):
                sock = self.sockets.get(h3_event.stream_id)
                if sock and h3_event.data:
                    sock.receive(h3_event.data)
                if h3_event.stream_ended:
                    emit({"stream": h3_event.stream_id, "fin": True})
        self.transmit()

    def on_request(self, event: HeadersReceived) -> None:
        headers = dict(event.headers)
        method, protocol = headers.get(b":method"), headers.get(b":protocol")
        path = headers.get(b":path", b"").decode()
        emit({"request": {"stream": event.stream_id, "method": method.decode() if method else None,
                          "protocol": protocol.decode() if protocol else None, "path": path,
                          "version": headers.get(b"sec-websocket-version", b"").decode()}})
        if method != b"CONNECT" or protocol != b"websocket":
            return self.respond(event.stream_id, 400, end=True)
        if path == "/refuse":
            return self.respond(event.stream_id, 501, end=True)
        close_with = None
        if path.startswith("/close/"):
            close_with = int(path[len("/close/"):])
        elif path != "/echo":
            return self.respond(event.stream_id, 404, end=True)
        if headers.get(b"sec-websocket-version") != b"13":
            return self.respond(event.stream_id, 426, end=True, extra=[(b"sec-websocket-version", b"13")])
        extra: list[tuple[bytes, bytes]] = []
        extensions = []
        offers = headers.get(b"sec-websocket-extensions", b"").decode()
        for offer in [o.strip() for o in offers.split(",") if o.strip()]:
            if offer.split(";")[0].strip() == "permessage-deflate":
                deflate = PerMessageDeflate()
                accepted = deflate.accept(offer)
                if accepted is not None and accepted is not False:
                    extensions = [deflate]
                    params = accepted if isinstance(accepted, str) else ""
                    value = f"permessage-deflate; {params}" if params else "permessage-deflate"
                    extra.append((b"sec-websocket-extensions", value.encode()))
                    break
        self.respond(event.stream_id, 200, end=False, extra=extra)
        ws = Connection(ConnectionType.SERVER, extensions=extensions)
        self.sockets[event.stream_id] = Socket(self, event.stream_id, ws, close_with)

    def respond(self, sid: int, status: int, end: bool, extra: list | None = None) -> None:
        assert self.h3 is not None
        self.h3.send_headers(sid, [(b":status", str(status).encode()), (b"server", b"aioquic-interop")] + (extra or []),
                             end_stream=end)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="UDP port (0: a free one)")
    args = parser.parse_args()
    port = args.port
    if port == 0:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((args.host, 0))
            port = probe.getsockname()[1]
    config = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN, idle_timeout=30)
    config.load_cert_chain(args.cert, args.key)
    await serve(args.host, port, configuration=config, create_protocol=H3Server)
    emit({"listening": port})
    await asyncio.Future()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        pass
