//! Esplora HTTP API backend: `/blocks/tip/height`, `/block-height/:h`,
//! `/block/:hash/txid/:index`, `/tx/:txid` and `/tx/:txid/outspend/:vout`. The URL is the API
//! base, e.g. `http://127.0.0.1:3002` or `http://127.0.0.1:8080/api`.
//!
//! Esplora is resolved one transaction at a time, so the block cache holds what it learns per
//! transaction. A third-party Esplora is the least trusted source: every answer is checked
//! against what we asked (the transaction's block, its id), and disagreement is an error.

use bitcoin::{BlockHash, OutPoint, ScriptBuf, Txid};
use hyper::StatusCode;
use serde_json::Value;

use super::error::ChainError;
use super::http::{HttpAnswer, HttpClient};
use super::source::{
    parse_hash_hex, BackendKind, BlockOutputs, ChainFuture, ChainSource, ChainTip, OutputSummary,
    TxOutputs,
};

/// The most outputs one transaction may claim; larger answers are garbage (a 4 MB block holds
/// at most about 440,000 minimal outputs).
const MAX_OUTPUTS: usize = 500_000;

/// An Esplora server.
pub struct Esplora {
    http: HttpClient,
}

impl Esplora {
    pub fn new(http: HttpClient) -> Self {
        Esplora { http }
    }

    /// GET, `Ok(None)` on 404, an error on any other non-success.
    async fn get(&self, path: &str) -> Result<Option<HttpAnswer>, ChainError> {
        let answer = self.http.get(path).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !answer.status.is_success() {
            return Err(ChainError::HttpStatus(answer.status.as_u16()));
        }
        Ok(Some(answer))
    }

    async fn text(&self, path: &str) -> Result<Option<String>, ChainError> {
        match self.get(path).await? {
            None => Ok(None),
            Some(answer) => String::from_utf8(answer.body.to_vec())
                .map(Some)
                .map_err(|_| ChainError::Garbage(format!("{path}: not UTF-8"))),
        }
    }

    async fn json(&self, path: &str) -> Result<Option<Value>, ChainError> {
        match self.get(path).await? {
            None => Ok(None),
            Some(answer) => serde_json::from_slice(&answer.body)
                .map(Some)
                .map_err(|e| ChainError::Garbage(format!("{path}: not JSON: {e}"))),
        }
    }

    /// The outputs of `txid`, checked to be confirmed in `block`.
    async fn tx_outputs(&self, txid: Txid, block: BlockHash) -> Result<TxOutputs, ChainError> {
        let path = format!("/tx/{txid}");
        let tx = self.json(&path).await?.ok_or_else(|| {
            ChainError::Inconsistent(format!("{path}: listed in a block, not found"))
        })?;
        let claimed: Txid = parse_hash_hex(
            tx.get("txid")
                .and_then(Value::as_str)
                .ok_or_else(|| ChainError::Garbage(format!("{path}: no txid")))?,
        )?;
        if claimed != txid {
            return Err(ChainError::Inconsistent(format!(
                "{path}: answer is for {claimed}"
            )));
        }
        let in_block = tx
            .get("status")
            .and_then(|s| s.get("block_hash"))
            .and_then(Value::as_str)
            .map(parse_hash_hex::<BlockHash>)
            .transpose()?;
        if in_block != Some(block) {
            return Err(ChainError::Inconsistent(format!(
                "{path}: not confirmed in block {block}"
            )));
        }
        let vout = tx
            .get("vout")
            .and_then(Value::as_array)
            .ok_or_else(|| ChainError::Garbage(format!("{path}: no vout")))?;
        if vout.len() > MAX_OUTPUTS {
            return Err(ChainError::Garbage(format!(
                "{path}: {} outputs",
                vout.len()
            )));
        }
        let mut outputs = Vec::with_capacity(vout.len());
        for output in vout {
            let script = output
                .get("scriptpubkey")
                .and_then(Value::as_str)
                .ok_or_else(|| ChainError::Garbage(format!("{path}: output without script")))?;
            let script = ScriptBuf::from_hex(script)
                .map_err(|_| ChainError::Garbage(format!("{path}: script is not hex")))?;
            let value = output
                .get("value")
                .and_then(Value::as_u64)
                .ok_or_else(|| ChainError::Garbage(format!("{path}: output without value")))?;
            outputs.push(OutputSummary::of(&bitcoin::TxOut {
                value: bitcoin::Amount::from_sat(value),
                script_pubkey: script,
            }));
        }
        Ok(TxOutputs { txid, outputs })
    }
}

impl ChainSource for Esplora {
    fn kind(&self) -> BackendKind {
        BackendKind::Esplora
    }

    fn tip(&self) -> ChainFuture<'_, ChainTip> {
        Box::pin(async move {
            let text = self
                .text("/blocks/tip/height")
                .await?
                .ok_or(ChainError::HttpStatus(404))?;
            let height: u32 = text
                .trim()
                .parse()
                .map_err(|_| ChainError::Garbage(format!("tip height {:.40}", text.trim())))?;
            let hash = self.block_hash(height).await?.ok_or_else(|| {
                ChainError::Inconsistent(format!("tip height {height} has no block"))
            })?;
            Ok(ChainTip { height, hash })
        })
    }

    fn block_hash(&self, height: u32) -> ChainFuture<'_, Option<BlockHash>> {
        Box::pin(async move {
            match self.text(&format!("/block-height/{height}")).await? {
                None => Ok(None),
                Some(text) => Ok(Some(parse_hash_hex(&text)?)),
            }
        })
    }

    fn block_outputs(&self, hash: BlockHash, tx_index: u32) -> ChainFuture<'_, BlockOutputs> {
        Box::pin(async move {
            let Some(text) = self.text(&format!("/block/{hash}/txid/{tx_index}")).await? else {
                // No transaction at this index: the block has at most `tx_index` of them.
                return Ok(BlockOutputs {
                    tx_count: Some(tx_index),
                    complete: false,
                    txs: Vec::new(),
                });
            };
            let txid: Txid = parse_hash_hex(&text)?;
            let tx = self.tx_outputs(txid, hash).await?;
            Ok(BlockOutputs {
                tx_count: None,
                complete: false,
                txs: vec![(tx_index, tx)],
            })
        })
    }

    fn is_unspent(&self, outpoint: OutPoint) -> ChainFuture<'_, bool> {
        Box::pin(async move {
            let path = format!("/tx/{}/outspend/{}", outpoint.txid, outpoint.vout);
            let reply = self
                .json(&path)
                .await?
                .ok_or_else(|| ChainError::Inconsistent(format!("{path}: not found")))?;
            let spent = reply
                .get("spent")
                .and_then(Value::as_bool)
                .ok_or_else(|| ChainError::Garbage(format!("{path}: no spent flag")))?;
            // A spend still in the mempool has not closed the channel yet.
            let confirmed = reply
                .get("status")
                .and_then(|s| s.get("confirmed"))
                .and_then(Value::as_bool)
                .unwrap_or(true);
            Ok(!(spent && confirmed))
        })
    }

    fn block_spends(&self, _hash: BlockHash) -> ChainFuture<'_, Option<Vec<OutPoint>>> {
        Box::pin(async move { Ok(None) })
    }
}
