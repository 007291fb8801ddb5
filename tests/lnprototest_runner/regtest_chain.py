"""A regtest chain built block by block in Python, served over a bitcoind-REST-shaped HTTP API.

TEST SCAFFOLDING, driven by a third-party suite: lnprototest (the BOLT conformance suite) builds
its chain itself, block by block, through its runner's `add_blocks` / `trim_blocks` calls
(Core Lightning's runner does it with a real bitcoind). gossip-sieve has no wallet and mines
nothing, so this module holds the chain lnprototest asks for and serves it to gossip-sieve
through gossip-sieve's real `bitcoind-rest` chain backend (src/chain/rest.rs). It is not a node:
no mempool, no script or signature checks, no peers. It serves exactly the four endpoints that
backend calls, in bitcoind's shapes:

- `GET /rest/chaininfo.json`: `{"chain", "blocks", "headers", "bestblockhash"}` (tip following);
- `GET /rest/blockhashbyheight/<h>.bin`: the 32 hash bytes, 404 past the tip;
- `GET /rest/block/<hash>.bin`: the consensus-encoded block (funding outputs, and spends: the
  tip follower reads every new block's inputs to see a funding output spent);
- `GET /rest/getutxos/<txid>-<n>.json`: `{"chainHeight", "chaintipHash", "bitmap", "utxos"}`.

Blocks are real: regtest genesis, then lnprototest's own block 1 (whose coinbase pays the
transaction the suite spends from), then blocks with a BIP 34 coinbase, a witness commitment,
the correct merkle root and regtest proof of work. `trim_blocks` drops blocks from the best
chain (they stay fetchable by hash, as stale blocks do in bitcoind), so a reorg reaches
gossip-sieve through its ordinary tip-following path.
"""

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Set, Tuple

import bitcoin
import bitcoin.core
from bitcoin.core import (
    COIN,
    COutPoint,
    CBlock,
    CMutableTransaction,
    CScript,
    CScriptWitness,
    CTransaction,
    CTxIn,
    CTxInWitness,
    CTxOut,
    CTxWitness,
    b2lx,
    lx,
)
from bitcoin.core.script import OP_RETURN, OP_TRUE

bitcoin.SelectParams("regtest")

# Block 1 exactly as lnprototest's bitcoind backend submits it (lnprototest/backend/bitcoind.py):
# its coinbase output is what `lnprototest.utils.tx_spendable` spends, so every test's funding
# transactions descend from it.
BLOCK_1_HEX = (
    "0000002006226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f84591a56720aabc8"
    "023cecf71801c5e0f9d049d0c550ab42412ad12a67d89f3a3dbb6c60ffff7f20040000000102000000000101"
    "0000000000000000000000000000000000000000000000000000000000000000ffffffff03510101ffffffff"
    "0200f2052a0100000016001419f5016f07fe815f611df3a2a0802dbd74e634c40000000000000000266a24aa"
    "21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9012000000000000000"
    "0000000000000000000000000000000000000000000000000000000000"
)

# The height lnprototest starts every test at (block 1, then 100 more, as its bitcoind does).
START_HEIGHT = 101

REGTEST_BITS = 0x207FFFFF


def _target(bits: int) -> int:
    return (bits & 0xFFFFFF) << (8 * ((bits >> 24) - 3))


def _sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


