//! The funding rule: a channel_announcement names a real, confirmed, unspent output whose script
//! is the P2WSH of the 2-of-2 multisig of its two bitcoin keys.
//!
//! This file holds the pure parts (the expected script, the per-output check, the verdicts);
//! [`super::validator`] does the fetching and applies them in order.

use bitcoin::blockdata::opcodes::all::OP_CHECKMULTISIG;
use bitcoin::blockdata::script::Builder;
use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, ScriptBuf, WScriptHash};

use crate::wire::scid::ShortChannelId;

use super::source::TxOutputs;

/// What the pipeline asks about one channel_announcement (after its signatures verified).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FundingClaim {
    pub scid: ShortChannelId,
    pub bitcoin_key_1: [u8; 33],
    pub bitcoin_key_2: [u8; 33],
}

/// Why a channel_announcement's funding output does not back it. `as_str` gives the DESIGN §7
/// drop reason labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FundingRejection {
    /// No block at that height, no transaction at that index, or no output at that index.
    NotFound,
    /// The output exists but is not the P2WSH of the 2-of-2 of the announced bitcoin keys.
    ScriptMismatch,
    /// The output was spent (the channel is closed).
    Spent,
    /// The output is not yet buried under the minimum depth.
    Unconfirmed,
}

impl FundingRejection {
    pub const ALL: [FundingRejection; 4] = [
        FundingRejection::NotFound,
        FundingRejection::ScriptMismatch,
        FundingRejection::Spent,
        FundingRejection::Unconfirmed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FundingRejection::NotFound => "funding_not_found",
            FundingRejection::ScriptMismatch => "funding_script_mismatch",
            FundingRejection::Spent => "funding_spent",
            FundingRejection::Unconfirmed => "funding_unconfirmed",
        }
    }

    /// A later block can change this answer without a reorg (only depth can).
    pub fn may_change(self) -> bool {
        matches!(self, FundingRejection::Unconfirmed)
    }
}

/// The funding output a channel_announcement was checked against, when it was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FundingOutput {
    pub outpoint: OutPoint,
    pub amount_sat: u64,
}

/// BOLT 3 "Funding Transaction Output":
/// "The funding output script is a P2WSH to: `2 <pubkey1> <pubkey2> 2 OP_CHECKMULTISIG`"
/// "Where `pubkey1` is the lexicographically lesser of the two `funding_pubkey` in compressed
/// format, and where `pubkey2` is the lexicographically greater of the two."
///
/// `None` when a key is not a valid compressed point (no output can be the P2WSH of it).
pub fn funding_witness_script(key_a: &[u8; 33], key_b: &[u8; 33]) -> Option<ScriptBuf> {
    let a = bitcoin::PublicKey::from_slice(key_a).ok()?;
    let b = bitcoin::PublicKey::from_slice(key_b).ok()?;
    if !a.compressed || !b.compressed {
        return None;
    }
    // Compressed keys compare lexicographically as their 33 serialized bytes.
    let (lesser, greater) = if key_a <= key_b { (a, b) } else { (b, a) };
    Some(
        Builder::new()
            .push_int(2)
            .push_key(&lesser)
            .push_key(&greater)
            .push_int(2)
            .push_opcode(OP_CHECKMULTISIG)
            .into_script(),
    )
}

/// The P2WSH script hash the funding output of `claim` must pay to: the SHA-256 of BOLT 3's
/// witness script `OP_2 <lesser> <greater> OP_2 OP_CHECKMULTISIG`, laid out from the keys'
/// bytes as they are (71 bytes, no allocation).
///
/// The keys are not parsed as points here: the pipeline asks only after `bitcoin_signature_1`
/// and `bitcoin_signature_2` verified against them (a non-point verifies nothing), and store
/// re-checks ask about announcements verified when they were stored. Parsing them again cost
/// two point decompressions, about 10 µs per channel (2 % of the demo's CPU). Only the
/// compressed-key prefix is checked: BOLT 3 writes the keys "in compressed format".
pub fn expected_p2wsh(claim: &FundingClaim) -> Option<[u8; 32]> {
    const OP_2: u8 = 0x52;
    const PUSH_33: u8 = 33;
    let (a, b) = (&claim.bitcoin_key_1, &claim.bitcoin_key_2);
    if !matches!(a[0], 0x02 | 0x03) || !matches!(b[0], 0x02 | 0x03) {
        return None;
    }
    let (lesser, greater) = if a <= b { (a, b) } else { (b, a) };
    let mut script = [0u8; 71];
    script[0] = OP_2;
    script[1] = PUSH_33;
    script[2..35].copy_from_slice(lesser);
    script[35] = PUSH_33;
    script[36..69].copy_from_slice(greater);
    script[69] = OP_2;
    script[70] = OP_CHECKMULTISIG.to_u8();
    Some(WScriptHash::hash(&script).to_byte_array())
}

