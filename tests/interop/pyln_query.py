#!/usr/bin/env python3
"""A BOLT 7 query client built from Core Lightning's Python stack (pyln-proto's BOLT 8
transport and message codec, pyln-bolt7's message definitions), for tests/serve.rs.

It dials gossip-sieve, exchanges init (gossip_queries), runs query_channel_range over every
block, then query_short_channel_ids for every short_channel_id the replies named, and prints
one JSON line: the scids, every gossip message received (hex, in order), and
full_information. Pings are answered throughout.

Usage: pyln_query.py <node_id_hex> <host:port>
Exit status 2 (with a message) if pyln cannot be imported: the caller must fail, not skip.
"""
import json
import os
import struct
import sys

from pyln_wire import (BITCOIN_CHAIN, BOLT1, PrivateKey, PublicKey, bolt7, connect, decode,
                       encode)


def next_message(conn):
    """The next message that is not a ping (pings are answered)."""
    while True:
        raw = conn.read_message()
        if struct.unpack(">H", raw[:2])[0] == 18:
            ping = decode(BOLT1, raw).to_py()
            if ping["num_pong_bytes"] < 65532:
                conn.send_message(encode(BOLT1, "pong", ignored=bytes(ping["num_pong_bytes"])))
            continue
        return raw


def scids_of(encoded):
    if encoded[0] != 0:
        raise ValueError(f"encoding {encoded[0]} (only uncompressed expected)")
    body = encoded[1:]
    return [struct.unpack(">Q", body[i:i + 8])[0] for i in range(0, len(body), 8)]


def main():
    node_id, address = sys.argv[1:]
    host, port = address.rsplit(":", 1)
    conn = connect(PrivateKey(os.urandom(32)), PublicKey(bytes.fromhex(node_id)), host, int(port))
    conn.send_message(encode(BOLT1, "init", globalfeatures=b"", features=bytes([0x80]),
                             tlvs={"networks": {"chains": [BITCOIN_CHAIN]}}))
    init = decode(BOLT1, conn.read_message())
    if init is None or init.messagetype.name != "init":
        raise ValueError("first message is not init")

    conn.send_message(encode(bolt7.namespace, "query_channel_range", chain_hash=BITCOIN_CHAIN,
                             first_blocknum=0, number_of_blocks=0xFFFFFFFF))
    scids, replies = [], 0
    while True:
        raw = next_message(conn)
        msg = decode(bolt7.namespace, raw)
        if msg is None or msg.messagetype.name != "reply_channel_range":
            continue
        replies += 1
        fields = msg.to_py()
        scids += scids_of(bytes.fromhex(fields["encoded_short_ids"]))
        if fields["first_blocknum"] + fields["number_of_blocks"] >= 0xFFFFFFFF:
            break

    encoded = b"\x00" + b"".join(struct.pack(">Q", s) for s in scids)
    conn.send_message(encode(bolt7.namespace, "query_short_channel_ids",
                             chain_hash=BITCOIN_CHAIN, encoded_short_ids=encoded))
    gossip = []
    while True:
        raw = next_message(conn)
        msg_type = struct.unpack(">H", raw[:2])[0]
        if msg_type in (256, 257, 258):
            # Must decode with pyln's own BOLT 7 codec.
            if decode(bolt7.namespace, raw) is None:
                raise ValueError(f"pyln cannot decode {raw.hex()}")
            gossip.append(raw.hex())
        elif msg_type == 262:
            end = decode(bolt7.namespace, raw).to_py()
            break
    print(json.dumps({"scids": scids, "replies": replies, "gossip": gossip,
                      "full_information": end["full_information"]}), flush=True)
    conn.connection.close()


if __name__ == "__main__":
    main()