class RegtestChain:
    """The best chain as a list of blocks (index = height), plus every block ever made."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_hash: Dict[bytes, CBlock] = {}
        self.best: List[CBlock] = []
        self.reset()

    def reset(self) -> None:
        """Back to lnprototest's starting chain: genesis, block 1, then up to START_HEIGHT."""
        with self.lock:
            self.by_hash = {}
            self.best = []
            self._append(bitcoin.params.GENESIS_BLOCK)
            self._append(CBlock.deserialize(bytes.fromhex(BLOCK_1_HEX)))
            while len(self.best) <= START_HEIGHT:
                self._append(self._mine([]))

    def height(self) -> int:
        with self.lock:
            return len(self.best) - 1

    def tip_hash(self) -> bytes:
        with self.lock:
            return self.best[-1].GetHash()

    def add_blocks(self, txs_hex: List[str], n: int) -> None:
        """Mines `n` blocks on the tip, the first holding `txs_hex` (as bitcoind's
        `sendrawtransaction` then `generatetoaddress(n)` would)."""
        txs = [CTransaction.deserialize(bytes.fromhex(tx)) for tx in txs_hex]
        with self.lock:
            for i in range(n):
                self._append(self._mine(txs if i == 0 else []))

    def trim(self, new_height: int) -> None:
        """Drops the best chain above `new_height` (a reorg once new blocks come)."""
        with self.lock:
            del self.best[new_height + 1 :]

    def _append(self, block: CBlock) -> None:
        self.by_hash[block.GetHash()] = block
        self.best.append(block)

    def _mine(self, txs: List[CTransaction]) -> CBlock:
        height = len(self.best)
        prev = self.best[-1]
        coinbase = CMutableTransaction(
            [CTxIn(COutPoint(), CScript([height, b"lnprototest"]), 0xFFFFFFFF)],
            [CTxOut(50 * COIN, CScript([OP_TRUE]))],
        )
        if any(tx.has_witness() for tx in txs):
            # BIP 141: commit to the witnesses (the coinbase's wtxid counts as zero).
            reserved = b"\x00" * 32
            wtxids = [b"\x00" * 32] + [tx.GetHash() for tx in txs]
            root = CBlock.build_merkle_tree_from_txids(wtxids)[-1]
            commitment = _sha256d(root + reserved)
            coinbase.vout.append(
                CTxOut(0, CScript([OP_RETURN, b"\xaa\x21\xa9\xed" + commitment]))
            )
            coinbase.wit = CTxWitness([CTxInWitness(CScriptWitness([reserved]))])
        vtx = [CTransaction.from_tx(coinbase)] + list(txs)
        nonce = 0
        while True:
            block = CBlock(
                nVersion=0x20000000,
                hashPrevBlock=prev.GetHash(),
                nTime=prev.nTime + 1,
                nBits=REGTEST_BITS,
                nNonce=nonce,
                vtx=vtx,
            )
            if int.from_bytes(block.GetHash(), "little") <= _target(REGTEST_BITS):
                return block
            nonce += 1

    # --- what the REST endpoints answer -------------------------------------------------

    def chain_info(self) -> dict:
        with self.lock:
            height = len(self.best) - 1
            return {
                "chain": "regtest",
                "blocks": height,
                "headers": height,
                "bestblockhash": b2lx(self.best[-1].GetHash()),
            }

    def hash_at(self, height: int) -> Optional[bytes]:
        with self.lock:
            if 0 <= height < len(self.best):
                return self.best[height].GetHash()
            return None

    def block_bytes(self, block_hash: bytes) -> Optional[bytes]:
        with self.lock:
            block = self.by_hash.get(block_hash)
        return None if block is None else block.serialize()

    def utxo(self, txid: bytes, vout: int) -> Optional[Tuple[int, CTxOut]]:
        """(height, output) if the output exists unspent on the best chain."""
        with self.lock:
            found: Optional[Tuple[int, CTxOut]] = None
            spent: Set[Tuple[bytes, int]] = set()
            for height, block in enumerate(self.best):
                for tx in block.vtx:
                    if not tx.is_coinbase():
                        for txin in tx.vin:
                            spent.add((txin.prevout.hash, txin.prevout.n))
                    if tx.GetTxid() == txid and vout < len(tx.vout):
                        found = (height, tx.vout[vout])
            if found is None or (txid, vout) in spent:
                return None
            return found

    def utxos_json(self, txid: bytes, vout: int) -> dict:
        with self.lock:
            height = len(self.best) - 1
            tip = b2lx(self.best[-1].GetHash())
        found = self.utxo(txid, vout)
        utxos = []
        if found is not None:
            at, out = found
            utxos.append(
                {
                    "height": at,
                    "value": out.nValue / COIN,
                    "scriptPubKey": {"hex": out.scriptPubKey.hex()},
                }
            )
        return {
            "chainHeight": height,
            "chaintipHash": tip,
            "bitmap": "1" if found is not None else "0",
            "utxos": utxos,
        }


class ChainServer:
    """Serves a RegtestChain on 127.0.0.1 (an ephemeral port), bitcoind-REST-shaped; see the
    module docstring. Counts what it served so the runner can wait for gossip-sieve to have
    followed a new tip instead of sleeping."""

    def __init__(self, chain: RegtestChain) -> None:
        self.chain = chain
        self.served = threading.Condition()
        # path -> times served
        self.counts: Dict[str, int] = {}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return "http://{}:{}".format(host, port)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def count(self, path: str) -> int:
        with self.served:
            return self.counts.get(path, 0)

    def wait_served(self, path: str, more_than: int, timeout: float) -> bool:
        """Waits until `path` was served more than `more_than` times."""
        with self.served:
            return self.served.wait_for(
                lambda: self.counts.get(path, 0) > more_than, timeout=timeout
            )

    def _note(self, path: str) -> None:
        with self.served:
            self.counts[path] = self.counts.get(path, 0) + 1
            self.served.notify_all()

    def _answer(self, path: str) -> Tuple[int, str, bytes]:
        chain = self.chain
        if path == "/rest/chaininfo.json":
            return 200, "application/json", json.dumps(chain.chain_info()).encode()
        m = re.fullmatch(r"/rest/blockhashbyheight/(\d+)\.bin", path)
        if m:
            found = chain.hash_at(int(m.group(1)))
            if found is None:
                return 404, "text/plain", b"Block height out of range\r\n"
            return 200, "application/octet-stream", found
        m = re.fullmatch(r"/rest/block/([0-9a-f]{64})\.bin", path)
        if m:
            block = chain.block_bytes(lx(m.group(1)))
            if block is None:
                return 404, "text/plain", (m.group(1) + " not found\r\n").encode()
            return 200, "application/octet-stream", block
        m = re.fullmatch(r"/rest/getutxos/([0-9a-f]{64})-(\d+)\.json", path)
        if m:
            reply = chain.utxos_json(lx(m.group(1)), int(m.group(2)))
            return 200, "application/json", json.dumps(reply).encode()
        return 404, "text/plain", b"not served by the lnprototest chain scaffolding\r\n"

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = self.path.split("?", 1)[0]
                status, content_type, body = server._answer(path)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                server._note(path)

            def log_message(self, format: str, *args) -> None:  # quiet
                pass

        return Handler
