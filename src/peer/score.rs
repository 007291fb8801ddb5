//! Per-peer misbehaviour score and the ban list, after LND's ban manager: each offense adds its
//! weight to the peer's score, which decays with a half-life so an honest peer's occasional bad
//! message is forgotten; past `disconnect_threshold` the session is closed, past
//! `ban_threshold` the peer is banned for `ban_duration`. Bans are kept in
//! `<data-dir>/bans.json` (written atomically on every new ban, loaded at start with expired
//! entries pruned) so a restart does not forgive a peer.
//!
//! Both maps are bounded: scores are an LRU (a peer pushed out merely starts from zero again),
//! when the ban list is full, the ban with the lowest score goes, and among equal scores the
//! most recent one (see [`ScoreBoard::insert_ban`] for why not the oldest). The board does no I/O but
//! [`ScoreBoard::open`]: [`save`] (called by [`ScoreBoard::record`] when it bans) hands the list
//! to a writer thread.
//!
//! [`save`]: ScoreBoard::save

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::num::NonZeroUsize;
use std::path::Path;
use std::time::Duration;

use lru::LruCache;
use serde::{Deserialize, Serialize};

use super::ban_writer::BanWriter;

pub use crate::vocab::Offense;

/// A 33-byte compressed node id.
pub type PeerId = [u8; 33];

/// File name of the ban list inside the data directory.
pub const BANS_FILE: &str = "bans.json";

/// Weights, thresholds and bounds.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreConfig {
    /// Added per invalid signature. LND's ban manager charges one point per invalid
    /// announcement and bans at 100; an honest peer relaying a few bad messages it could not
    /// check itself stays far below that.
    pub invalid_signature_weight: f64,
    /// Added per malformed message.
    pub malformed_weight: f64,
    /// Score at which the session is closed (the peer may reconnect).
    pub disconnect_threshold: f64,
    /// Score at which the peer is banned (LND: 100).
    pub ban_threshold: f64,
    /// How long a ban lasts (LND: 48 h).
    pub ban_duration: Duration,
    /// The score halves every `half_life`, so sporadic errors never add up to a ban.
    pub half_life: Duration,
    /// Peers whose score is tracked (LRU).
    pub max_tracked_peers: usize,
    /// Bans kept; when full, the ban expiring soonest makes room.
    pub max_bans: usize,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        ScoreConfig {
            invalid_signature_weight: 1.0,
            malformed_weight: 1.0,
            disconnect_threshold: 50.0,
            ban_threshold: 100.0,
            ban_duration: Duration::from_secs(48 * 3600),
            half_life: Duration::from_secs(3600),
            max_tracked_peers: 10_000,
            max_bans: 10_000,
        }
    }
}

impl ScoreConfig {
    fn weight(&self, offense: Offense) -> f64 {
        match offense {
            Offense::InvalidSignature => self.invalid_signature_weight,
            Offense::Malformed => self.malformed_weight,
            // Never charged any more (see [`Offense::Spam`]).
            Offense::Spam => 0.0,
        }
    }
}

/// What the session should do after an offense.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Keep going.
    Ok,
    /// Close the connection (disconnect reason `misbehaving`).
    Disconnect,
    /// Close the connection and refuse the peer until `until` (unix seconds).
    Ban { until: u64, reason: Offense },
}

#[derive(Clone, Copy, Debug)]
struct Score {
    points: f64,
    /// Unix seconds of the last update, for the decay.
    at: u64,
}

/// One persisted ban.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct BanEntry {
    /// Hex node id.
    peer: String,
    /// Unix seconds.
    until: u64,
    reason: Offense,
    /// Unix seconds when the ban began (0 in files written before it was kept).
    #[serde(default)]
    since: u64,
    /// The peer's score when it was banned (0 in older files).
    #[serde(default)]
    score: f64,
}

/// A ban in force, with what eviction ranks it by.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Ban {
    until: u64,
    reason: Offense,
    since: u64,
    score: f64,
}

