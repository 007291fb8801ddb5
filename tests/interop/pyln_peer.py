#!/usr/bin/env python3
"""A Lightning peer built only from Core Lightning's Python stack (pyln-proto's BOLT 8 transport
and message codec, pyln-bolt7's message definitions), for tests/interop_pyln.rs.

It dials gossip-sieve, exchanges init, and is then driven by lines on stdin:
  valid    send every live gossip message (types 256/257/258) of the given gossip_store files
  corrupt  send corrupted copies: channel_announcements with a flipped short_channel_id byte and
           channel_updates with a newer timestamp and a flipped signature byte (both must fail
           signature verification), and truncated channel_announcements (malformed)
  stop     (or EOF) close the connection and exit
Each step answers with one JSON line on stdout. A reader thread answers the node's pings the
whole time and records whether the node closed the connection.

Usage: pyln_peer.py <node_id_hex> <host:port> <gossip_store>...
Exit status 2 (with a message) if pyln cannot be imported: the caller must fail, not skip.
"""
import json
import lzma
import os
import struct
import sys
import threading

from pyln_wire import (BITCOIN_CHAIN, BOLT1, PrivateKey, PublicKey, bolt7, connect, decode,
                       encode)

GOSSIP_TYPES = {256: "channel_announcement", 257: "node_announcement", 258: "channel_update"}
DELETED = 0x8000
OUR_PING_PONG_BYTES = 7


def store_messages(paths):
    """Live gossip messages of Core Lightning gossip_store files: the first file starts with the
    version byte, later ones are headerless continuations."""
    data = b""
    for i, path in enumerate(paths):
        raw = lzma.open(path).read()
        data += raw[1:] if i == 0 else raw
    messages, off = [], 0
    while off + 12 <= len(data):
        flags, length, _crc, _ts = struct.unpack(">HHII", data[off:off + 12])
        msg = data[off + 12:off + 12 + length]
        off += 12 + length
        if len(msg) != length:
            raise ValueError(f"truncated store record at {off}")
        if flags & DELETED or struct.unpack(">H", msg[:2])[0] not in GOSSIP_TYPES:
            continue
        messages.append(msg)
    return messages


class Peer:
    def __init__(self, conn):
        self.conn = conn
        self.lock = threading.Lock()
        self.pings_answered = 0
        self.pongs = []
        self.other = {}
        self.closed_by_node = None

    def reader(self):
        while True:
            try:
                raw = self.conn.read_message()
            except Exception as err:  # the node closed the connection (or we did, at stop)
                with self.lock:
                    self.closed_by_node = str(err) or type(err).__name__
                return
            msg_type = struct.unpack(">H", raw[:2])[0]
            if msg_type == 18:
                ping = decode(BOLT1, raw).to_py()
                # BOLT 1: answer a ping asking for fewer than 65532 bytes with that many.
                if ping["num_pong_bytes"] < 65532:
                    self.conn.send_message(encode(
                        BOLT1, "pong", ignored=bytes(ping["num_pong_bytes"])))
                    with self.lock:
                        self.pings_answered += 1
            elif msg_type == 19:
                pong = decode(BOLT1, raw).to_py()
                with self.lock:
                    self.pongs.append(len(bytes.fromhex(pong.get("ignored", ""))))
            else:
                with self.lock:
                    self.other[msg_type] = self.other.get(msg_type, 0) + 1

    def status(self):
        with self.lock:
            return {
                "pings_answered": self.pings_answered,
                "pongs": list(self.pongs),
                "other_messages": {str(k): v for k, v in sorted(self.other.items())},
                "closed_by_node": self.closed_by_node,
            }