/// The P2WSH output script (`OP_0 <32-byte hash>`) for the two keys, as a funding transaction
/// carries it.
pub fn funding_script_pubkey(key_a: &[u8; 33], key_b: &[u8; 33]) -> Option<ScriptBuf> {
    funding_witness_script(key_a, key_b).map(|script| ScriptBuf::new_p2wsh(&script.wscript_hash()))
}

/// The P2WSH of the 2-of-2 with the keys in *descending* order: what an implementation that
/// forgets BOLT 3's sorting would pay to. Never a valid funding output (unless the keys are
/// equal); used by tests and by the demo's fabricated channels.
pub fn unsorted_funding_script_pubkey(key_a: &[u8; 33], key_b: &[u8; 33]) -> ScriptBuf {
    let (greater, lesser) = if key_a >= key_b {
        (key_a, key_b)
    } else {
        (key_b, key_a)
    };
    let witness_script = Builder::new()
        .push_int(2)
        .push_slice(greater)
        .push_slice(lesser)
        .push_int(2)
        .push_opcode(OP_CHECKMULTISIG)
        .into_script();
    ScriptBuf::new_p2wsh(&witness_script.wscript_hash())
}

/// Checks the output `claim.scid` names inside its transaction (`None`: no transaction at
/// that index). Existence and script only; depth and spentness need the chain.
pub fn check_output(
    claim: &FundingClaim,
    tx: Option<&TxOutputs>,
) -> Result<FundingOutput, FundingRejection> {
    // BOLT 7, channel_announcement, the origin node: "MUST set `short_channel_id` to refer to
    // the confirmed funding transaction" ... "Note: the corresponding output MUST be a P2WSH,
    // as described in BOLT #3".
    let tx = tx.ok_or(FundingRejection::NotFound)?;
    let output = tx
        .outputs
        .get(usize::from(claim.scid.output_index))
        .ok_or(FundingRejection::NotFound)?;
    // BOLT 7, the receiving node: "if the `short_channel_id`'s output does NOT correspond to a
    // P2WSH (using `bitcoin_key_1` and `bitcoin_key_2`, as specified in BOLT #3) OR the output
    // is spent: MUST ignore the message."
    let expected = expected_p2wsh(claim).ok_or(FundingRejection::ScriptMismatch)?;
    if output.p2wsh != Some(expected) {
        return Err(FundingRejection::ScriptMismatch);
    }
    Ok(FundingOutput {
        outpoint: OutPoint {
            txid: tx.txid,
            vout: u32::from(claim.scid.output_index),
        },
        amount_sat: output.value_sat,
    })
}