impl Ban {
    /// Lower ranks are evicted first: the lowest whole score, then the newest ban.
    fn eviction_rank(&self) -> (u64, std::cmp::Reverse<u64>) {
        (
            self.score.max(0.0).floor() as u64,
            std::cmp::Reverse(self.since),
        )
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct BanFile {
    bans: Vec<BanEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("ban list I/O: {0}")]
    Io(#[from] io::Error),
    #[error("ban list is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

pub struct ScoreBoard {
    config: ScoreConfig,
    scores: LruCache<PeerId, Score>,
    bans: HashMap<PeerId, Ban>,
    /// Peers the operator configured (`--peer`): disconnected when they misbehave, never
    /// banned. A ban would also stop the dialer from ever reaching them again, and an
    /// attacker who could make a configured peer look bad would cut us off from the very
    /// peers the operator chose.
    protected: HashSet<PeerId>,
    /// Writes `<data-dir>/bans.json`; `None` for a board that is not persisted.
    writer: Option<BanWriter>,
}

impl ScoreBoard {
    /// A board whose bans live only in memory.
    pub fn in_memory(config: ScoreConfig) -> Self {
        let cap = NonZeroUsize::new(config.max_tracked_peers).unwrap_or(NonZeroUsize::MIN);
        ScoreBoard {
            scores: LruCache::new(cap),
            bans: HashMap::new(),
            protected: HashSet::new(),
            writer: None,
            config,
        }
    }

    /// A board persisted in `data_dir/bans.json`: loads the bans still in force at `now`
    /// (unix seconds). A missing file is an empty list; an unreadable one is an error, since
    /// silently forgetting bans would let banned peers straight back in.
    pub fn open(data_dir: &Path, config: ScoreConfig, now: u64) -> Result<Self, ScoreError> {
        let path = data_dir.join(BANS_FILE);
        let mut board = ScoreBoard::in_memory(config);
        match fs::read(&path) {
            Ok(bytes) => {
                let file: BanFile = serde_json::from_slice(&bytes)?;
                for entry in file.bans {
                    let Some(peer) = parse_peer(&entry.peer) else {
                        continue;
                    };
                    if entry.until > now {
                        board.insert_ban(
                            peer,
                            Ban {
                                until: entry.until,
                                reason: entry.reason,
                                since: entry.since,
                                score: entry.score,
                            },
                        );
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        board.writer = Some(BanWriter::start(path)?);
        Ok(board)
    }

    pub fn config(&self) -> &ScoreConfig {
        &self.config
    }

    /// Never bans `peer` (one the operator configured); lifts a ban it may already have.
    /// The list is as long as the configuration's peer list, so it needs no cap of its own.
    pub fn protect(&mut self, peer: PeerId) {
        self.bans.remove(&peer);
        self.protected.insert(peer);
    }

    /// Whether `peer` is banned at `now` (unix seconds). A session checks this right after the
    /// handshake reveals the peer's node id (and before dialling out).
    pub fn is_banned(&self, peer: &PeerId, now: u64) -> bool {
        self.bans.get(peer).is_some_and(|ban| ban.until > now)
    }

    /// When `peer`'s ban ends, if it is banned at `now`.
    pub fn banned_until(&self, peer: &PeerId, now: u64) -> Option<u64> {
        self.bans
            .get(peer)
            .map(|ban| ban.until)
            .filter(|until| *until > now)
    }

    /// `peer`'s current (decayed) score.
    pub fn score(&self, peer: &PeerId, now: u64) -> f64 {
        self.scores
            .peek(peer)
            .map_or(0.0, |s| decayed(s, now, self.config.half_life))
    }

    /// Adds `offense` to `peer`'s score at `now` (unix seconds) and says what to do. A new ban
    /// is written to disk before returning; a failed write is logged and the ban still holds
    /// in memory.
    pub fn record(&mut self, peer: &PeerId, offense: Offense, now: u64) -> Verdict {
        if let Some(until) = self.banned_until(peer, now) {
            return Verdict::Ban {
                until,
                reason: self.bans.get(peer).map_or(offense, |ban| ban.reason),
            };
        }
        let half_life = self.config.half_life;
        let weight = self.config.weight(offense);
        let score = self.scores.get_or_insert_mut(*peer, || Score {
            points: 0.0,
            at: now,
        });
        score.points = decayed(score, now, half_life) + weight;
        score.at = score.at.max(now);
        let points = score.points;
        if points >= self.config.ban_threshold && !self.protected.contains(peer) {
            self.scores.pop(peer);
            let until = now.saturating_add(self.config.ban_duration.as_secs());
            self.insert_ban(
                *peer,
                Ban {
                    until,
                    reason: offense,
                    since: now,
                    score: points,
                },
            );
            self.prune(now);
            if let Err(e) = self.save() {
                tracing::warn!(error = %e, "could not persist the ban list");
            }
            return Verdict::Ban {
                until,
                reason: offense,
            };
        }
        if points >= self.config.disconnect_threshold {
            Verdict::Disconnect
        } else {
            Verdict::Ok
        }
    }

    /// Drops bans that have expired at `now`.
    pub fn prune(&mut self, now: u64) {
        self.bans.retain(|_, ban| ban.until > now);
    }

    /// Bans held (expired ones included until the next [`Self::prune`]).
    pub fn ban_count(&self) -> usize {
        self.bans.len()
    }

    /// Hands the ban list to the writer thread, which writes it atomically (see
    /// [`BanWriter`]): serializing it is the only work done under the board's lock. No-op for
    /// an in-memory board.
    pub fn save(&self) -> Result<(), ScoreError> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        let mut bans: Vec<BanEntry> = self
            .bans
            .iter()
            .map(|(peer, ban)| BanEntry {
                peer: hex::encode(peer),
                until: ban.until,
                reason: ban.reason,
                since: ban.since,
                score: ban.score,
            })
            .collect();
        bans.sort_by(|a, b| a.peer.cmp(&b.peer));
        writer.submit(serde_json::to_vec_pretty(&BanFile { bans })?);
        Ok(())
    }

    /// Waits until every ban list handed to the writer is on disk (or its write failed).
    pub fn flush(&self) {
        if let Some(writer) = &self.writer {
            writer.flush();
        }
    }

    /// Adds (or lengthens) a ban. When the list is full, the ban ranked lowest by
    /// [`Ban::eviction_rank`] is dropped, which may be the new one.
    ///
    /// Not the one expiring soonest, nor the oldest: every ban starts with the same duration,
    /// so either rule lets an attacker who mints `max_bans` fresh identities and gets each
    /// banned (a key costs nothing) flush out an earlier, real ban and let its peer straight
    /// back in. Ranked by score and then newest-first, a flood of cheap identities only
    /// displaces its own kind; a peer that earned a higher score keeps its ban. A banned
    /// peer that is dropped here loses nothing it could not regain with a new key anyway.
    fn insert_ban(&mut self, peer: PeerId, ban: Ban) {
        match self.bans.get_mut(&peer) {
            Some(held) if held.until >= ban.until => {}
            Some(held) => *held = ban,
            None => {
                self.bans.insert(peer, ban);
            }
        }
        while self.bans.len() > self.config.max_bans.max(1) {
            let victim = self
                .bans
                .iter()
                .min_by_key(|(_, ban)| ban.eviction_rank())
                .map(|(p, _)| *p);
            match victim {
                Some(p) => {
                    self.bans.remove(&p);
                }
                None => break,
            }
        }
    }
}

fn decayed(score: &Score, now: u64, half_life: Duration) -> f64 {
    let elapsed = now.saturating_sub(score.at) as f64;
    let half = half_life.as_secs().max(1) as f64;
    score.points * 0.5f64.powf(elapsed / half)
}

fn parse_peer(text: &str) -> Option<PeerId> {
    hex::decode(text).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn peer(n: u8) -> PeerId {
        let mut id = [n; 33];
        id[0] = 2;
        id
    }

    #[test]
    fn invalid_signatures_disconnect_then_ban() {
        let mut board = ScoreBoard::in_memory(ScoreConfig::default());
        let p = peer(1);
        for i in 0..49 {
            assert_eq!(
                board.record(&p, Offense::InvalidSignature, NOW),
                Verdict::Ok,
                "{i}"
            );
        }
        for _ in 49..99 {
            assert_eq!(
                board.record(&p, Offense::InvalidSignature, NOW),
                Verdict::Disconnect
            );
        }
        let until = NOW + 48 * 3600;
        assert_eq!(
            board.record(&p, Offense::InvalidSignature, NOW),
            Verdict::Ban {
                until,
                reason: Offense::InvalidSignature
            }
        );
        assert!(board.is_banned(&p, NOW));
        assert!(board.is_banned(&p, until - 1));
        assert!(!board.is_banned(&p, until));
        assert!(!board.is_banned(&peer(2), NOW));
        // While banned, anything it does keeps the original ban.
        assert_eq!(
            board.record(&p, Offense::Malformed, NOW + 5),
            Verdict::Ban {
                until,
                reason: Offense::InvalidSignature
            }
        );
        // After expiry it starts from a clean score.
        assert_eq!(board.record(&p, Offense::Malformed, until), Verdict::Ok);
        assert!((board.score(&p, until) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn scores_decay() {
        let mut board = ScoreBoard::in_memory(ScoreConfig::default());
        let p = peer(3);
        let disconnected_at = (1..=60)
            .find(|_| board.record(&p, Offense::Malformed, NOW) == Verdict::Disconnect)
            .expect("malformed messages disconnect");
        assert_eq!(disconnected_at, 50);
        // Two half-lives later 50 points are 12.5.
        let later = NOW + 2 * 3600;
        let score = board.score(&p, later);
        assert!((score - 12.5).abs() < 0.1, "{score}");
        assert_eq!(board.record(&p, Offense::Malformed, later), Verdict::Ok);
        // An honest peer sending one bad message an hour never gets near a ban.
        let mut board = ScoreBoard::in_memory(ScoreConfig::default());
        for hour in 0..1000 {
            assert_eq!(
                board.record(&p, Offense::Malformed, NOW + hour * 3600),
                Verdict::Ok
            );
        }
    }

    #[test]
    fn a_protected_peer_is_disconnected_but_never_banned() {
        let config = ScoreConfig {
            disconnect_threshold: 2.0,
            ban_threshold: 3.0,
            ..ScoreConfig::default()
        };
        let mut board = ScoreBoard::in_memory(config);
        let (configured, stranger) = (peer(6), peer(7));
        board.protect(configured);
        for _ in 0..3 {
            board.record(&stranger, Offense::Malformed, NOW);
        }
        assert!(board.is_banned(&stranger, NOW));
        assert_eq!(
            board.record(&configured, Offense::Malformed, NOW),
            Verdict::Ok
        );
        for _ in 0..100 {
            assert_eq!(
                board.record(&configured, Offense::Malformed, NOW),
                Verdict::Disconnect
            );
        }
        assert!(!board.is_banned(&configured, NOW));
        // A ban from before the peer was configured (bans.json) no longer holds.
        board.protect(stranger);
        assert!(!board.is_banned(&stranger, NOW));
        assert_eq!(board.banned_until(&stranger, NOW), None);
    }

    #[test]
    fn bans_survive_a_restart_and_expired_ones_are_pruned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = ScoreConfig {
            ban_duration: Duration::from_secs(100),
            ..ScoreConfig::default()
        };
        let mut board = ScoreBoard::open(dir.path(), config.clone(), NOW).expect("open");
        let (early, late) = (peer(4), peer(5));
        for _ in 0..100 {
            board.record(&early, Offense::Malformed, NOW);
            board.record(&late, Offense::Malformed, NOW + 50);
        }
        assert!(board.is_banned(&early, NOW + 1));
        board.flush();
        assert!(dir.path().join(BANS_FILE).exists());
        assert!(!dir.path().join("bans.json.tmp").exists());
        drop(board);

        let board = ScoreBoard::open(dir.path(), config.clone(), NOW + 60).expect("reopen");
        assert!(board.is_banned(&early, NOW + 60));
        assert!(board.is_banned(&late, NOW + 60));
        let board = ScoreBoard::open(dir.path(), config.clone(), NOW + 120).expect("reopen");
        assert_eq!(board.ban_count(), 1, "the expired ban is pruned on load");
        assert!(!board.is_banned(&early, NOW + 120));
        assert!(board.is_banned(&late, NOW + 120));

        // A corrupt file is an error, not an empty list.
        fs::write(dir.path().join(BANS_FILE), b"{not json").expect("write");
        assert!(matches!(
            ScoreBoard::open(dir.path(), config, NOW),
            Err(ScoreError::Json(_))
        ));
    }

    #[test]
    fn tracked_peers_and_bans_are_bounded() {
        let config = ScoreConfig {
            max_tracked_peers: 8,
            max_bans: 4,
            ban_threshold: 1.0,
            disconnect_threshold: 1.0,
            ..ScoreConfig::default()
        };
        let mut board = ScoreBoard::in_memory(config);
        let mut lenient = ScoreBoard::in_memory(ScoreConfig {
            max_tracked_peers: 8,
            ..ScoreConfig::default()
        });
        for n in 0..100u8 {
            lenient.record(&peer(n), Offense::Malformed, NOW);
        }
        assert_eq!(lenient.scores.len(), 8);
        // Bans of equal score: the newest make room, the earliest four stay.
        for n in 0..10u8 {
            let verdict = board.record(&peer(200 + n), Offense::Malformed, NOW + u64::from(n));
            assert!(matches!(verdict, Verdict::Ban { .. }));
        }
        assert_eq!(board.ban_count(), 4);
        assert!(board.is_banned(&peer(200), NOW + 20));
        assert!(board.is_banned(&peer(203), NOW + 20));
        assert!(!board.is_banned(&peer(209), NOW + 20));
    }

    #[test]
    fn cheap_identities_banned_in_bulk_do_not_flush_an_earlier_ban() {
        let config = ScoreConfig {
            max_bans: 16,
            ..ScoreConfig::default()
        };
        let mut board = ScoreBoard::in_memory(config);
        let ban = |board: &mut ScoreBoard, who: &PeerId, at: u64| loop {
            if let Verdict::Ban { .. } = board.record(who, Offense::Malformed, at) {
                break;
            }
        };
        let real = peer(1);
        ban(&mut board, &real, NOW);
        // An attacker mints a thousand keys and gets every one banned, later.
        for n in 0..1000u32 {
            let mut cheap = [3u8; 33];
            cheap[1..5].copy_from_slice(&n.to_be_bytes());
            ban(&mut board, &cheap, NOW + 1 + u64::from(n));
        }
        assert_eq!(board.ban_count(), 16);
        assert!(
            board.is_banned(&real, NOW + 2000),
            "the real ban was flushed"
        );
        // A peer banned with a higher score outranks the earliest equal ones.
        let heavy = peer(2);
        let mut heavy_ban = board.bans.get(&real).copied().expect("real ban");
        heavy_ban.score += 10.0;
        heavy_ban.since = NOW + 3000;
        board.insert_ban(heavy, heavy_ban);
        assert!(board.is_banned(&heavy, NOW + 3001));
        assert!(board.is_banned(&real, NOW + 3001));
    }
}
