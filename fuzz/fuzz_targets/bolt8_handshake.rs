//! BOLT 8 handshake: the responder fed an arbitrary act one or act three, the initiator fed an
//! arbitrary act two. Besides raw bytes, the input can be XORed over the genuine act so the
//! fuzzer gets past the key and MAC checks into the later steps. Nothing panics, and an
//! unmodified act always completes.
#![no_main]

use std::sync::OnceLock;

use gossip_sieve::transport::handshake::{InitiatorStart, ResponderStart};
use libfuzzer_sys::fuzz_target;
use secp256k1::{PublicKey, SecretKey, SECP256K1};

struct Keys {
    initiator: SecretKey,
    responder: SecretKey,
    responder_id: PublicKey,
    e_initiator: SecretKey,
    e_responder: SecretKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = |b: u8| SecretKey::from_slice(&[b; 32]).expect("valid scalar");
        let responder = key(0x21);
        Keys {
            initiator: key(0x11),
            responder_id: PublicKey::from_secret_key(SECP256K1, &responder),
            responder,
            e_initiator: key(0x12),
            e_responder: key(0x22),
        }
    })
}

fn xor(genuine: &[u8], mask: &[u8]) -> Vec<u8> {
    let mut out = genuine.to_vec();
    for (b, m) in out.iter_mut().zip(mask) {
        *b ^= m;
    }
    // Longer masks make the act longer, shorter ones leave the tail genuine.
    out.extend(mask.iter().skip(genuine.len()));
    out
}

/// The mask leaves the genuine act as it was.
fn is_identity(genuine: &[u8], mask: &[u8]) -> bool {
    mask.len() <= genuine.len() && mask.iter().all(|&b| b == 0)
}

fn initiator() -> InitiatorStart {
    let k = keys();
    InitiatorStart::with_ephemeral(&k.initiator, &k.responder_id, k.e_initiator)
}

fn responder() -> ResponderStart {
    let k = keys();
    ResponderStart::with_ephemeral(&k.responder, k.e_responder)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (act_one, waiting_two) = initiator().act_one();
    match mode % 6 {
        0 => {
            let _ = responder().process_act_one(rest);
        }
        1 => {
            let ok = responder().process_act_one(&xor(&act_one, rest)).is_ok();
            assert!(
                ok || !is_identity(&act_one, rest),
                "genuine act one refused"
            );
        }
        2 => {
            let _ = waiting_two.process_act_two(rest);
        }
        3 => {
            let Ok((act_two, _)) = responder().process_act_one(&act_one) else {
                panic!("genuine act one refused");
            };
            let ok = waiting_two.process_act_two(&xor(&act_two, rest)).is_ok();
            assert!(
                ok || !is_identity(&act_two, rest),
                "genuine act two refused"
            );
        }
        4 | 5 => {
            let Ok((act_two, waiting_three)) = responder().process_act_one(&act_one) else {
                panic!("genuine act one refused");
            };
            let Ok((act_three, _)) = waiting_two.process_act_two(&act_two) else {
                panic!("genuine act two refused");
            };
            if mode % 6 == 4 {
                let _ = waiting_three.process_act_three(rest);
            } else {
                let result = waiting_three.process_act_three(&xor(&act_three, rest));
                if is_identity(&act_three, rest) {
                    let (their_id, _) = result.expect("genuine act three refused");
                    let ours = PublicKey::from_secret_key(SECP256K1, &keys().initiator);
                    assert_eq!(their_id, ours);
                }
            }
        }
        _ => {}
    }
});
