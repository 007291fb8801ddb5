//! The bitcoind REST and Esplora backends against in-test HTTP servers.
//!
//! The servers here are **test doubles**: small hyper servers that implement exactly the
//! documented endpoints the backends use (REST: `chaininfo.json`, `blockhashbyheight/<h>.bin`,
//! `block/<hash>.bin`, `getutxos/<txid>-<n>.json`; Esplora: `/blocks/tip/height`,
//! `/block-height/:h`, `/block/:hash/txid/:index`, `/tx/:txid`, `/tx/:txid/outspend/:vout`) over
//! one shared synthetic chain of real segwit blocks (`chain_common`). They do not cover a real
//! bitcoind's or Esplora's quirks beyond those documented answers; the RPC backend is tested
//! against a real node in `chain_rpc.rs`. They can also misbehave on demand (lie about a block,
//! send garbage, send too much) to check each becomes a clear error.

mod chain_common;

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, OutPoint, Txid};
use bytes::Bytes;
use chain_common::{claim, funding_tx, key, scenario, spend_tx, Fixture, Scenario};
use gossip_sieve::chain::esplora::Esplora;
use gossip_sieve::chain::funding::funding_script_pubkey;
use gossip_sieve::chain::http::{Auth, HttpClient, HttpLimits};
use gossip_sieve::chain::rest::BitcoindRest;
use gossip_sieve::chain::{
    ChainError, ChainMetrics, ChainSource, ChainValidator, CloseCause, FollowerConfig,
    FundingRejection, LookupOutcome, TipFollower, ValidatorConfig,
};
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde_json::json;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Api {
    Rest,
    Esplora,
}

const HONEST: u8 = 0;
/// Answers for another block or transaction than the one asked.
const LIES: u8 = 1;
/// Answers with bytes that do not parse.
const GARBAGE: u8 = 2;
/// Answers with 2 MiB for everything.
const HUGE: u8 = 3;

/// Test double of a bitcoind REST or Esplora server over a [`Fixture`].
struct Double {
    api: Api,
    fixture: Mutex<Fixture>,
    mode: AtomicU8,
    /// Whole blocks served (REST `block/<hash>.bin`).
    blocks_served: AtomicUsize,
}

type Answer = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Answer {
    Response::builder()
        .status(status)
        .body(Full::new(body.into()))
        .unwrap()
}

fn not_found() -> Answer {
    reply(StatusCode::NOT_FOUND, "not found")
}

