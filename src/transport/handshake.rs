//! BOLT 8 `Noise_XK_secp256k1_ChaChaPoly_SHA256` handshake as a pure state machine: bytes in,
//! bytes out, no I/O and no clock. Each act consumes its state so an act cannot be replayed;
//! the final act yields the [`TransportKeys`](super::cipher::TransportKeys) for the framed
//! cipher.

use secp256k1::ecdh::SharedSecret;
use secp256k1::{PublicKey, Secp256k1, SecretKey};

use super::cipher::TransportKeys;
use super::crypto::{decrypt_with_ad, encrypt_with_ad, hkdf_two, sha256_concat, MAC_LEN};

/// Act one and act two: version byte, 33-byte ephemeral key, 16-byte MAC.
pub const ACT_ONE_LEN: usize = 50;
/// See [`ACT_ONE_LEN`].
pub const ACT_TWO_LEN: usize = 50;
/// Act three: version byte, 49-byte encrypted static key, 16-byte MAC.
pub const ACT_THREE_LEN: usize = 66;

const PROTOCOL_NAME: &[u8] = b"Noise_XK_secp256k1_ChaChaPoly_SHA256";
const PROLOGUE: &[u8] = b"lightning";
const PUBKEY_LEN: usize = 33;
const ENCRYPTED_PUBKEY_LEN: usize = PUBKEY_LEN + MAC_LEN;

/// Which of the three acts failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    One,
    Two,
    Three,
}

impl std::fmt::Display for Act {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Act::One => "act one",
            Act::Two => "act two",
            Act::Three => "act three",
        })
    }
}

/// Why an act received from the peer was rejected. Every variant means: close the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The act is not exactly its fixed length.
    #[error("{0}: wrong length")]
    ShortRead(Act),
    /// The leading version byte is not 0.
    #[error("{act}: unknown handshake version {version}")]
    BadVersion { act: Act, version: u8 },
    /// The ephemeral (acts one, two) or decrypted static (act three) key is not a valid point.
    #[error("{0}: invalid public key")]
    BadPubkey(Act),
    /// Act three's encrypted static key failed its MAC.
    #[error("{0}: static key ciphertext failed authentication")]
    BadCiphertext(Act),
    /// The act's final MAC did not verify.
    #[error("{0}: MAC check failed")]
    BadTag(Act),
}

/// The running `(ck, h)` pair of the Noise symmetric state.
#[derive(Clone, Debug)]
struct Symmetric {
    ck: [u8; 32],
    h: [u8; 32],
}

impl Symmetric {
    /// BOLT 8 handshake state initialization: both sides mix the protocol name, the prologue and
    /// the responder's static key.
    fn new(responder_static: &PublicKey) -> Self {
        let h0 = sha256_concat(PROTOCOL_NAME, &[]);
        let h1 = sha256_concat(&h0, PROLOGUE);
        let h = sha256_concat(&h1, &responder_static.serialize());
        Symmetric { ck: h0, h }
    }

    fn mix_hash(&mut self, data: &[u8]) {
        self.h = sha256_concat(&self.h, data);
    }

    /// `ck, temp_k = HKDF(ck, ss)`; returns temp_k.
    fn mix_key(&mut self, ss: &[u8; 32]) -> [u8; 32] {
        let (ck, temp_k) = hkdf_two(&self.ck, ss);
        self.ck = ck;
        temp_k
    }
}

fn ecdh(point: &PublicKey, scalar: &SecretKey) -> [u8; 32] {
    // secp256k1's default ECDH hashes the compressed point with SHA256, which is exactly the
    // BOLT 8 `ECDH(k, rk)` definition.
    SharedSecret::new(point, scalar).secret_bytes()
}

