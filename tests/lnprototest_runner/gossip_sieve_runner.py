"""lnprototest runner for gossip-sieve: `pytest --runner gossip_sieve_runner.Runner`.

lnprototest (the BOLT conformance suite, `lnprototest` 0.0.7 on PyPI) scripts message sequences
and drives an implementation through a `Runner`. This one runs the real `gossip-sieve run`
binary (path in `$GOSSIP_SIEVE_BIN`, else the workspace's release or debug build):

- with lnprototest's node key `01` (31 zero bytes then 0x01), written to `<data-dir>/node_secret`
  (mode 0600) before start, the file `run` loads its key from (src/peer/identity.rs);
- on regtest, listening on a loopback ephemeral port, dialling nobody;
- with the chain lnprototest builds served by regtest_chain.ChainServer (test scaffolding, see
  its docstring) to gossip-sieve's real `bitcoind-rest` backend, polled every second;
- with `--chain-forget-delay-blocks 12`: the suite's forget test predates BOLT 7's 72-block
  delay (README, "Conformance: lnprototest").

Peers connect over BOLT 8 with pyln-proto; each connection has one reader thread feeding a
queue, so a read that timed out never races the next one. Every restart (lnprototest restarts
between the branches of a `TryAll`) starts a fresh node on a fresh data dir and a fresh chain.

gossip-sieve opens no channels and holds no wallet: funding, HTLC, invoice and close operations
skip the test (`pytest.skip`; lnprototest 0.0.7 has no "not supported" error of its own, and
pytest's skip outcome is a BaseException, so it passes through the suite's
`except Exception` handlers and marks the test skipped rather than failed).
"""

import logging
import os
import queue
import shutil
import signal
import struct
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, cast

import pyln.proto.wire
import pytest
from bitcoin.core import b2lx
from lnprototest import (
    Conn,
    Event,
    EventError,
    ExpectDisconnect,
    KeySet,
    MustNotMsg,
    namespace,
)
import lnprototest

from regtest_chain import ChainServer, RegtestChain

# Seconds lnprototest waits for one message (ExpectMsg) and for a connection to end
# (check_final_error); generous because the machine is shared.
TIMEOUT = float(os.getenv("LNPROTOTEST_TIMEOUT", "30"))
# Seconds to wait for gossip-sieve to start or to follow a new tip.
READY_TIMEOUT = 60.0

# Quiet time after which nothing more is expected on a connection about to be checked for
# banned messages (see Runner._settle): the store flushes about every second.
SETTLE_SECS = float(os.getenv("LNPROTOTEST_SETTLE_SECS", "2"))
PING_TYPE = 18
PONG_TYPE = 19
# A ping asking for a pong of a size nothing else uses.
PING_BARRIER = struct.pack(">HHH", PING_TYPE, 4242, 0)

# lnprototest's `get_node_privkey()` "01", expanded as lnprototest does (privkey_expand).
NODE_SECRET = bytes(31) + b"\x01"
NODE_ID = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"

# What `has_option` answers: the optional ("odd") features gossip-sieve's init advertises
# (src/wire/bolt1.rs `our_init_features`), under the names lnprototest asks for.
OPTIONS: Dict[str, str] = {
    "option_data_loss_protect": "odd",
    "option_gossip_queries": "odd",
    "option_var_onion_optin": "odd",
    "option_static_remotekey": "odd",
}

# The one chain setting that differs from our defaults (see the module docstring).
FORGET_DELAY_BLOCKS = 12


def _binary() -> str:
    explicit = os.getenv("GOSSIP_SIEVE_BIN")
    if explicit:
        return explicit
    root = Path(__file__).resolve().parents[2]
    for build in ("release", "debug"):
        candidate = root / "target" / build / "gossip-sieve"
        if candidate.exists():
            return str(candidate)
    raise RuntimeError(
        "gossip-sieve binary not found: build it or set GOSSIP_SIEVE_BIN"
    )


