//! Admission of inbound connections by source address, before any handshake work: at most
//! `max_per_ip` connections from one address, and a token bucket of handshakes per address.
//!
//! Why per address: the listener's one `max_peers` semaphore lets a single address take every
//! slot, and each BOLT 8 act one we answer costs us ECDH work while costing the sender nothing
//! (a replayed act one is as good as a fresh one). Bitcoin Core and Core Lightning bound
//! inbound connections per address for the same reason.
//!
//! - IPv6 addresses are grouped by /64: one host is routinely given a whole /64, so counting
//!   single addresses would give one attacker 2^64 identities.
//! - Loopback is exempt unless `limit_loopback`: a Tor onion service hands every inbound peer
//!   to us from 127.0.0.1, and limiting that address would cap all Tor peers together. The
//!   global `max_peers` still applies to them.
//! - The table of addresses is bounded (`max_tracked`); when full, the least recently seen
//!   address without a live connection is forgotten (it merely starts with a full bucket).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use lru::LruCache;
use parking_lot::Mutex;

/// Per-address limits.
#[derive(Clone, Debug, PartialEq)]
pub struct AdmissionConfig {
    /// Connections (handshakes included) from one address at once; 0 turns the cap off.
    pub max_per_ip: usize,
    /// Handshakes one address may start per minute on average; 0 turns the limit off.
    pub handshakes_per_minute: u32,
    /// Handshakes one address may start back to back before the rate applies.
    pub handshake_burst: u32,
    /// Apply the limits to loopback addresses too (tests; nodes without Tor).
    pub limit_loopback: bool,
    /// Addresses remembered at once.
    pub max_tracked: usize,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            // A sixteenth of the default 256 slots: room for a few nodes behind one NAT.
            max_per_ip: 16,
            // A peer reconnecting with backoff needs a handful per minute; a replaying
            // attacker wants thousands.
            handshakes_per_minute: 60,
            handshake_burst: 16,
            limit_loopback: false,
            max_tracked: 16_384,
        }
    }
}

/// Why a connection was refused; the `reason` of `gossip_sieve_peer_disconnects_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    TooManyFromIp,
    HandshakeRateLimited,
}

impl Refusal {
    pub const LABELS: [&'static str; 2] = ["too_many_from_ip", "handshake_rate_limited"];

    pub fn label(self) -> &'static str {
        match self {
            Refusal::TooManyFromIp => "too_many_from_ip",
            Refusal::HandshakeRateLimited => "handshake_rate_limited",
        }
    }
}

/// The address an inbound connection is counted under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum SourceKey {
    V4([u8; 4]),
    /// The /64 prefix.
    V6([u8; 8]),
}

fn source_key(ip: IpAddr) -> SourceKey {
    match ip.to_canonical() {
        IpAddr::V4(v4) => SourceKey::V4(v4.octets()),
        IpAddr::V6(v6) => {
            let mut prefix = [0u8; 8];
            prefix.copy_from_slice(&v6.octets()[..8]);
            SourceKey::V6(prefix)
        }
    }
}

struct Source {
    connections: usize,
    tokens: f64,
    refilled: Instant,
}

/// Shared by the accept loop and every connection it admitted.
pub struct Admission {
    config: AdmissionConfig,
    sources: Mutex<LruCache<SourceKey, Source>>,
}

/// Held for the life of an admitted connection; gives its place back on drop.
pub struct AdmissionPermit {
    admission: Arc<Admission>,
    key: Option<SourceKey>,
}

impl Drop for AdmissionPermit {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            if let Some(source) = self.admission.sources.lock().peek_mut(&key) {
                source.connections = source.connections.saturating_sub(1);
            }
        }
    }
}

impl Admission {
    /// The table is bounded by [`Admission::make_room`] rather than by the LRU itself, so an
    /// address with live connections is never forgotten (its count would be lost).
    pub fn new(config: AdmissionConfig) -> Arc<Self> {
        Arc::new(Admission {
            config,
            sources: Mutex::new(LruCache::unbounded()),
        })
    }

    pub fn config(&self) -> &AdmissionConfig {
        &self.config
    }