/// Splits a 50-byte act one/two into its key and MAC after checking length and version.
fn parse_ephemeral_act(act: Act, bytes: &[u8]) -> Result<(PublicKey, &[u8]), HandshakeError> {
    // BOLT 8 act one/two receiver: "Read exactly 50 bytes from the network buffer."
    if bytes.len() != ACT_ONE_LEN {
        return Err(HandshakeError::ShortRead(act));
    }
    let (version, rest) = bytes.split_at(1);
    let (key, mac) = rest.split_at(PUBKEY_LEN);
    let version = version.first().copied().unwrap_or(u8::MAX);
    // "If v is an unrecognized handshake version, then the responder MUST abort the
    // connection attempt."
    if version != 0 {
        return Err(HandshakeError::BadVersion { act, version });
    }
    // "The raw bytes of the remote party's ephemeral public key (re) are to be deserialized
    // into a point on the curve using affine coordinates as encoded by the key's serialized
    // composed format." A failure aborts.
    let re = PublicKey::from_slice(key).map_err(|_| HandshakeError::BadPubkey(act))?;
    Ok((re, mac))
}

fn ephemeral_act_bytes(e_pub: &PublicKey, c: &[u8]) -> [u8; ACT_ONE_LEN] {
    let mut out = [0u8; ACT_ONE_LEN];
    out[1..1 + PUBKEY_LEN].copy_from_slice(&e_pub.serialize());
    out[1 + PUBKEY_LEN..].copy_from_slice(c);
    out
}

/// Initiator before act one: it knows the responder's node id (`rs`).
pub struct InitiatorStart {
    sym: Symmetric,
    ls: SecretKey,
    e: SecretKey,
    rs: PublicKey,
}

/// Initiator after sending act one, waiting for act two.
pub struct InitiatorAwaitingActTwo {
    sym: Symmetric,
    ls: SecretKey,
    e: SecretKey,
}

/// Responder before act one.
pub struct ResponderStart {
    sym: Symmetric,
    ls: SecretKey,
    e: SecretKey,
}

/// Responder after sending act two, waiting for act three.
pub struct ResponderAwaitingActThree {
    sym: Symmetric,
    e: SecretKey,
    temp_k2: [u8; 32],
}

impl InitiatorStart {
    /// A fresh random ephemeral key per connection, as BOLT 8 requires.
    pub fn new(our_key: &SecretKey, their_node_id: &PublicKey) -> Self {
        let ephemeral = SecretKey::new(&mut rand::thread_rng());
        Self::with_ephemeral(our_key, their_node_id, ephemeral)
    }

    /// Fixed ephemeral key, for the BOLT 8 test vectors.
    pub fn with_ephemeral(our_key: &SecretKey, their_node_id: &PublicKey, e: SecretKey) -> Self {
        InitiatorStart {
            sym: Symmetric::new(their_node_id),
            ls: *our_key,
            e,
            rs: *their_node_id,
        }
    }

    /// BOLT 8 act one, sender side.
    pub fn act_one(self) -> ([u8; ACT_ONE_LEN], InitiatorAwaitingActTwo) {
        let InitiatorStart { mut sym, ls, e, rs } = self;
        let e_pub = PublicKey::from_secret_key(&Secp256k1::new(), &e);
        sym.mix_hash(&e_pub.serialize());
        let temp_k1 = sym.mix_key(&ecdh(&rs, &e));
        let c = encrypt_with_ad(&temp_k1, 0, &sym.h, &[]);
        sym.mix_hash(&c);
        let out = ephemeral_act_bytes(&e_pub, &c);
        (out, InitiatorAwaitingActTwo { sym, ls, e })
    }
}