class SieveConn(Conn):
    """A BOLT 8 connection to gossip-sieve as the node with key `connprivkey`."""

    def __init__(self, connprivkey: str, port: int):
        super().__init__(connprivkey)
        self.connection = pyln.proto.wire.connect(
            pyln.proto.wire.PrivateKey(bytes.fromhex(self.connprivkey.to_hex())),
            pyln.proto.wire.PublicKey(bytes.fromhex(NODE_ID)),
            "127.0.0.1",
            port,
        )
        # Messages read, then None once the connection ended.
        self.incoming: "queue.Queue[Optional[bytes]]" = queue.Queue()
        self.closed = False
        self.reader = threading.Thread(target=self._read_all, daemon=True)
        self.reader.start()

    def _read_all(self) -> None:
        while True:
            try:
                msg = self.connection.read_message()
            except Exception as e:  # EOF, reset, or a frame that does not decrypt
                logging.debug("connection %s ended: %s", self.name, e)
                self.incoming.put(None)
                return
            self.incoming.put(msg)

    def next_message(self, timeout: float) -> Optional[bytes]:
        """The next message, or None when the connection ended or nothing came in time."""
        if self.closed:
            return None
        try:
            msg = self.incoming.get(timeout=timeout)
        except queue.Empty:
            return None
        if msg is None:
            self.closed = True
        return msg

    def close(self) -> None:
        try:
            self.connection.connection.shutdown(2)
        except OSError:
            pass
        self.connection.connection.close()


def not_supported(what: str) -> None:
    pytest.skip("gossip-sieve does not {} (it opens no channels)".format(what))