impl Double {
    fn answer(&self, path: &str) -> Answer {
        match self.mode.load(Ordering::SeqCst) {
            GARBAGE => return reply(StatusCode::OK, "{\"blocks\": tru"),
            HUGE => return reply(StatusCode::OK, vec![b'7'; 2 * 1024 * 1024]),
            _ => {}
        }
        let lies = self.mode.load(Ordering::SeqCst) == LIES;
        let fixture = self.fixture.lock();
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        match (self.api, parts.as_slice()) {
            (Api::Rest, ["rest", "chaininfo.json"]) => reply(
                StatusCode::OK,
                json!({"chain": "regtest", "blocks": fixture.tip_height(),
                       "bestblockhash": fixture.tip_hash().to_string()})
                .to_string(),
            ),
            (Api::Rest, ["rest", "blockhashbyheight", file]) => {
                let Some(h) = file
                    .strip_suffix(".bin")
                    .and_then(|h| h.parse::<usize>().ok())
                else {
                    return reply(StatusCode::BAD_REQUEST, "bad height");
                };
                match fixture.blocks.get(h) {
                    Some(b) => reply(StatusCode::OK, b.block_hash().to_byte_array().to_vec()),
                    None => not_found(),
                }
            }
            (Api::Rest, ["rest", "block", file]) => {
                let Some(hash) = file
                    .strip_suffix(".bin")
                    .and_then(|h| h.parse::<BlockHash>().ok())
                else {
                    return reply(StatusCode::BAD_REQUEST, "bad hash");
                };
                match fixture.height_of(&hash) {
                    Some(h) => {
                        self.blocks_served.fetch_add(1, Ordering::SeqCst);
                        let served = if lies {
                            (h as usize + 1) % fixture.blocks.len()
                        } else {
                            h as usize
                        };
                        reply(
                            StatusCode::OK,
                            bitcoin::consensus::serialize(&fixture.blocks[served]),
                        )
                    }
                    None => not_found(),
                }
            }
            (Api::Rest, ["rest", "getutxos", file]) => {
                let Some((txid, vout)) = file
                    .strip_suffix(".json")
                    .and_then(|f| f.split_once('-'))
                    .and_then(|(t, n)| Some((t.parse::<Txid>().ok()?, n.parse::<u32>().ok()?)))
                else {
                    return reply(StatusCode::BAD_REQUEST, "bad outpoint");
                };
                let unspent = fixture.is_unspent(&OutPoint { txid, vout });
                reply(
                    StatusCode::OK,
                    json!({"chainHeight": fixture.tip_height(),
                           "chaintipHash": fixture.tip_hash().to_string(),
                           "bitmap": if unspent { "1" } else { "0" },
                           "utxos": []})
                    .to_string(),
                )
            }
            (Api::Esplora, ["blocks", "tip", "height"]) => {
                reply(StatusCode::OK, fixture.tip_height().to_string())
            }
            (Api::Esplora, ["block-height", h]) => {
                match h.parse::<usize>().ok().and_then(|h| fixture.blocks.get(h)) {
                    Some(b) => reply(StatusCode::OK, b.block_hash().to_string()),
                    None => not_found(),
                }
            }
            (Api::Esplora, ["block", hash, "txid", index]) => {
                let block = hash
                    .parse::<BlockHash>()
                    .ok()
                    .and_then(|h| fixture.height_of(&h))
                    .and_then(|h| fixture.blocks.get(h as usize));
                match (block, index.parse::<usize>().ok()) {
                    (Some(b), Some(i)) => match b.txdata.get(i) {
                        Some(tx) => reply(StatusCode::OK, tx.compute_txid().to_string()),
                        None => not_found(),
                    },
                    _ => not_found(),
                }
            }
            (Api::Esplora, ["tx", txid]) => {
                let Some((height, tx)) =
                    txid.parse::<Txid>().ok().and_then(|t| fixture.find_tx(&t))
                else {
                    return not_found();
                };
                let in_block = if lies {
                    (height as usize + 1) % fixture.blocks.len()
                } else {
                    height as usize
                };
                let vout: Vec<_> = tx
                    .output
                    .iter()
                    .map(|o| {
                        json!({"scriptpubkey": o.script_pubkey.to_hex_string(),
                                    "value": o.value.to_sat()})
                    })
                    .collect();
                reply(
                    StatusCode::OK,
                    json!({"txid": tx.compute_txid().to_string(), "vout": vout,
                           "status": {"confirmed": true, "block_height": in_block,
                                      "block_hash": fixture.blocks[in_block].block_hash().to_string()}})
                    .to_string(),
                )
            }
            (Api::Esplora, ["tx", txid, "outspend", vout]) => {
                let (Ok(txid), Ok(vout)) = (txid.parse::<Txid>(), vout.parse::<u32>()) else {
                    return reply(StatusCode::BAD_REQUEST, "bad outpoint");
                };
                let spent = fixture.is_spent(&OutPoint { txid, vout });
                reply(
                    StatusCode::OK,
                    json!({"spent": spent, "status": {"confirmed": spent}}).to_string(),
                )
            }
            _ => not_found(),
        }
    }
}

