#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/seeds/ from the shared test data (BOLT vectors and Core
Lightning gossip_store files). Run once from the repository root; the output is committed so
fuzz/run.sh needs nothing else."""
import hashlib
import json
import lzma
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared")
OUT = os.path.join(ROOT, "fuzz", "seeds")


def put(target, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def store(name):
    with lzma.open(os.path.join(SHARED, "gossip_store", name)) as f:
        return f.read()


def records(data, has_version):
    pos = 1 if has_version else 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        yield data[pos + 12 : pos + 12 + length]
        pos += 12 + length


simple, mesh = store("gossip_store.simple.xz"), store("gossip_store.mesh-3x3.xz")
gossip = [m for m in records(mesh, True) if m[:2] in (b"\x01\x00", b"\x01\x01", b"\x01\x02")]
seen = set()
for msg in gossip:
    if msg[:2] not in seen or len(seen) < 12:
        put("gossip_parse", msg)
    seen.add(msg[:2])
put("store_reader", simple)
put("store_reader", mesh[:4096])
put("store_reader", simple[:-7])
dump = b"".join(struct.pack(">H", len(m)) + m for m in gossip[:6])
put("dump_reader", dump)
put("dump_reader", dump[:-3])

bolt1 = json.load(open(os.path.join(SHARED, "data", "bolt1_vectors.json")))
bolt7 = json.load(open(os.path.join(SHARED, "data", "bolt7_vectors.json")))
for case in bolt1["init_extension"]:
    put("bolt1_parse", bytes.fromhex(case["msg"]))
for case in bolt1["tlv"]:
    put("bolt1_parse", bytes.fromhex(case["stream"]))
for case in bolt1["bigsize_decoding"]:
    put("bolt1_parse", bytes.fromhex(case["bytes"]))
for case in bolt7["extended_queries"]:
    put("bolt1_parse", bytes.fromhex(case["hex"]))
chain = bytes(32)
for msg in (
    b"\x00\x12\x00\x0a\x00\x04" + bytes(4),  # ping
    b"\x00\x13\x00\x02" + bytes(2),  # pong
    b"\x00\x11" + chain + b"\x00\x03bad",  # error
    b"\x00\x01" + chain + b"\x00\x00",  # warning
    b"\x01\x09" + chain + bytes(8),  # gossip_timestamp_filter
    b"\x01\x06" + chain + b"\x01",  # reply_short_channel_ids_end
):
    put("bolt1_parse", msg)
put("bolt8_handshake", bytes(1))
put("bolt8_handshake", bytes([1]) + bytes(50))
put("bolt8_handshake", bytes([5]) + bytes(66))
put("bolt8_decrypt", bytes([1, 100, 3, 1, 10]))

# bolt1_session: a flag byte (odd = put a valid init first), then u16-length-prefixed frames.
bitcoin = bytes.fromhex("6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000")


def session(frames, flags=1):
    return bytes([flags]) + b"".join(struct.pack(">H", len(f)) + f for f in frames)


control = [
    b"\x00\x12\x00\x0a\x00\x04" + bytes(4),  # ping
    b"\x01\x09" + bitcoin + bytes(8),  # gossip_timestamp_filter
    b"\x01\x07" + bitcoin + struct.pack(">II", 0, 0xFFFFFFFF),  # query_channel_range
    b"\x01\x05" + bitcoin + b"\x00\x00",  # query_short_channel_ids, empty
]
put("bolt1_session", session(control))
put("bolt1_session", session(control + gossip[:8]))
put("bolt1_session", session([b"\x03\xe9odd", b"\x03\xe8even"]))
put("bolt1_session", session([b"\x00\x10\x00\x00\x00\x00"] + gossip[:2], flags=0))
