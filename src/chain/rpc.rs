//! bitcoind JSON-RPC backend: `getblockchaininfo`, `getblockhash`, `getblock <hash> 0` (the raw
//! block, parsed with the `bitcoin` crate) and `gettxout`. Authenticates with the cookie file or
//! a user and password (see [`super::http::Auth`]); the password never reaches a log line.

use std::sync::atomic::{AtomicU64, Ordering};

use bitcoin::{BlockHash, OutPoint};
use bytes::Bytes;
use serde_json::{json, Value};

use super::error::ChainError;
use super::http::HttpClient;
use super::source::{
    check_block, parse_block, parse_hash_hex, spends_of_block, tip_from_chain_info, BackendKind,
    BlockOutputs, ChainFuture, ChainSource, ChainTip,
};

/// bitcoind's "Block height out of range" (`RPC_INVALID_PARAMETER`).
const RPC_INVALID_PARAMETER: i64 = -8;

/// A bitcoind reached over JSON-RPC.
pub struct BitcoindRpc {
    http: HttpClient,
    next_id: AtomicU64,
}

impl BitcoindRpc {
    pub fn new(http: HttpClient) -> Self {
        BitcoindRpc {
            http,
            next_id: AtomicU64::new(1),
        }
    }

    /// Calls `method` and returns its `result`, or the node's error as [`ChainError::Rpc`].
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ChainError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = json!({"jsonrpc": "1.0", "id": id, "method": method, "params": params});
        let body = serde_json::to_vec(&request)
            .map_err(|e| ChainError::Config(format!("cannot encode request: {e}")))?;
        let answer = self.http.post_json(Bytes::from(body)).await?;
        let reply: Value = serde_json::from_slice(&answer.body).map_err(|e| {
            if answer.status.is_success() {
                ChainError::Garbage(format!("{method}: answer is not JSON: {e}"))
            } else {
                ChainError::HttpStatus(answer.status.as_u16())
            }
        })?;
        match reply.get("error") {
            Some(Value::Null) | None => {}
            Some(error) => {
                return Err(ChainError::Rpc {
                    code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                    message: error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .chars()
                        .take(200)
                        .collect(),
                })
            }
        }
        if reply.get("id").and_then(Value::as_u64) != Some(id) {
            return Err(ChainError::Inconsistent(format!(
                "{method}: answer carries another request's id"
            )));
        }
        reply
            .get("result")
            .cloned()
            .ok_or_else(|| ChainError::Garbage(format!("{method}: answer has no result")))
    }

    async fn raw_block(&self, hash: BlockHash) -> Result<bitcoin::Block, ChainError> {
        let result = self.call("getblock", json!([hash.to_string(), 0])).await?;
        let hex_text = result
            .as_str()
            .ok_or_else(|| ChainError::Garbage("getblock: result is not a hex string".into()))?;
        let bytes = hex::decode(hex_text)
            .map_err(|e| ChainError::Garbage(format!("getblock: bad hex: {e}")))?;
        let block = parse_block(&bytes)?;
        check_block(&block, hash)?;
        Ok(block)
    }
}

impl ChainSource for BitcoindRpc {
    fn kind(&self) -> BackendKind {
        BackendKind::BitcoindRpc
    }

    fn tip(&self) -> ChainFuture<'_, ChainTip> {
        Box::pin(async move {
            let info = self.call("getblockchaininfo", json!([])).await?;
            tip_from_chain_info(&info, "getblockchaininfo")
        })
    }

    fn block_hash(&self, height: u32) -> ChainFuture<'_, Option<BlockHash>> {
        Box::pin(async move {
            match self.call("getblockhash", json!([height])).await {
                Ok(Value::String(hash)) => Ok(Some(parse_hash_hex(&hash)?)),
                Ok(_) => Err(ChainError::Garbage("getblockhash: not a string".into())),
                Err(ChainError::Rpc { code, .. }) if code == RPC_INVALID_PARAMETER => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn block_outputs(&self, hash: BlockHash, _tx_index: u32) -> ChainFuture<'_, BlockOutputs> {
        Box::pin(async move { Ok(BlockOutputs::of_block(&self.raw_block(hash).await?)) })
    }

    fn is_unspent(&self, outpoint: OutPoint) -> ChainFuture<'_, bool> {
        Box::pin(async move {
            // include_mempool = false: a close sitting in the mempool has not closed anything.
            let result = self
                .call(
                    "gettxout",
                    json!([outpoint.txid.to_string(), outpoint.vout, false]),
                )
                .await?;
            match result {
                Value::Null => Ok(false),
                Value::Object(_) => Ok(true),
                _ => Err(ChainError::Garbage(
                    "gettxout: neither null nor an object".into(),
                )),
            }
        })
    }

    fn block_spends(&self, hash: BlockHash) -> ChainFuture<'_, Option<Vec<bitcoin::OutPoint>>> {
        Box::pin(async move { Ok(Some(spends_of_block(&self.raw_block(hash).await?.txdata))) })
    }
}