/// Starts the double on a loopback port; returns it and the base URL.
async fn serve(api: Api, fixture: Fixture) -> (Arc<Double>, String) {
    let double = Arc::new(Double {
        api,
        fixture: Mutex::new(fixture),
        mode: AtomicU8::new(HONEST),
        blocks_served: AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = Arc::clone(&double);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let double = Arc::clone(&server);
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let answer = double.answer(req.uri().path());
                        async move { Ok::<_, std::convert::Infallible>(answer) }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (double, url)
}

fn limits() -> HttpLimits {
    HttpLimits {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        retries: 1,
        retry_backoff: Duration::from_millis(10),
        max_response_bytes: 1024 * 1024,
    }
}

fn source(api: Api, url: &str) -> Arc<dyn ChainSource> {
    let http = HttpClient::new(url, Auth::None, limits()).unwrap();
    match api {
        Api::Rest => Arc::new(BitcoindRest::new(http)),
        Api::Esplora => Arc::new(Esplora::new(http)),
    }
}

fn validator(source: &Arc<dyn ChainSource>) -> ChainValidator {
    ChainValidator::new(
        Arc::clone(source),
        ValidatorConfig {
            tip_refresh: Duration::ZERO,
            ..ValidatorConfig::default()
        },
        ChainMetrics::unregistered(source.kind()),
        tokio::runtime::Handle::current(),
    )
}

async fn the_rule_holds(api: Api) {
    let Scenario {
        fixture,
        good,
        mismatch,
        spent,
        ..
    } = scenario();
    let (_double, url) = serve(api, fixture).await;
    let source = source(api, &url);
    let v = validator(&source);
    match v.validate(good).await {
        LookupOutcome::Accepted(out) => assert_eq!(out.amount_sat, 500_000, "{api:?}"),
        other => panic!("{api:?}: {other:?}"),
    }
    let rejected = |r| LookupOutcome::Rejected(r);
    assert_eq!(
        v.validate(mismatch).await,
        rejected(FundingRejection::ScriptMismatch),
        "{api:?}"
    );
    assert_eq!(
        v.validate(spent).await,
        rejected(FundingRejection::Spent),
        "{api:?}"
    );
    // No transaction 9 in block 1; no output 5 in tx 1; no block 50.
    assert_eq!(
        v.validate(claim(1, 9, 1, 1, 2)).await,
        rejected(FundingRejection::NotFound),
        "{api:?}"
    );
    assert_eq!(
        v.validate(claim(1, 1, 5, 1, 2)).await,
        rejected(FundingRejection::NotFound),
        "{api:?}"
    );
    assert_eq!(
        v.validate(claim(50, 1, 1, 1, 2)).await,
        rejected(FundingRejection::NotFound),
        "{api:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_applies_the_funding_rule() {
    the_rule_holds(Api::Rest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esplora_applies_the_funding_rule() {
    the_rule_holds(Api::Esplora).await;
}

async fn unconfirmed_then_accepted(api: Api) {
    let (double, url) = serve(api, scenario().fixture).await;
    let source = source(api, &url);
    let v = validator(&source);
    let tx = funding_tx(9, funding_script_pubkey(&key(8), &key(9)).unwrap(), 123_456);
    let height = double.fixture.lock().mine(vec![tx]);
    let (rx, _slot) = v.lookup(v.admit().await, claim(height, 1, 1, 8, 9));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while v.health().parked == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{api:?}: never parked"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    double.fixture.lock().mine_empty(5);
    v.retry_parked();
    let outcome = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(outcome, LookupOutcome::Accepted(out) if out.amount_sat == 123_456),
        "{api:?}: {outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_unconfirmed_waits_then_is_accepted() {
    unconfirmed_then_accepted(Api::Rest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esplora_unconfirmed_waits_then_is_accepted() {
    unconfirmed_then_accepted(Api::Esplora).await;
}

async fn spend_is_followed_and_forgotten(api: Api) {
    let Scenario {
        fixture,
        good,
        good_outpoint,
        ..
    } = scenario();
    let (double, url) = serve(api, fixture).await;
    let source = source(api, &url);
    let mut follower = TipFollower::new(
        Arc::clone(&source),
        FollowerConfig {
            forget_delay: 4,
            history: 10,
            ..FollowerConfig::default()
        },
    );
    follower.watch_handle().watch(good.scid, good_outpoint);
    follower.poll().await.unwrap();
    let spent_at = double.fixture.lock().mine(vec![spend_tx(good_outpoint)]);
    let report = follower.poll().await.unwrap();
    assert_eq!(
        report.closed,
        vec![(good.scid, CloseCause::Spent)],
        "{api:?}"
    );
    double.fixture.lock().mine_empty(3);
    assert!(
        follower.poll().await.unwrap().forget.is_empty(),
        "{api:?}: before the delay"
    );
    double.fixture.lock().mine_empty(1);
    let report = follower.poll().await.unwrap();
    assert_eq!(
        report.forget,
        vec![good.scid],
        "{api:?} at {}",
        spent_at + 4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_follower_forgets_a_spent_channel_after_the_delay() {
    spend_is_followed_and_forgotten(Api::Rest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esplora_follower_forgets_a_spent_channel_after_the_delay() {
    spend_is_followed_and_forgotten(Api::Esplora).await;
}

async fn misbehaviour_is_a_clear_error(api: Api) {
    let (double, url) = serve(api, scenario().fixture).await;
    let source = source(api, &url);
    let hash = source.block_hash(1).await.unwrap().unwrap();

    double.mode.store(LIES, Ordering::SeqCst);
    let lie = source.block_outputs(hash, 1).await.unwrap_err();
    assert!(matches!(lie, ChainError::Inconsistent(_)), "{api:?}: {lie}");

    double.mode.store(GARBAGE, Ordering::SeqCst);
    let garbage = source.tip().await.unwrap_err();
    assert!(
        matches!(garbage, ChainError::Garbage(_)),
        "{api:?}: {garbage}"
    );

    double.mode.store(HUGE, Ordering::SeqCst);
    let huge = source.block_outputs(hash, 1).await.unwrap_err();
    assert_eq!(huge, ChainError::TooLarge(1024 * 1024), "{api:?}");

    double.mode.store(HONEST, Ordering::SeqCst);
    assert!(
        source.block_outputs(hash, 1).await.is_ok(),
        "{api:?}: recovers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_lies_garbage_and_floods_are_errors() {
    misbehaviour_is_a_clear_error(Api::Rest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esplora_lies_garbage_and_floods_are_errors() {
    misbehaviour_is_a_clear_error(Api::Esplora).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_block_cache_fetches_a_block_once_for_many_channels() {
    let mut fixture = scenario().fixture;
    let txs: Vec<_> = (0..20u8)
        .map(|n| {
            funding_tx(
                100 + n,
                funding_script_pubkey(&key(20 + n), &key(60 + n)).unwrap(),
                1_000 + u64::from(n),
            )
        })
        .collect();
    let height = fixture.mine(txs);
    fixture.mine_empty(6);
    let (double, url) = serve(Api::Rest, fixture).await;
    let source = source(Api::Rest, &url);
    let v = validator(&source);
    let lookups: Vec<_> = (0..20u8)
        .map(|n| {
            let v = v.clone();
            tokio::spawn(async move {
                v.validate(claim(height, 1 + u32::from(n), 1, 20 + n, 60 + n))
                    .await
            })
        })
        .collect();
    for lookup in lookups {
        assert!(matches!(lookup.await.unwrap(), LookupOutcome::Accepted(_)));
    }
    let misses = v
        .metrics()
        .cache_lookups
        .with_label_values(&["block", "miss"])
        .get();
    let hits = v
        .metrics()
        .cache_lookups
        .with_label_values(&["block", "hit"])
        .get();
    assert_eq!(hits + misses, 20);
    // Twenty channels of one block, looked up at once: one block fetch.
    assert_eq!(
        double.blocks_served.load(Ordering::SeqCst),
        1,
        "hits {hits}, misses {misses}"
    );
}
