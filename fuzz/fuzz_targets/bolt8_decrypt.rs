//! BOLT 8 message cipher: a receiving `CipherDirection` fed arbitrary frames, interleaved with
//! genuine frames (optionally with one byte flipped) from the matching sending direction.
//! Nothing panics, genuine frames decrypt to what was sent (through key rotation), and a flipped
//! byte is always caught by a MAC.
#![no_main]

use std::sync::OnceLock;

use gossip_sieve::transport::cipher::{TransportKeys, HEADER_LEN};
use gossip_sieve::transport::handshake::{InitiatorStart, ResponderStart};
use libfuzzer_sys::fuzz_target;
use secp256k1::{PublicKey, SecretKey, SECP256K1};

/// (initiator's keys, responder's keys) of one fixed handshake.
fn session() -> &'static (TransportKeys, TransportKeys) {
    static KEYS: OnceLock<(TransportKeys, TransportKeys)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = |b: u8| SecretKey::from_slice(&[b; 32]).expect("valid scalar");
        let responder_key = key(0x21);
        let responder_id = PublicKey::from_secret_key(SECP256K1, &responder_key);
        let (one, waiting) =
            InitiatorStart::with_ephemeral(&key(0x11), &responder_id, key(0x12)).act_one();
        let (two, waiting_three) = ResponderStart::with_ephemeral(&responder_key, key(0x22))
            .process_act_one(&one)
            .expect("act one");
        let (three, initiator) = waiting.process_act_two(&two).expect("act two");
        let (_, responder) = waiting_three.process_act_three(&three).expect("act three");
        (initiator, responder)
    })
}

fuzz_target!(|data: &[u8]| {
    let (initiator, responder) = session();
    let mut tx = initiator.sending.clone();
    let mut rx = responder.receiving.clone();
    let mut input = data;
    // A bounded number of operations keeps one input under a millisecond or so.
    for _ in 0..64 {
        let Some((&op, rest)) = input.split_first() else {
            return;
        };
        input = rest;
        match op % 4 {
            // A raw frame from the input: header, then as much body as it claims.
            0 => {
                let header = input.get(..HEADER_LEN).unwrap_or(input);
                input = input.get(header.len()..).unwrap_or_default();
                let Ok(len) = rx.decrypt_header(header) else {
                    return;
                };
                let take = (usize::from(len) + 16).min(input.len());
                let (body, rest) = input.split_at(take);
                input = rest;
                if rx.decrypt_body(body).is_err() {
                    return;
                }
            }
            // A genuine frame of `len` bytes; op 2 flips one byte of it.
            1 | 2 => {
                let Some((&len, rest)) = input.split_first() else {
                    return;
                };
                input = rest;
                let plain = vec![op; usize::from(len) * 3];
                let mut frame = tx.encrypt_message(&plain).expect("small message");
                let flipped = op % 4 == 2;
                if flipped {
                    let Some((&at, rest)) = input.split_first() else {
                        return;
                    };
                    input = rest;
                    let at = usize::from(at) % frame.len();
                    if let Some(b) = frame.get_mut(at) {
                        *b ^= 0x01;
                    }
                }
                let (header, body) = frame.split_at(HEADER_LEN);
                let result = rx.decrypt_header(header).and_then(|n| {
                    if usize::from(n) + 16 == body.len() {
                        rx.decrypt_body(body)
                    } else {
                        Err(gossip_sieve::transport::cipher::CipherError::WrongLength)
                    }
                });
                if flipped {
                    assert!(result.is_err(), "a flipped byte passed the MAC");
                    return;
                }
                assert_eq!(result.expect("genuine frame"), plain);
            }
            // A run of empty genuine frames: five of them cross a key rotation (every 500
            // messages, 1000 nonces).
            _ => {
                for _ in 0..100 {
                    let frame = tx.encrypt_message(&[]).expect("empty");
                    let (header, body) = frame.split_at(HEADER_LEN);
                    assert_eq!(rx.decrypt_header(header), Ok(0));
                    assert_eq!(rx.decrypt_body(body), Ok(Vec::new()));
                }
            }
        }
    }
});
