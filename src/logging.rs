//! Log output: the tracing subscriber (level filter, text or JSON lines on stderr) and
//! [`ThrottledLog`], which turns a per-event flood into one line per interval with counts.
//!
//! Core Lightning's gossip queue incident was made worse by a log line per dropped message: the
//! logging itself ate the CPU the queue needed. Anything that can happen once per message from
//! a peer is counted here and reported at most once per interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::{LogFormat, LogSettings};

#[derive(Debug, thiserror::Error)]
pub enum LogInitError {
    #[error("invalid log level {level:?}: {reason}")]
    BadFilter { level: String, reason: String },
    #[error("a global tracing subscriber is already installed")]
    AlreadySet,
}

/// Installs the process-wide subscriber. Logs go to stderr so stdout stays machine-readable
/// (`--json` summaries, `config check` output).
pub fn init(settings: &LogSettings) -> Result<(), LogInitError> {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.level).map_err(|e| {
        LogInitError::BadFilter {
            level: settings.level.clone(),
            reason: e.to_string(),
        }
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|_| LogInitError::AlreadySet)
}

/// Counts events by a small fixed set of labels and hands back the counts at most once per
/// `interval`. The hot path is one relaxed atomic add plus a clock read; only the caller that
/// wins the compare-exchange on the deadline drains the counters, so concurrent peers never
/// both emit the same window.
pub struct ThrottledLog {
    labels: Vec<&'static str>,
    counts: Vec<AtomicU64>,
    /// [`monotonic_ns`] when the log was made.
    epoch: u64,
    interval: Duration,
    /// Nanoseconds since `epoch` after which the next report is due.
    next_due: AtomicU64,
    /// Nanoseconds since `epoch` when the current window started.
    window_start: AtomicU64,
}

/// One interval's worth of counts, labels with a zero count left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThrottledReport {
    pub counts: Vec<(&'static str, u64)>,
    pub total: u64,
    pub window: Duration,
}

