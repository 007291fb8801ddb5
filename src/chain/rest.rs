//! bitcoind REST backend (`-rest`): `chaininfo.json`, `blockhashbyheight/<h>.bin`,
//! `block/<hash>.bin` and `getutxos/<txid>-<n>.json`. The URL is the node's base, e.g.
//! `http://127.0.0.1:8332`; paths go under `/rest/`. REST has no authentication: bind it to
//! the loopback.

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, OutPoint};
use hyper::StatusCode;
use serde_json::Value;

use super::error::ChainError;
use super::http::{HttpAnswer, HttpClient};
use super::source::{
    check_block, parse_block, spends_of_block, tip_from_chain_info, BackendKind, BlockOutputs,
    ChainFuture, ChainSource, ChainTip,
};

/// A bitcoind reached over its REST interface.
pub struct BitcoindRest {
    http: HttpClient,
}

impl BitcoindRest {
    pub fn new(http: HttpClient) -> Self {
        BitcoindRest { http }
    }

    async fn ok(&self, path: &str) -> Result<HttpAnswer, ChainError> {
        let answer = self.http.get(&format!("/rest{path}")).await?;
        if !answer.status.is_success() {
            return Err(ChainError::HttpStatus(answer.status.as_u16()));
        }
        Ok(answer)
    }

    async fn raw_block(&self, hash: BlockHash) -> Result<bitcoin::Block, ChainError> {
        let answer = self.ok(&format!("/block/{hash}.bin")).await?;
        let block = parse_block(&answer.body)?;
        check_block(&block, hash)?;
        Ok(block)
    }
}

fn json(answer: &HttpAnswer, what: &str) -> Result<Value, ChainError> {
    serde_json::from_slice(&answer.body)
        .map_err(|e| ChainError::Garbage(format!("{what}: not JSON: {e}")))
}

impl ChainSource for BitcoindRest {
    fn kind(&self) -> BackendKind {
        BackendKind::BitcoindRest
    }

    fn tip(&self) -> ChainFuture<'_, ChainTip> {
        Box::pin(async move {
            let info = json(&self.ok("/chaininfo.json").await?, "chaininfo")?;
            tip_from_chain_info(&info, "chaininfo")
        })
    }

    fn block_hash(&self, height: u32) -> ChainFuture<'_, Option<BlockHash>> {
        Box::pin(async move {
            let answer = self
                .http
                .get(&format!("/rest/blockhashbyheight/{height}.bin"))
                .await?;
            // bitcoind answers 404 ("Block height out of range") past the tip.
            if answer.status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !answer.status.is_success() {
                return Err(ChainError::HttpStatus(answer.status.as_u16()));
            }
            // The .bin form is the 32 hash bytes in wire (internal) order.
            BlockHash::from_slice(&answer.body)
                .map(Some)
                .map_err(|_| ChainError::Garbage("blockhashbyheight: not 32 bytes".into()))
        })
    }

    fn block_outputs(&self, hash: BlockHash, _tx_index: u32) -> ChainFuture<'_, BlockOutputs> {
        Box::pin(async move { Ok(BlockOutputs::of_block(&self.raw_block(hash).await?)) })
    }

    fn is_unspent(&self, outpoint: OutPoint) -> ChainFuture<'_, bool> {
        Box::pin(async move {
            let path = format!("/getutxos/{}-{}.json", outpoint.txid, outpoint.vout);
            let reply = json(&self.ok(&path).await?, "getutxos")?;
            // "bitmap" has one character per outpoint asked: '1' unspent, '0' not.
            match reply.get("bitmap").and_then(Value::as_str) {
                Some("1") => Ok(true),
                Some("0") => Ok(false),
                _ => Err(ChainError::Garbage(
                    "getutxos: bitmap is not \"0\" or \"1\"".into(),
                )),
            }
        })
    }

    fn block_spends(&self, hash: BlockHash) -> ChainFuture<'_, Option<Vec<OutPoint>>> {
        Box::pin(async move { Ok(Some(spends_of_block(&self.raw_block(hash).await?.txdata))) })
    }
}