    /// Admits a connection from `ip` at `now`, or says why not. A refused attempt still
    /// spends a handshake token: retrying at once must not be free.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Result<AdmissionPermit, Refusal> {
        let exempt = !self.config.limit_loopback && ip.to_canonical().is_loopback();
        if exempt || (self.config.max_per_ip == 0 && self.config.handshakes_per_minute == 0) {
            return Ok(AdmissionPermit {
                admission: self.clone(),
                key: None,
            });
        }
        let key = source_key(ip);
        let burst = f64::from(self.config.handshake_burst.max(1));
        let mut sources = self.sources.lock();
        if !sources.contains(&key) {
            self.make_room(&mut sources);
            sources.put(
                key,
                Source {
                    connections: 0,
                    tokens: burst,
                    refilled: now,
                },
            );
        }
        let Some(source) = sources.get_mut(&key) else {
            return Err(Refusal::TooManyFromIp);
        };
        if self.config.handshakes_per_minute > 0 {
            let per_sec = f64::from(self.config.handshakes_per_minute) / 60.0;
            let elapsed = now.saturating_duration_since(source.refilled).as_secs_f64();
            source.tokens = (source.tokens + elapsed * per_sec).min(burst);
            source.refilled = now;
            if source.tokens < 1.0 {
                return Err(Refusal::HandshakeRateLimited);
            }
            source.tokens -= 1.0;
        }
        if self.config.max_per_ip > 0 && source.connections >= self.config.max_per_ip {
            return Err(Refusal::TooManyFromIp);
        }
        source.connections += 1;
        Ok(AdmissionPermit {
            admission: self.clone(),
            key: Some(key),
        })
    }

    /// Forgets the least recently seen address that has no live connection, if the table is
    /// full. Addresses with connections are at most `max_peers`, so the scan is short.
    fn make_room(&self, sources: &mut LruCache<SourceKey, Source>) {
        if sources.len() < self.config.max_tracked.max(1) {
            return;
        }
        let idle = sources
            .iter()
            .rev()
            .find(|(_, source)| source.connections == 0)
            .map(|(key, _)| *key);
        if let Some(key) = idle {
            sources.pop(&key);
        }
    }

    /// Addresses currently remembered.
    pub fn tracked(&self) -> usize {
        self.sources.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limited(max_per_ip: usize, per_minute: u32, burst: u32) -> Arc<Admission> {
        Admission::new(AdmissionConfig {
            max_per_ip,
            handshakes_per_minute: per_minute,
            handshake_burst: burst,
            limit_loopback: true,
            max_tracked: 4,
        })
    }

    #[test]
    fn one_address_is_capped_and_others_are_not_affected() {
        let gate = limited(2, 0, 1);
        let now = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = gate.admit(a, now).unwrap();
        let _second = gate.admit(a, now).unwrap();
        assert_eq!(gate.admit(a, now).err(), Some(Refusal::TooManyFromIp));
        assert!(gate.admit(b, now).is_ok());
        drop(first);
        assert!(
            gate.admit(a, now).is_ok(),
            "a closed connection frees its place"
        );
    }

    #[test]
    fn handshakes_are_rate_limited_per_address_and_refill() {
        let gate = limited(0, 60, 3);
        let now = Instant::now();
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        // Another address in the same /64 shares the bucket.
        let same_prefix: IpAddr = "2001:db8::ffff:1".parse().unwrap();
        for _ in 0..3 {
            assert!(gate.admit(a, now).is_ok());
        }
        assert_eq!(
            gate.admit(same_prefix, now).err(),
            Some(Refusal::HandshakeRateLimited)
        );
        assert!(gate.admit(a, now + Duration::from_secs(1)).is_ok());
        assert!(gate.admit(a, now + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn loopback_is_exempt_unless_asked() {
        let gate = Admission::new(AdmissionConfig {
            max_per_ip: 1,
            ..AdmissionConfig::default()
        });
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let _a = gate.admit(lo, Instant::now()).unwrap();
        assert!(gate.admit(lo, Instant::now()).is_ok());
        assert_eq!(gate.tracked(), 0);
    }

    #[test]
    fn the_address_table_is_bounded_and_keeps_connected_addresses() {
        let gate = limited(1, 0, 1);
        let now = Instant::now();
        let held = gate.admit("10.0.0.1".parse().unwrap(), now).unwrap();
        for i in 2..100u8 {
            let _ = gate.admit(IpAddr::from([10, 0, 0, i]), now);
        }
        assert!(gate.tracked() <= 4);
        // The connected address was never forgotten, so its cap still holds.
        assert_eq!(
            gate.admit("10.0.0.1".parse().unwrap(), now).err(),
            Some(Refusal::TooManyFromIp)
        );
        drop(held);
    }

    #[test]
    fn refusal_labels_are_zeroed_disconnect_reasons() {
        for label in Refusal::LABELS {
            assert!(
                crate::metrics::registry::DISCONNECT_REASONS.contains(&label),
                "{label}"
            );
        }
        assert_eq!(Refusal::TooManyFromIp.label(), Refusal::LABELS[0]);
        assert_eq!(Refusal::HandshakeRateLimited.label(), Refusal::LABELS[1]);
    }
}