impl ThrottledReport {
    /// `label=count` pairs joined by spaces, for a single log field.
    pub fn summary(&self) -> String {
        self.counts
            .iter()
            .map(|(label, count)| format!("{label}={count}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn count(&self, label: &str) -> u64 {
        self.counts
            .iter()
            .find(|(l, _)| *l == label)
            .map_or(0, |(_, c)| *c)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Nanoseconds on the kernel's coarse monotonic clock: a vDSO read of a few ns, where
/// `Instant::now` took ~30 ns on the benchmark VM, a tenth of the cost of discarding a
/// duplicate (every drop is recorded here). Its resolution of a few milliseconds
/// is plenty for windows of seconds.
#[cfg(target_os = "linux")]
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we own; the clock id is valid on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    if rc != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let subsec = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(subsec)
}

#[cfg(not(target_os = "linux"))]
fn monotonic_ns() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    nanos(START.get_or_init(std::time::Instant::now).elapsed())
}

impl ThrottledLog {
    pub fn new(labels: Vec<&'static str>, interval: Duration) -> Self {
        let counts = labels.iter().map(|_| AtomicU64::new(0)).collect();
        ThrottledLog {
            labels,
            counts,
            epoch: monotonic_ns(),
            interval,
            next_due: AtomicU64::new(nanos(interval)),
            window_start: AtomicU64::new(0),
        }
    }

    /// Like [`ThrottledLog::new`], but the first event is reported at once: for rare events
    /// where the first one is worth seeing, the throttle only holds back a flood.
    pub fn due_at_once(labels: Vec<&'static str>, interval: Duration) -> Self {
        let log = Self::new(labels, interval);
        log.next_due.store(0, Ordering::Relaxed);
        log
    }

    /// Counts one event for label number `index` (out of range is ignored); returns the
    /// interval's counts if a report is due now.
    pub fn record(&self, index: usize) -> Option<ThrottledReport> {
        self.record_at(index, monotonic_ns())
    }

    /// [`ThrottledLog::record`] at `now` (a [`monotonic_ns`] reading).
    fn record_at(&self, index: usize, now: u64) -> Option<ThrottledReport> {
        if let Some(count) = self.counts.get(index) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        self.due_at(now).map(|window| self.drain(window))
    }

    /// For callers that keep the counts themselves: whether a report is due now, and if so the
    /// window it covers. Only a clock read and a load unless due, so callers on several cores
    /// share no written cache line here.
    pub fn due(&self) -> Option<Duration> {
        self.due_at(monotonic_ns())
    }

    fn due_at(&self, now: u64) -> Option<Duration> {
        let now_ns = now.saturating_sub(self.epoch);
        let due = self.next_due.load(Ordering::Relaxed);
        if now_ns < due {
            return None;
        }
        let next = now_ns.saturating_add(nanos(self.interval));
        if self
            .next_due
            .compare_exchange(due, next, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            // Another caller is emitting this window.
            return None;
        }
        let started = self.window_start.swap(now_ns, Ordering::AcqRel);
        Some(Duration::from_nanos(now_ns.saturating_sub(started)))
    }

    /// Takes whatever has been counted since the last report (for a final line at shutdown).
    pub fn flush(&self) -> ThrottledReport {
        let now_ns = monotonic_ns().saturating_sub(self.epoch);
        let started = self.window_start.swap(now_ns, Ordering::AcqRel);
        self.drain(Duration::from_nanos(now_ns.saturating_sub(started)))
    }

    fn drain(&self, window: Duration) -> ThrottledReport {
        let counts: Vec<(&'static str, u64)> = self
            .labels
            .iter()
            .zip(&self.counts)
            .map(|(label, count)| (*label, count.swap(0, Ordering::Relaxed)))
            .filter(|(_, count)| *count > 0)
            .collect();
        let total = counts.iter().map(|(_, c)| c).sum();
        ThrottledReport {
            counts,
            total,
            window,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_yields_one_report_per_interval_with_every_event_counted() {
        let log = ThrottledLog::new(vec!["duplicate", "queue_full"], Duration::from_secs(10));
        let start = log.epoch;
        let mut reports = Vec::new();
        // 100,000 events spread over 35 simulated seconds.
        for i in 0..100_000u64 {
            let at = start + i * 350_000;
            if let Some(report) = log.record_at(usize::from(i % 10 == 0), at) {
                reports.push(report);
            }
        }
        assert_eq!(reports.len(), 3, "{reports:?}");
        let rest = log.flush();
        let total: u64 = reports.iter().map(|r| r.total).sum::<u64>() + rest.total;
        assert_eq!(total, 100_000);
        let queue_full: u64 =
            reports.iter().map(|r| r.count("queue_full")).sum::<u64>() + rest.count("queue_full");
        assert_eq!(queue_full, 10_000);
        assert!(reports[0].summary().contains("duplicate="));
        assert!(reports.iter().all(|r| r.window >= Duration::from_secs(10)));
    }

    #[test]
    fn concurrent_callers_emit_each_window_once() {
        let log = std::sync::Arc::new(ThrottledLog::new(vec!["a"], Duration::from_millis(0)));
        // Interval zero: every call is due, but no count may be reported twice or lost.
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let log = log.clone();
                std::thread::spawn(move || {
                    (0..10_000)
                        .filter_map(|_| log.record(0))
                        .map(|r| r.total)
                        .sum::<u64>()
                })
            })
            .collect();
        let reported: u64 = handles
            .into_iter()
            .map(|h| h.join().unwrap_or(0))
            .sum::<u64>()
            + log.flush().total;
        assert_eq!(reported, 40_000);
    }

    #[test]
    fn out_of_range_labels_are_ignored() {
        let log = ThrottledLog::new(vec!["a"], Duration::from_secs(60));
        assert!(log.record(5).is_none());
        assert_eq!(log.flush().total, 0);
    }
}