class Runner(lnprototest.Runner):
    def __init__(self, config: Any):
        super().__init__(config)
        self.binary = _binary()
        self.chain = RegtestChain()
        self.server = ChainServer(self.chain)
        self.proc: Optional[subprocess.Popen] = None
        self.running = False
        self.starts = 0
        self.port = 0
        self.metrics = ""
        self.startup_flags: List[str] = [
            "--{}".format(flag) for flag in config.getoption("runner_args")
        ]

    # --- the node ----------------------------------------------------------------------

    def start(self) -> None:
        self.starts += 1
        data_dir = Path(self.directory) / "node-{}".format(self.starts)
        data_dir.mkdir(mode=0o700)
        secret = data_dir / "node_secret"
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(NODE_SECRET)
        self.log_path = data_dir / "gossip-sieve.log"
        self.log = open(self.log_path, "wb")
        args = [
            self.binary,
            "run",
            "--data-dir",
            str(data_dir),
            "--network",
            "regtest",
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            "--outbound-peers",
            "0",
            "--dns-seed",
            "none",
            "--chain",
            "bitcoind-rest",
            "--chain-url",
            self.server.url,
            "--chain-poll-interval-secs",
            "1",
            "--chain-forget-delay-blocks",
            str(FORGET_DELAY_BLOCKS),
        ] + self.startup_flags
        env = dict(os.environ)
        env.setdefault("GOSSIP_SIEVE_LOG", "info")
        for name in ("GOSSIP_SIEVE_CONFIG", "GOSSIP_SIEVE_NETWORK"):
            env.pop(name, None)
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=self.log, env=env
        )
        self.running = True
        listen = metrics = node_id = None
        assert self.proc.stdout is not None
        while listen is None or metrics is None or node_id is None:
            line = self.proc.stdout.readline().decode()
            if not line:
                raise RuntimeError(
                    "gossip-sieve exited at start:\n" + self.log_path.read_text()
                )
            key, _, value = line.strip().partition(" ")
            if key == "listening":
                listen = value
            elif key == "metrics":
                metrics = value
            elif key == "node_id":
                node_id = value
        if node_id != NODE_ID:
            raise RuntimeError(
                "gossip-sieve runs as {}, not {}".format(node_id, NODE_ID)
            )
        self.port = int(listen.rsplit(":", 1)[1])
        self.metrics = "http://{}/metrics".format(metrics)
        threading.Thread(
            target=self._drain, args=(self.proc.stdout,), daemon=True
        ).start()
        self._wait_tip_seen()

    @staticmethod
    def _drain(stream: Any) -> None:
        for _ in stream:
            pass

    def stop(self, print_logs: bool = False) -> None:
        for conn in self.conns.values():
            cast(SieveConn, conn).close()
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self.log.close()
            if print_logs:
                self.logger.info("---------- gossip-sieve log ----------")
                self.logger.info(self.log_path.read_text(errors="replace"))
        self.running = False

    def restart(self) -> None:
        self.stop()
        super().restart()
        self.chain.reset()
        self.start()

    def teardown(self) -> None:
        if self.running:
            self.stop()
        self.server.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def is_running(self) -> bool:
        return self.running

    def add_startup_flag(self, flag: str) -> None:
        self.startup_flags.append("--{}".format(flag))

    def has_option(self, optname: str) -> Optional[str]:
        return OPTIONS.get(optname)

    def get_node_privkey(self) -> str:
        return "01"

    def get_node_bitcoinkey(self) -> str:
        # Used only by channel tests, which skip; Core Lightning's runner's value.
        return "0000000000000000000000000000000000000000000000000000000000000010"

    def get_keyset(self) -> KeySet:
        # Used only by channel tests, which skip; Core Lightning's runner's values.
        return KeySet(
            revocation_base_secret="0000000000000000000000000000000000000000000000000000000000000011",
            payment_base_secret="0000000000000000000000000000000000000000000000000000000000000012",
            delayed_payment_base_secret="0000000000000000000000000000000000000000000000000000000000000013",
            htlc_base_secret="0000000000000000000000000000000000000000000000000000000000000014",
            shachain_seed="FF" * 32,
        )

    # --- the chain ---------------------------------------------------------------------

    def _tip_metric(self) -> Optional[int]:
        try:
            with urllib.request.urlopen(self.metrics, timeout=5) as reply:
                text = reply.read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("gossip_sieve_chain_tip_height "):
                return int(float(line.split()[1]))
        return None

    def _wait_tip_seen(self) -> None:
        """Waits until gossip-sieve's tip follower has polled the current tip: its tip metric
        shows the height and it asked for the chain's state again after that (the poll that
        saw the tip, and whatever it reported, is complete)."""
        height = self.chain.height()
        deadline = time.monotonic() + READY_TIMEOUT
        while self._tip_metric() != height:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "gossip-sieve never followed the tip to {}:\n{}".format(
                        height, self.log_path.read_text(errors="replace")
                    )
                )
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    "gossip-sieve exited:\n" + self.log_path.read_text(errors="replace")
                )
            time.sleep(0.05)
        polls = self.server.count("/rest/chaininfo.json")
        if not self.server.wait_served("/rest/chaininfo.json", polls, READY_TIMEOUT):
            raise RuntimeError("gossip-sieve stopped polling the chain")

    def getblockheight(self) -> int:
        return self.chain.height()

    def trim_blocks(self, newheight: int) -> None:
        self.chain.trim(newheight)

    def add_blocks(self, event: Event, txs: List[str], n: int) -> None:
        self.chain.add_blocks(txs, n)
        # The tip follower reads every new block for spends, the tip block last; once it has
        # read that and polled again, it has connected all of them.
        path = "/rest/block/{}.bin".format(b2lx(self.chain.tip_hash()))
        if not self.server.wait_served(path, 0, READY_TIMEOUT):
            raise EventError(event, "gossip-sieve never fetched the new tip block")
        self._wait_tip_seen()

    def expect_tx(self, event: Event, txid: str) -> None:
        not_supported("broadcast transactions")

    # --- peers -------------------------------------------------------------------------

    def connect(self, event: Event, connprivkey: str) -> None:
        self.add_conn(SieveConn(connprivkey, self.port))

    def recv(self, event: Event, conn: Conn, outbuf: bytes) -> None:
        try:
            cast(SieveConn, conn).connection.send_message(outbuf)
        except (BrokenPipeError, ConnectionResetError):
            msg = cast(SieveConn, conn).next_message(1)
            if msg:
                raise EventError(
                    event, "Connection closed after sending {}".format(msg.hex())
                )
            raise EventError(event, "Connection closed")

    def get_output_message(self, conn: Conn, event: Event) -> Optional[bytes]:
        return cast(SieveConn, conn).next_message(TIMEOUT)

    def check_error(self, event: Event, conn: Conn) -> Optional[str]:
        """ExpectError: the next message (hex), None if the connection ended first.
        ExpectDisconnect: None once the connection ended. A node failing a connection may say
        why first (gossip-sieve sends `error`, as Core Lightning does), so `error` and `warning`
        may come before the end; anything else first, or no end within the timeout, is
        returned (as hex) and fails the event."""
        super().check_error(event, conn)
        sieve = cast(SieveConn, conn)
        if not isinstance(event, ExpectDisconnect):
            msg = sieve.next_message(TIMEOUT)
            return None if msg is None else msg.hex()
        error_types = (
            namespace().get_msgtype("error").number,
            namespace().get_msgtype("warning").number,
        )
        while True:
            msg = sieve.next_message(TIMEOUT)
            if msg is None:
                if sieve.closed:
                    return None
                # Still connected: any non-None answer fails ExpectDisconnect.
                return "still connected after {}s".format(TIMEOUT).encode().hex()
            if struct.unpack(">H", msg[:2])[0] not in error_types:
                return msg.hex()

    def _check_banned(
        self, event: Event, binmsg: bytes, must_not_events: List[MustNotMsg]
    ) -> None:
        for e in must_not_events:
            if e.matches(binmsg):
                raise EventError(
                    event, "Got msg banned by {}: {}".format(e, binmsg.hex())
                )
        msgtype = struct.unpack(">H", binmsg[:2])[0]
        if msgtype == namespace().get_msgtype("error").number:
            raise EventError(event, "Got error msg: {}".format(binmsg.hex()))

    def _settle(
        self, event: Event, sieve: SieveConn, must_not_events: List[MustNotMsg]
    ) -> None:
        """Gives a banned message the chance to come before we hang up: a ping answered means
        the node processed everything we sent before it; then what it streams (from its store,
        flushed about every second) must arrive within SETTLE_SECS of quiet. Without this the
        garbage frame below ends the connection before a stream starts, and a MustNotMsg could
        never fail (this runner's own test checks that it can)."""
        sieve.connection.send_message(PING_BARRIER)
        pong_seen = False
        while True:
            binmsg = sieve.next_message(SETTLE_SECS if pong_seen else TIMEOUT)
            if binmsg is None:
                if sieve.closed or pong_seen:
                    return
                raise EventError(event, "gossip-sieve did not answer a ping")
            msgtype = struct.unpack(">H", binmsg[:2])[0]
            if msgtype == PONG_TYPE:
                pong_seen = True
                continue
            if msgtype == PING_TYPE:
                num_pong_bytes = struct.unpack(">H", binmsg[2:4])[0]
                if num_pong_bytes < 65532:
                    pong = struct.pack(">HH", PONG_TYPE, num_pong_bytes) + bytes(
                        num_pong_bytes
                    )
                    sieve.connection.send_message(pong)
                continue
            self._check_banned(event, binmsg, must_not_events)

    def check_final_error(
        self,
        event: Event,
        conn: Conn,
        expected: bool,
        must_not_events: List[MustNotMsg],
    ) -> None:
        sieve = cast(SieveConn, conn)
        if not expected:
            if must_not_events:
                self._settle(event, sieve, must_not_events)
            # As Core Lightning's runner: a frame that cannot decrypt makes the node hang up
            # after it processed everything sent before it; every message up to the hang-up
            # is checked against the banned ones.
            sieve.connection.connection.send(bytes(18))
            while True:
                binmsg = sieve.next_message(TIMEOUT)
                if binmsg is None:
                    if not sieve.closed:
                        raise EventError(
                            event, "gossip-sieve did not hang up on garbage"
                        )
                    break
                self._check_banned(event, binmsg, must_not_events)
        sieve.close()

    # --- channel operations gossip-sieve does not have ---------------------------------

    def fundchannel(
        self,
        event: Event,
        conn: Conn,
        amount: int,
        feerate: int = 0,
        expect_fail: bool = False,
    ) -> None:
        not_supported("fund channels")

    def init_rbf(
        self,
        event: Event,
        conn: Conn,
        channel_id: str,
        amount: int,
        utxo_txid: str,
        utxo_outnum: int,
        feerate: int,
    ) -> None:
        not_supported("fund channels")

    def invoice(self, event: Event, amount: int, preimage: str) -> None:
        not_supported("create invoices")

    def accept_add_fund(self, event: Event) -> None:
        not_supported("fund channels")

    def addhtlc(self, event: Event, conn: Conn, amount: int, preimage: str) -> None:
        not_supported("add HTLCs")

    def close_channel(self, channel_id: str) -> None:
        not_supported("close channels")
