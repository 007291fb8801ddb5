#!/usr/bin/env python3
"""Read a gossip_store with Core Lightning's own Python reader (pyln-client's Gossmap) and print
what it sees as one JSON object, for tests/store_interop.rs to compare with gossip-sieve's view.

Usage: gossmap_check.py <gossip_store>
Exit status 2 (with a message) if pyln-client cannot be imported: the caller must fail, not skip.
"""
import json
import sys

try:
    from pyln.client.gossmap import Gossmap
except ImportError as err:  # pragma: no cover - reported to the Rust test
    print(f"cannot import pyln.client.gossmap ({err}); pip install pyln-client pyln-proto",
          file=sys.stderr)
    sys.exit(2)


def scid_int(scid):
    return (scid.block << 40) | (scid.txnum << 16) | scid.outnum


def main():
    gossmap = Gossmap(sys.argv[1])
    channels = {}
    for scid, chan in gossmap.channels.items():
        halves = []
        for half in chan.half_channels:
            if half is None:
                halves.append(None)
            else:
                halves.append({
                    "timestamp": half.timestamp,
                    "fee_base_msat": int(half.fee_base_msat),
                    "fee_proportional_millionths": half.fee_proportional_millionths,
                    "cltv_expiry_delta": half.cltv_expiry_delta,
                })
        channels[str(scid_int(scid))] = {"satoshis": chan.satoshis, "halves": halves}
    # node_announcement contents as pyln decodes them: the alias bytes (pyln keeps the NUL
    # padding), the colour, and the addresses in pyln's own text form.
    node_announcements = {}
    for node_id, node in gossmap.nodes.items():
        if node.announced:
            node_announcements[node_id.nodeid.hex()] = {
                "alias": node.alias.encode("utf-8").hex(),
                "rgb_color": bytes(node.rgb).hex(),
                "addresses": node.addresses,
            }
    out = {
        "channels": len(gossmap.channels),
        "nodes": len(gossmap.nodes),
        "announced_nodes": sum(1 for n in gossmap.nodes.values() if n.announced),
        "orphan_channel_updates": len(gossmap.orphan_channel_updates),
        "per_channel": channels,
        "node_announcements": node_announcements,
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
