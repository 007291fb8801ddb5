//! The end-of-run summary printed by `replay` and `demo`, as text or as one JSON object (the
//! `--json` format documented in README.md).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::metrics::Metrics;
use crate::vocab::DropReason;
use crate::wire::GossipKind;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SignatureChecks {
    pub valid: u64,
    pub invalid: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RunSummary {
    pub received: BTreeMap<&'static str, u64>,
    pub accepted: BTreeMap<&'static str, u64>,
    /// Only reasons with a non-zero count, per type.
    pub dropped: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    pub pending: BTreeMap<&'static str, i64>,
    pub in_flight: BTreeMap<&'static str, i64>,
    pub signature_checks: SignatureChecks,
    pub graph_channels: i64,
    pub graph_nodes: i64,
    pub wall_seconds: f64,
    pub messages_per_second: f64,
    pub peak_rss_bytes: u64,
}

impl RunSummary {
    pub fn from_metrics(metrics: &Metrics, wall: Duration) -> Self {
        let mut summary = RunSummary {
            received: BTreeMap::new(),
            accepted: BTreeMap::new(),
            dropped: BTreeMap::new(),
            pending: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            signature_checks: SignatureChecks {
                valid: metrics.signature_valid.get(),
                invalid: metrics.signature_invalid.get(),
            },
            graph_channels: metrics.graph_channels.get(),
            graph_nodes: metrics.graph_nodes.get(),
            wall_seconds: wall.as_secs_f64(),
            messages_per_second: 0.0,
            peak_rss_bytes: peak_rss_bytes(),
        };
        let mut total_received = 0;
        for (kind, flow) in metrics.flow() {
            let name = kind.as_str();
            total_received += flow.received;
            summary.received.insert(name, flow.received);
            summary.accepted.insert(name, flow.accepted);
            summary.pending.insert(name, flow.pending);
            summary.in_flight.insert(name, flow.in_flight());
            let reasons = DropReason::ALL
                .iter()
                .zip(&flow.dropped)
                .map(|(reason, count)| (reason.as_str(), *count))
                .filter(|(_, count)| *count > 0)
                .collect();
            summary.dropped.insert(name, reasons);
        }
        if summary.wall_seconds > 0.0 {
            summary.messages_per_second = total_received as f64 / summary.wall_seconds;
        }
        summary
    }

    pub fn total_received(&self) -> u64 {
        self.received.values().sum()
    }

    pub fn print_text(&self) {
        println!(
            "{:<22} {:>10} {:>10} {:>10} {:>8}  dropped by reason",
            "type", "received", "accepted", "dropped", "pending"
        );
        for kind in GossipKind::ALL {
            let name = kind.as_str();
            let dropped = self.dropped.get(name);
            let dropped_total: u64 = dropped.map_or(0, |d| d.values().sum());
            let reasons = dropped
                .map(|d| {
                    d.iter()
                        .map(|(r, n)| format!("{r}={n}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            println!(
                "{:<22} {:>10} {:>10} {:>10} {:>8}  {}",
                name,
                self.received.get(name).copied().unwrap_or(0),
                self.accepted.get(name).copied().unwrap_or(0),
                dropped_total,
                self.pending.get(name).copied().unwrap_or(0),
                reasons
            );
        }
        println!(
            "signature checks: {} valid, {} invalid",
            self.signature_checks.valid, self.signature_checks.invalid
        );
        println!(
            "graph: {} channels, {} nodes",
            self.graph_channels, self.graph_nodes
        );
        println!(
            "wall: {:.2} s, {:.0} messages/s, peak RSS {:.1} MB",
            self.wall_seconds,
            self.messages_per_second,
            self.peak_rss_bytes as f64 / 1e6
        );
    }
}

/// Peak resident set size of this process (Linux `VmHWM`), 0 where unavailable.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