impl InitiatorAwaitingActTwo {
    /// BOLT 8 act two, receiver side, then act three, sender side. Returns the act three bytes
    /// and the transport keys.
    pub fn process_act_two(
        self,
        act_two: &[u8],
    ) -> Result<([u8; ACT_THREE_LEN], TransportKeys), HandshakeError> {
        let InitiatorAwaitingActTwo { mut sym, ls, e } = self;
        let (re, c) = parse_ephemeral_act(Act::Two, act_two)?;
        sym.mix_hash(&re.serialize());
        let temp_k2 = sym.mix_key(&ecdh(&re, &e));
        // "If the MAC check fails, the initiator MUST terminate the connection."
        decrypt_with_ad(&temp_k2, 0, &sym.h, c).ok_or(HandshakeError::BadTag(Act::Two))?;
        sym.mix_hash(c);

        // Act three: our static key under temp_k2 with nonce 1, then se.
        let s_pub = PublicKey::from_secret_key(&Secp256k1::new(), &ls);
        let c3 = encrypt_with_ad(&temp_k2, 1, &sym.h, &s_pub.serialize());
        sym.mix_hash(&c3);
        let temp_k3 = sym.mix_key(&ecdh(&re, &ls));
        let t = encrypt_with_ad(&temp_k3, 0, &sym.h, &[]);
        let (sk, rk) = hkdf_two(&sym.ck, &[]);

        let mut out = [0u8; ACT_THREE_LEN];
        out[1..1 + ENCRYPTED_PUBKEY_LEN].copy_from_slice(&c3);
        out[1 + ENCRYPTED_PUBKEY_LEN..].copy_from_slice(&t);
        Ok((out, TransportKeys::new(sk, rk, sym.ck)))
    }
}

impl ResponderStart {
    /// A fresh random ephemeral key per connection, as BOLT 8 requires.
    pub fn new(our_key: &SecretKey) -> Self {
        let ephemeral = SecretKey::new(&mut rand::thread_rng());
        Self::with_ephemeral(our_key, ephemeral)
    }

    /// Fixed ephemeral key, for the BOLT 8 test vectors.
    pub fn with_ephemeral(our_key: &SecretKey, e: SecretKey) -> Self {
        let ls_pub = PublicKey::from_secret_key(&Secp256k1::new(), our_key);
        ResponderStart {
            sym: Symmetric::new(&ls_pub),
            ls: *our_key,
            e,
        }
    }

    /// BOLT 8 act one, receiver side, then act two, sender side.
    pub fn process_act_one(
        self,
        act_one: &[u8],
    ) -> Result<([u8; ACT_TWO_LEN], ResponderAwaitingActThree), HandshakeError> {
        let ResponderStart { mut sym, ls, e } = self;
        let (re, c) = parse_ephemeral_act(Act::One, act_one)?;
        sym.mix_hash(&re.serialize());
        let temp_k1 = sym.mix_key(&ecdh(&re, &ls));
        // "If the MAC check fails, the responder MUST terminate the connection."
        decrypt_with_ad(&temp_k1, 0, &sym.h, c).ok_or(HandshakeError::BadTag(Act::One))?;
        sym.mix_hash(c);

        let e_pub = PublicKey::from_secret_key(&Secp256k1::new(), &e);
        sym.mix_hash(&e_pub.serialize());
        let temp_k2 = sym.mix_key(&ecdh(&re, &e));
        let c2 = encrypt_with_ad(&temp_k2, 0, &sym.h, &[]);
        sym.mix_hash(&c2);
        let out = ephemeral_act_bytes(&e_pub, &c2);
        Ok((out, ResponderAwaitingActThree { sym, e, temp_k2 }))
    }
}

