#!/usr/bin/env python3
"""Scripted client on Python `websockets` (asyncio), the peer for wsx's interop tests.

    ws_client.py --url ws://127.0.0.1:P/echo --script FILE.json [--timeout SECONDS]

FILE.json ("-" reads stdin) is a list of steps, or {"steps": [...]}. Steps:

  {"op": "send", "kind": "text"|"binary", PAYLOAD, "fragments": F, "echo": true}
      send one message and (unless "echo" is false) wait for a message back
      that must have the same kind and the same bytes.
      PAYLOAD is one of
        "data": "héllo"   exact text (UTF-8)
        "hex": "00ff"     exact bytes; with kind "text" they are sent unchecked,
                          so invalid UTF-8 can be sent on purpose
        "size": N         N bytes of the pattern: binary byte i = i % 251,
                          text byte i = 0x20 + i % 95 (printable ASCII)
      F (optional) fragments the message: a list of byte counts that add up to
      the payload's length (0 allowed; a cut may split a UTF-8 sequence), or a
      number K of near-equal parts. websockets ends a fragmented message with
      an empty FIN continuation frame, so K parts travel as K + 1 frames.
  {"op": "expect", "kind": ..., PAYLOAD}     wait for a message the peer sends unprompted
  {"op": "ping", "data": "abc" | "hex": "..."}  send a Ping, wait for the matching Pong
  {"op": "close", "code": 1000, "reason": "bye", "expect_code": C, "expect_reason": R}
      start the closing handshake; expect_* check the peer's Close frame
  {"op": "wait_close", "expect_code": C, "expect_reason": R}
      wait for the peer to close; any message before its Close frame is an error
  {"op": "sleep", "seconds": 0.5}

If the script does not close, the client closes with 1000 at the end.
Every line on stdout is one JSON object:

    {"connected": URL, "extensions": "<the server's Sec-WebSocket-Extensions, or null>"}
    {"step": I, "sent": {"kind", "len", "sha256", "fragments"}}
    {"step": I, "received": {"kind", "len", "sha256"}, "match": true|false}
    {"step": I, "pong": {"len": N, "rtt_ms": X}}
    {"closed": {"code": C, "reason": R}}      the peer's Close frame (ws.close_code /
                                              ws.close_reason; 1005 empty, 1006 none)
    {"ok": true}  or  {"ok": false, "error": "..."}   always the last line

The exit status is 0 only with {"ok": true}. Every wait is bounded by --timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
from typing import Any

TEXT_ALPHABET = bytes(range(0x20, 0x7F))  # 95 printable ASCII characters
BINARY_ALPHABET = bytes(range(251))


class ScriptError(Exception):
    """The peer did not do what the script expects, or the script is malformed."""


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def pattern(alphabet: bytes, size: int) -> bytes:
    return (alphabet * (size // len(alphabet) + 1))[:size]


def summary(kind: str, payload: bytes) -> dict:
    return {"kind": kind, "len": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}


def payload_of(step: dict) -> tuple[str, bytes]:
    kind = step.get("kind")
    if kind not in ("text", "binary"):
        raise ScriptError(f"kind must be 'text' or 'binary', not {kind!r}")
    if "data" in step:
        return kind, step["data"].encode("utf-8")
    if "hex" in step:
        return kind, bytes.fromhex(step["hex"])
    if "size" in step:
        return kind, pattern(TEXT_ALPHABET if kind == "text" else BINARY_ALPHABET, int(step["size"]))
    raise ScriptError("a message needs 'data', 'hex' or 'size'")


def control_payload(step: dict) -> bytes:
    if "hex" in step:
        return bytes.fromhex(step["hex"])
    return str(step.get("data", "")).encode("utf-8")


def split(payload: bytes, fragments: Any) -> list[bytes]:
    if isinstance(fragments, int):
        if fragments < 1:
            raise ScriptError("fragments must be at least 1")
        size = -(-len(payload) // fragments)  # ceiling
        return [payload[i * size:(i + 1) * size] for i in range(fragments)]
    sizes = [int(n) for n in fragments]
    if sum(sizes) != len(payload) or min(sizes, default=0) < 0:
        raise ScriptError(f"fragment sizes {sizes} do not add up to {len(payload)}")
    parts, offset = [], 0
    for n in sizes:
        parts.append(payload[offset:offset + n])
        offset += n
    return parts


class Runner:
    def __init__(self, ws: Any, timeout: float) -> None:
        self.ws = ws
        self.timeout = timeout
        self.closed = False

    async def recv(self) -> tuple[str, bytes]:
        message = await asyncio.wait_for(self.ws.recv(), self.timeout)
        if isinstance(message, str):
            return "text", message.encode("utf-8")
        return "binary", bytes(message)

    async def expect(self, index: int, kind: str, payload: bytes) -> None:
        got_kind, got = await self.recv()
        match = got_kind == kind and got == payload
        emit({"step": index, "received": summary(got_kind, got), "match": match})
        if not match:
            raise ScriptError(
                f"step {index}: expected {kind} of {len(payload)} bytes, got {got_kind} of "
                f"{len(got)} bytes" + ("" if got_kind != kind or len(got) != len(payload)
                                       else f" differing first at byte {first_difference(payload, got)}"))

    async def run(self, index: int, step: dict) -> None:
        op = step.get("op")
        if op == "send":
            kind, payload = payload_of(step)
            text = kind == "text"
            if "fragments" in step:
                parts = split(payload, step["fragments"])
                await asyncio.wait_for(self.ws.send(parts, text=text), self.timeout)
            else:
                parts = [payload]
                await asyncio.wait_for(self.ws.send(payload, text=text), self.timeout)
            emit({"step": index, "sent": {**summary(kind, payload), "fragments": len(parts)}})
            if step.get("echo", True):
                await self.expect(index, kind, payload)
        elif op == "expect":
            await self.expect(index, *payload_of(step))
        elif op == "ping":
            data = control_payload(step)
            waiter = await self.ws.ping(data)
            rtt = await asyncio.wait_for(waiter, self.timeout)
            emit({"step": index, "pong": {"len": len(data), "rtt_ms": round(rtt * 1000, 3)}})
        elif op == "close":
            await self.ws.close(int(step.get("code", 1000)), str(step.get("reason", "")))
            self.finish_close(index, step)
        elif op == "wait_close":
            from websockets.exceptions import ConnectionClosed
            try:
                kind, got = await self.recv()
            except ConnectionClosed:
                await asyncio.wait_for(self.ws.wait_closed(), self.timeout)
            else:
                emit({"step": index, "received": summary(kind, got), "match": False})
                raise ScriptError(f"step {index}: expected the peer to close, got a {kind} message")
            self.finish_close(index, step)
        elif op == "sleep":
            await asyncio.sleep(float(step["seconds"]))
        else:
            raise ScriptError(f"step {index}: unknown op {op!r}")

    def finish_close(self, index: int, step: dict) -> None:
        self.closed = True
        code, reason = self.ws.close_code, self.ws.close_reason
        emit({"closed": {"code": code, "reason": reason}})
        if "expect_code" in step and code != step["expect_code"]:
            raise ScriptError(f"step {index}: peer's close code {code}, expected {step['expect_code']}")
        if "expect_reason" in step and reason != step["expect_reason"]:
            raise ScriptError(f"step {index}: peer's close reason {reason!r}, "
                              f"expected {step['expect_reason']!r}")


def first_difference(a: bytes, b: bytes) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def load_script(path: str) -> list[dict]:
    text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    script = json.loads(text)
    steps = script["steps"] if isinstance(script, dict) else script
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise ScriptError("a script is a list of step objects")
    return steps


async def main(args: argparse.Namespace) -> None:
    os.environ["WEBSOCKETS_MAX_FRAGMENTS"] = str(args.max_fragments)
    from websockets.asyncio.client import connect

    steps = load_script(args.script)
    from deflate_options import client_extensions

    async with connect(args.url, compression=None, max_size=None, ping_interval=None,
                       extensions=client_extensions(args.deflate),
                       open_timeout=args.timeout, close_timeout=args.timeout) as ws:
        emit({"connected": args.url, "extensions": ws.response.headers.get("Sec-WebSocket-Extensions")})
        runner = Runner(ws, args.timeout)
        try:
            for index, step in enumerate(steps):
                await runner.run(index, step)
        finally:
            # Also after a failure: close with 1000 (a no-op if the peer already
            # closed) and report the peer's Close frame.
            if not runner.closed:
                try:
                    await asyncio.wait_for(ws.close(), args.timeout)
                finally:
                    runner.finish_close(len(steps), {})


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--script", required=True, help="JSON steps; '-' for stdin")
    parser.add_argument("--timeout", type=float, default=30.0, help="bound on every wait")
    parser.add_argument("--deflate", metavar="OPTIONS",
                        help="offer permessage-deflate with these RFC 7692 parameters "
                             "(comma-separated, '' for the defaults; see deflate_options.py)")
    parser.add_argument("--max-fragments", type=int, default=1 << 20,
                        help="frames allowed per received message (websockets' default is 4096)")
    args = parser.parse_args()
    try:
        asyncio.run(main(args))
    except Exception as error:  # every failure ends in the one final line
        message = str(error) or type(error).__name__
        if isinstance(error, (TimeoutError, asyncio.TimeoutError)):
            message = f"timed out after {args.timeout} s"
        elif not isinstance(error, ScriptError):
            message = f"{type(error).__name__}: {message}"
        emit({"ok": False, "error": message})
        return 1
    emit({"ok": True})
    return 0


if __name__ == "__main__":
    sys.exit(cli())
