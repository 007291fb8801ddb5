"""The runner's own check of what the six suite files never do: `trim_blocks`, i.e. a reorg.

lnprototest's `Block(blockheight=h)` below the tip trims the chain to h - 1 before mining; our
chain scaffolding then serves a best chain on which the funding transaction no longer exists,
and gossip-sieve must notice through its ordinary tip-following path (src/chain/follower.rs):
the funding "reorganized out", the channel forgotten `--chain-forget-delay-blocks` (12 here)
blocks later. Before the reorg the channel is served to a new peer; after it, not.

Run by tests/lnprototest.rs from this directory (it builds its runner itself: the suite's
conftest.py, which provides `--runner`, lives with the suite's files).
"""

import time
from typing import Any

import pytest
from lnprototest import (
    Block,
    Connect,
    Disconnect,
    ExpectMsg,
    Funding,
    Msg,
    MustNotMsg,
    RawMsg,
    Side,
)
from lnprototest.utils import tx_spendable, utxo

from gossip_sieve_runner import FORGET_DELAY_BLOCKS, Runner


class _Options:
    """The two pytest options lnprototest's Runner reads."""

    def getoption(self, name: str) -> Any:
        return {"verbose": False, "runner_args": []}[name]


@pytest.fixture()
def runner() -> Any:
    r = Runner(_Options())
    yield r
    r.teardown()


def _new_peer_asking_for_everything(runner: Runner) -> list:
    return [
        Connect(connprivkey="05"),
        ExpectMsg("init"),
        Msg(
            "init",
            globalfeatures=runner.runner_features(globals=True),
            features=runner.runner_features(additional_features=[3]),
        ),
    ]


def test_a_funding_reorganized_out_is_forgotten_after_the_delay(runner: Runner) -> None:
    funding, funding_tx = Funding.from_utxo(
        *utxo(0),
        local_node_privkey="02",
        local_funding_privkey="10",
        remote_node_privkey="03",
        remote_funding_privkey="20"
    )
    update = funding.channel_update(
        "103x1x0",
        Side.local,
        disable=False,
        cltv_expiry_delta=144,
        htlc_minimum_msat=0,
        fee_base_msat=1000,
        fee_proportional_millionths=10,
        timestamp=int(time.time()),
        htlc_maximum_msat=2000000,
    )
    reorg_blocks = 20
    test = (
        [
            Block(blockheight=102, txs=[tx_spendable]),
            Connect(connprivkey="03"),
            ExpectMsg("init"),
            Msg(
                "init",
                globalfeatures=runner.runner_features(globals=True),
                features=runner.runner_features(),
            ),
            Block(blockheight=103, number=6, txs=[funding_tx]),
            RawMsg(funding.channel_announcement("103x1x0", "")),
            RawMsg(update),
        ]
        + _new_peer_asking_for_everything(runner)
        + [
            ExpectMsg("channel_announcement", short_channel_id="103x1x0"),
            ExpectMsg("channel_update", short_channel_id="103x1x0"),
            Disconnect(),
            # A reorg from block 103 up: the funding transaction is on no block any more.
            Block(blockheight=103, number=reorg_blocks),
            # The follower saw it at the new tip; the delay counts from there.
            Block(blockheight=103 + reorg_blocks, number=FORGET_DELAY_BLOCKS),
        ]
        + _new_peer_asking_for_everything(runner)
        + [
            MustNotMsg("channel_announcement"),
            MustNotMsg("channel_update"),
        ]
    )
    runner.run(test)
    # The chain really was reorganised under the channel.
    assert runner.getblockheight() == 102 + reorg_blocks + FORGET_DELAY_BLOCKS