def corrupt(messages):
    """Copies that must fail: distinct from the originals and from each other, so neither the
    dedup nor the recently-rejected cache can absorb them."""
    out = {"invalid_signature": {}, "malformed": {}}
    frames = []
    announcements = [m for m in messages if m[:2] == b"\x01\x00"][:5]
    for i, raw in enumerate(announcements):
        fields = decode(bolt7.namespace, raw).fields
        # Flip a bit of the output index: still a well-formed, unknown short_channel_id, but
        # the signed bytes changed, so node_signature_1 no longer verifies.
        fields["short_channel_id"] ^= 1 << (i % 16)
        copy = encode(bolt7.namespace, "channel_announcement", **fields)
        assert copy != raw and len(copy) == len(raw)
        frames.append(copy)
    out["invalid_signature"]["channel_announcement"] = len(announcements)
    for i, raw in enumerate(announcements[:3]):
        # Cut inside the fixed-size fields: cannot parse as a channel_announcement.
        frames.append(raw[:100 + 50 * i])
    out["malformed"]["channel_announcement"] = min(3, len(announcements))
    updates = [m for m in messages if m[:2] == b"\x01\x02"]
    for i, raw in enumerate(updates):
        fields = decode(bolt7.namespace, raw).fields
        # Newer than the accepted update, so it is verified rather than dropped as stale.
        fields["timestamp"] += 1 + i
        sig = bytearray(raw[2:66])
        sig[40] ^= 0x01
        copy = bytearray(encode(bolt7.namespace, "channel_update", **fields))
        copy[2:66] = sig
        frames.append(bytes(copy))
    out["invalid_signature"]["channel_update"] = len(updates)
    return frames, out


def count_by_type(messages):
    counts = {name: 0 for name in GOSSIP_TYPES.values()}
    for m in messages:
        counts[GOSSIP_TYPES[struct.unpack(">H", m[:2])[0]]] += 1
    return counts


def say(obj):
    print(json.dumps(obj), flush=True)


def main():
    node_id, address, *stores = sys.argv[1:]
    host, port = address.rsplit(":", 1)
    messages = store_messages(stores)
    # Every message must round-trip through pyln's own BOLT 7 codec.
    for m in messages:
        if m[:2] != b"\x01\x01" and encode(bolt7.namespace, GOSSIP_TYPES[
                struct.unpack(">H", m[:2])[0]], **decode(bolt7.namespace, m).fields) != m:
            raise ValueError(f"pyln does not round-trip {m.hex()}")

    conn = connect(PrivateKey(os.urandom(32)), PublicKey(bytes.fromhex(node_id)), host, int(port))
    # BOLT 1: init first. gossip_queries (bit 7, optional) and the bitcoin chain.
    conn.send_message(encode(BOLT1, "init", globalfeatures=b"", features=bytes([0x80]),
                             tlvs={"networks": {"chains": [BITCOIN_CHAIN]}}))
    theirs = conn.read_message()
    init = decode(BOLT1, theirs)
    if init is None or init.messagetype.name != "init":
        raise ValueError(f"first message is not init: {theirs.hex()}")
    init = init.to_py()
    features = bytes.fromhex(init.get("features", ""))
    chains = init.get("tlvs", {}).get("networks", {}).get("chains", [])

    peer = Peer(conn)
    threading.Thread(target=peer.reader, daemon=True).start()
    # Our own ping: the node must answer with exactly the requested number of bytes.
    conn.send_message(encode(BOLT1, "ping", num_pong_bytes=OUR_PING_PONG_BYTES,
                             ignored=bytes(3)))
    say({"event": "ready", "features": features.hex(), "chains": chains})

    for line in sys.stdin:
        command = line.strip()
        if command == "valid":
            for m in messages:
                conn.send_message(m)
            say({"event": "sent", "phase": "valid", "sent": count_by_type(messages)})
        elif command == "corrupt":
            frames, counts = corrupt(messages)
            for m in frames:
                conn.send_message(m)
            say({"event": "sent", "phase": "corrupt", **counts})
        elif command == "status":
            say({"event": "status", **peer.status()})
        elif command == "stop":
            break
    status = peer.status()
    conn.connection.close()
    say({"event": "done", **status})


if __name__ == "__main__":
    main()