/// Confirmations of a block at `height` when the tip is at `tip` (the tip block itself is 1).
pub fn confirmations(height: u32, tip: u32) -> u32 {
    if height > tip {
        0
    } else {
        tip - height + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::source::OutputSummary;
    use bitcoin::Txid;
    use secp256k1::{PublicKey, Secp256k1, SecretKey};

    fn key(byte: u8) -> [u8; 33] {
        let secp = Secp256k1::new();
        let secret = SecretKey::from_slice(&[byte; 32]).unwrap();
        PublicKey::from_secret_key(&secp, &secret).serialize()
    }

    fn claim(k1: [u8; 33], k2: [u8; 33], vout: u16) -> FundingClaim {
        FundingClaim {
            scid: ShortChannelId::new(700_000, 5, vout).unwrap(),
            bitcoin_key_1: k1,
            bitcoin_key_2: k2,
        }
    }

    fn tx_paying(script: &ScriptBuf, value_sat: u64) -> TxOutputs {
        TxOutputs {
            txid: Txid::all_zeros(),
            outputs: vec![
                OutputSummary {
                    value_sat: 1,
                    p2wsh: None,
                },
                OutputSummary::of(&bitcoin::TxOut {
                    value: bitcoin::Amount::from_sat(value_sat),
                    script_pubkey: script.clone(),
                }),
            ],
        }
    }

    /// BOLT 3 Appendix B: funding pubkeys 023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb
    /// and 030e9f7b623d2ccc7c9bd44d66d5ce21ce504c0acf6385a132cec6d3c39fa711c1 give the witness
    /// script 5221023da0...54eb21030e9f...11c152ae.
    #[test]
    fn bolt3_appendix_b_funding_script() {
        let local: [u8; 33] =
            hex::decode("023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb")
                .unwrap()
                .try_into()
                .unwrap();
        let remote: [u8; 33] =
            hex::decode("030e9f7b623d2ccc7c9bd44d66d5ce21ce504c0acf6385a132cec6d3c39fa711c1")
                .unwrap()
                .try_into()
                .unwrap();
        let expected = "5221023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb21030e9f7b623d2ccc7c9bd44d66d5ce21ce504c0acf6385a132cec6d3c39fa711c152ae";
        // Either argument order gives the same script: BOLT 3 sorts the keys.
        assert_eq!(
            hex::encode(funding_witness_script(&local, &remote).unwrap().as_bytes()),
            expected
        );
        assert_eq!(
            hex::encode(funding_witness_script(&remote, &local).unwrap().as_bytes()),
            expected
        );
    }

    /// The hash laid out from bytes is the hash of the script the `bitcoin` crate builds.
    #[test]
    fn the_expected_hash_is_the_hash_of_bolt3s_script() {
        for (x, y) in [(1, 2), (2, 1), (7, 3), (200, 201)] {
            let (a, b) = (key(x), key(y));
            let built = funding_witness_script(&a, &b).unwrap();
            assert_eq!(
                expected_p2wsh(&claim(a, b, 0)),
                Some(WScriptHash::hash(built.as_bytes()).to_byte_array())
            );
        }
    }

    #[test]
    fn the_right_script_is_accepted_with_its_amount() {
        let (a, b) = (key(1), key(2));
        let script = funding_script_pubkey(&a, &b).unwrap();
        let got = check_output(&claim(a, b, 1), Some(&tx_paying(&script, 1_000_000))).unwrap();
        assert_eq!(got.amount_sat, 1_000_000);
        assert_eq!(got.outpoint.vout, 1);
        // Announced in the other order, the keys still name the same output.
        assert!(check_output(&claim(b, a, 1), Some(&tx_paying(&script, 5))).is_ok());
    }

    #[test]
    fn other_keys_or_scripts_are_a_mismatch() {
        let (a, b, c) = (key(1), key(2), key(3));
        let script = funding_script_pubkey(&a, &b).unwrap();
        let tx = tx_paying(&script, 10);
        assert_eq!(
            check_output(&claim(a, c, 1), Some(&tx)),
            Err(FundingRejection::ScriptMismatch)
        );
        // Output 0 is not P2WSH at all.
        assert_eq!(
            check_output(&claim(a, b, 0), Some(&tx)),
            Err(FundingRejection::ScriptMismatch)
        );
        // The unsorted multisig (greater key first) is not BOLT 3's script.
        let wrong = unsorted_funding_script_pubkey(&a, &b);
        assert_eq!(
            check_output(&claim(a, b, 1), Some(&tx_paying(&wrong, 10))),
            Err(FundingRejection::ScriptMismatch)
        );
        // An invalid point can never match.
        let mut bad = a;
        bad[0] = 0x05;
        assert_eq!(
            check_output(&claim(bad, b, 1), Some(&tx)),
            Err(FundingRejection::ScriptMismatch)
        );
    }

    #[test]
    fn missing_transaction_or_output_is_not_found() {
        let (a, b) = (key(1), key(2));
        let script = funding_script_pubkey(&a, &b).unwrap();
        assert_eq!(
            check_output(&claim(a, b, 1), None),
            Err(FundingRejection::NotFound)
        );
        assert_eq!(
            check_output(&claim(a, b, 2), Some(&tx_paying(&script, 1))),
            Err(FundingRejection::NotFound)
        );
    }

    #[test]
    fn labels_are_the_design_drop_reasons() {
        let labels: Vec<_> = FundingRejection::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            labels,
            [
                "funding_not_found",
                "funding_script_mismatch",
                "funding_spent",
                "funding_unconfirmed"
            ]
        );
        assert_eq!(confirmations(100, 105), 6);
        assert_eq!(confirmations(106, 105), 0);
    }
}