impl ResponderAwaitingActThree {
    /// BOLT 8 act three, receiver side. Returns the initiator's node id and the transport keys.
    pub fn process_act_three(
        self,
        act_three: &[u8],
    ) -> Result<(PublicKey, TransportKeys), HandshakeError> {
        let ResponderAwaitingActThree {
            mut sym,
            e,
            temp_k2,
        } = self;
        // "Read exactly 66 bytes from the network buffer."
        if act_three.len() != ACT_THREE_LEN {
            return Err(HandshakeError::ShortRead(Act::Three));
        }
        let (version, rest) = act_three.split_at(1);
        let (c, t) = rest.split_at(ENCRYPTED_PUBKEY_LEN);
        let version = version.first().copied().unwrap_or(u8::MAX);
        // "If v is an unrecognized handshake version, then the responder MUST abort."
        if version != 0 {
            return Err(HandshakeError::BadVersion {
                act: Act::Three,
                version,
            });
        }
        // "rs = decryptWithAD(temp_k2, 1, h, c)": a MAC failure here aborts.
        let rs_bytes = decrypt_with_ad(&temp_k2, 1, &sym.h, c)
            .ok_or(HandshakeError::BadCiphertext(Act::Three))?;
        let rs =
            PublicKey::from_slice(&rs_bytes).map_err(|_| HandshakeError::BadPubkey(Act::Three))?;
        sym.mix_hash(c);
        let temp_k3 = sym.mix_key(&ecdh(&rs, &e));
        // "If the MAC check fails, the responder MUST terminate the connection."
        decrypt_with_ad(&temp_k3, 0, &sym.h, t).ok_or(HandshakeError::BadTag(Act::Three))?;
        // The responder's send key is the second half of the final split.
        let (rk, sk) = hkdf_two(&sym.ck, &[]);
        Ok((rs, TransportKeys::new(sk, rk, sym.ck)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::{hex, load};
    use serde_json::Value;

    fn secret(v: &Value) -> SecretKey {
        SecretKey::from_slice(&hex(v)).expect("vector secret key")
    }

    fn public(v: &Value) -> PublicKey {
        PublicKey::from_slice(&hex(v)).expect("vector public key")
    }

    /// The last value of `field` among an act's intermediate steps (the state after the act).
    fn last_intermediate(case: &Value, act: &str, field: &str) -> Option<Vec<u8>> {
        case["intermediate"][act]
            .as_array()?
            .iter()
            .rev()
            .find_map(|step| step.get(field).map(hex))
    }

    /// Maps a vector's `expected_error` such as "ACT2_BAD_VERSION 1" to our error.
    fn expected_error(case: &Value) -> Option<HandshakeError> {
        let text = case.get("expected_error")?.as_str()?;
        let mut words = text.split(' ');
        let code = words.next()?;
        let act = match code.get(..4)? {
            "ACT1" => Act::One,
            "ACT2" => Act::Two,
            "ACT3" => Act::Three,
            other => panic!("unknown act in {other}"),
        };
        Some(match code.get(5..)? {
            "READ_FAILED" => HandshakeError::ShortRead(act),
            "BAD_VERSION" => HandshakeError::BadVersion {
                act,
                version: words.next().map_or(1, |v| v.parse().expect("version")),
            },
            "BAD_PUBKEY" => HandshakeError::BadPubkey(act),
            "BAD_CIPHERTEXT" => HandshakeError::BadCiphertext(act),
            "BAD_TAG" => HandshakeError::BadTag(act),
            other => panic!("unknown expected_error {other}"),
        })
    }

    fn check_state(case: &Value, act: &str, sym: &Symmetric) {
        if let Some(h) = last_intermediate(case, act, "h") {
            assert_eq!(sym.h.to_vec(), h, "{}: h after {act}", case["name"]);
        }
        if let Some(ck) = last_intermediate(case, act, "ck") {
            assert_eq!(sym.ck.to_vec(), ck, "{}: ck after {act}", case["name"]);
        }
    }

    fn check_keys(case: &Value, keys: &TransportKeys) {
        let final_keys = &case["final_keys"];
        assert_eq!(
            keys.sending.key.to_vec(),
            hex(&final_keys["sk"]),
            "{}",
            case["name"]
        );
        assert_eq!(
            keys.receiving.key.to_vec(),
            hex(&final_keys["rk"]),
            "{}",
            case["name"]
        );
        if let Some(ck) = last_intermediate(case, "act_three", "ck") {
            assert_eq!(keys.sending.ck.to_vec(), ck);
            assert_eq!(keys.receiving.ck.to_vec(), ck);
        }
    }

    fn run_initiator(case: &Value) -> Result<(), HandshakeError> {
        let start = InitiatorStart::with_ephemeral(
            &secret(&case["ls_priv"]),
            &public(&case["rs_pub"]),
            secret(&case["e_priv"]),
        );
        let (act_one, awaiting) = start.act_one();
        assert_eq!(act_one.to_vec(), hex(&case["acts"]["act_one"]["output"]));
        check_state(case, "act_one", &awaiting.sym);
        let (act_three, keys) =
            awaiting.process_act_two(&hex(&case["acts"]["act_two"]["input"]))?;
        assert_eq!(
            act_three.to_vec(),
            hex(&case["acts"]["act_three"]["output"])
        );
        check_keys(case, &keys);
        Ok(())
    }

    fn run_responder(case: &Value) -> Result<(), HandshakeError> {
        let start =
            ResponderStart::with_ephemeral(&secret(&case["ls_priv"]), secret(&case["e_priv"]));
        let (act_two, awaiting) = start.process_act_one(&hex(&case["acts"]["act_one"]["input"]))?;
        assert_eq!(act_two.to_vec(), hex(&case["acts"]["act_two"]["output"]));
        // The responder sends act two in the same step, so its state is the post-act-two one.
        check_state(case, "act_two", &awaiting.sym);
        let (their_id, keys) =
            awaiting.process_act_three(&hex(&case["acts"]["act_three"]["input"]))?;
        if let Some(rs) = last_intermediate(case, "act_three", "rs") {
            assert_eq!(their_id.serialize().to_vec(), rs);
        }
        check_keys(case, &keys);
        Ok(())
    }

    #[test]
    fn every_bolt8_handshake_vector() {
        let vectors = load("bolt8_vectors.json");
        let cases = vectors["handshake"].as_array().expect("handshake cases");
        assert_eq!(cases.len(), 15);
        let (mut successes, mut failures) = (0, 0);
        for case in cases {
            let result = match case["role"].as_str() {
                Some("initiator") => run_initiator(case),
                Some("responder") => run_responder(case),
                other => panic!("unknown role {other:?}"),
            };
            match expected_error(case) {
                None => {
                    assert_eq!(result, Ok(()), "{}", case["name"]);
                    successes += 1;
                }
                Some(err) => {
                    assert_eq!(result, Err(err), "{}", case["name"]);
                    failures += 1;
                }
            }
        }
        assert_eq!((successes, failures), (2, 13));
    }

    #[test]
    fn initiator_act_two_intermediate_state() {
        // process_act_two goes straight on to act three, so replay its receive half here to
        // compare temp_k2, h and ck against the act two intermediate values.
        let vectors = load("bolt8_vectors.json");
        let case = &vectors["handshake"][0];
        let start = InitiatorStart::with_ephemeral(
            &secret(&case["ls_priv"]),
            &public(&case["rs_pub"]),
            secret(&case["e_priv"]),
        );
        let (_, awaiting) = start.act_one();
        let mut sym = awaiting.sym.clone();
        let act_two = hex(&case["acts"]["act_two"]["input"]);
        let (re, c) = parse_ephemeral_act(Act::Two, &act_two).expect("valid act two");
        sym.mix_hash(&re.serialize());
        let temp_k2 = sym.mix_key(&ecdh(&re, &awaiting.e));
        assert_eq!(
            temp_k2.to_vec(),
            last_intermediate(case, "act_two", "temp_k").expect("temp_k")
        );
        sym.mix_hash(c);
        check_state(case, "act_two", &sym);
    }

    #[test]
    fn truncated_and_overlong_acts_are_rejected_not_panics() {
        let key = SecretKey::from_slice(&[0x21; 32]).expect("key");
        for len in [0, 1, 49, 51, 200] {
            let bytes = vec![0u8; len];
            let res = ResponderStart::new(&key).process_act_one(&bytes);
            assert_eq!(
                res.err(),
                Some(HandshakeError::ShortRead(Act::One)),
                "len {len}"
            );
        }
    }
}
