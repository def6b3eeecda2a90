#!/usr/bin/env python3
"""Writes the seed inputs of the h2_server fuzz target (fuzz/seeds/h2_server/):
programs in the byte code of fuzz/src/h2.rs that reach the paths of the
hostile list (RFC 9113, RFC 8441). Run from anywhere; rewrites the files."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "seeds", "h2_server")


def connect(stream, variant=0):
    return bytes([0, stream, variant])


def data(stream, frames, end=False):
    out = bytes([1, stream, 1 if end else 0, len(frames)])
    for first, payload in frames:
        out += bytes([first, len(payload)]) + payload
    return out


def rst(stream, code=8):
    return bytes([3, stream, code])


def window_update(stream, increment):
    return bytes([4, stream]) + increment.to_bytes(4, "big")


def settings(pairs):
    out = bytes([5, len(pairs)])
    for ident, value in pairs:
        out += ident.to_bytes(2, "big") + value.to_bytes(4, "big")
    return out


def ping(ack=False):
    return bytes([6, 1 if ack else 0]) + b"12345678"


def continuation(stream, flags, payload):
    return bytes([7, stream, flags, len(payload)]) + payload


CLOSE_1000 = (0x88, b"\x03\xe8")
SEEDS = {
    "echo_then_close": connect(1) + data(1, [(0x81, b"hello"), (0x82, b"\x00\x01\x02"), CLOSE_1000]),
    "deflate_hello": connect(1, 0x40) + data(1, [(0xC1, bytes.fromhex("f248cdc9c90700")), CLOSE_1000]),
    "fragments_and_ping": connect(3) + data(3, [(0x01, b"frag"), (0x89, b"p"), (0x80, b"ment")]) + data(3, [CLOSE_1000], end=True),
    "two_sockets": connect(1) + connect(3) + data(3, [(0x81, b"three")]) + data(1, [(0x81, b"one")]) + rst(1),
    "rapid_reset": b"".join(connect(s) + rst(s) for s in range(1, 120, 2)),
    "continuation_flood": connect(1, 0x80) + b"".join(continuation(1, 0, b"x" * 63) for _ in range(60)),
    "other_path": connect(1, 0x80) + continuation(1, 0x4, b""),
    "data_after_end_stream": connect(1, 0x01) + data(1, [(0x81, b"late")]),
    "protocol_on_get": connect(1, 0x02),
    "connect_without_protocol": connect(1, 0x04),
    "unknown_protocol": connect(1, 0x08),
    "missing_path": connect(1, 0x10),
    "version_12": connect(1, 0x20),
    "settings_and_ping_flood": b"".join(settings([(4, 1 << 20), (5, 1 << 15)]) + ping() for _ in range(40)),
    "window_updates": connect(1) + window_update(0, 0) + window_update(1, 0x7FFFFFFF) + window_update(1, 0x7FFFFFFF),
    "many_streams": b"".join(connect(s) for s in range(1, 256, 2)),
    "even_stream": connect(2) + data(2, [(0x81, b"x")]),
    "violation": connect(1) + data(1, [(0x89, b"p"), (0x83, b"")]),
}

os.makedirs(OUT, exist_ok=True)
for name, program in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(program)
print(f"wrote {len(SEEDS)} seeds to {OUT}")
