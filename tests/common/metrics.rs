//! Reading a Prometheus text exposition: one series, the DESIGN §4 series names, and the
//! accounting invariant received = accepted + dropped + pending + in flight.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

/// One full HTTP response from `/metrics` at `addr`.
pub fn scrape(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to exporter");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// The value of one exact series (name plus labels as rendered). Every series is created at
/// start (DESIGN §4), so a missing one is a bug and fails the test.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(series)?;
            rest.strip_prefix(' ')?.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("series {series} missing from scrape"))
}

/// Sum of every series whose line starts with `prefix`.
pub fn sum_matching(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The gossip, graph and peer series, for failure messages.
pub fn relevant(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.contains("graph_")
                || l.contains("peer")
                || l.contains("received")
                || l.contains("accepted")
                || l.contains("pending")
                || l.contains("in_flight")
                || (l.contains("dropped") && !l.ends_with(" 0"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn disconnects(reason: &str) -> String {
    format!("gossip_sieve_peer_disconnects_total{{reason=\"{reason}\"}}")
}

pub fn accepted(ty: &str) -> String {
    format!("gossip_sieve_messages_accepted_total{{type=\"{ty}\"}}")
}

pub fn dropped(ty: &str, reason: &str) -> String {
    // The exposition sorts labels by name.
    format!("gossip_sieve_messages_dropped_total{{reason=\"{reason}\",type=\"{ty}\"}}")
}

pub fn in_flight(ty: &str) -> String {
    format!("gossip_sieve_in_flight_messages{{type=\"{ty}\"}}")
}

pub fn pending(ty: &str) -> String {
    format!("gossip_sieve_pending_messages{{kind=\"{ty}\"}}")
}

/// received = accepted + dropped + pending + in flight for every type, each type seen.
pub fn assert_scrape_balances(text: &str) {
    for ty in super::TYPES {
        let received = metric(
            text,
            &format!("gossip_sieve_messages_received_total{{type=\"{ty}\"}}"),
        );
        assert!(received > 0.0, "{ty}: nothing received");
    }
    assert_balanced(text);
}

/// received = accepted + dropped + pending + in flight for every type, with in flight never
/// negative (also mid-flood, when a type may not have arrived yet).
pub fn assert_balanced(text: &str) {
    for ty in super::TYPES {
        let received = metric(
            text,
            &format!("gossip_sieve_messages_received_total{{type=\"{ty}\"}}"),
        );
        let accepted = metric(text, &accepted(ty));
        let dropped: f64 = text
            .lines()
            .filter(|l| {
                l.starts_with("gossip_sieve_messages_dropped_total{")
                    && l.contains(&format!("type=\"{ty}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        let pending = metric(text, &pending(ty));
        let in_flight = metric(text, &in_flight(ty));
        assert!(
            in_flight >= 0.0,
            "{ty}: in flight {in_flight} < 0: a message was counted twice"
        );
        assert_eq!(
            received,
            accepted + dropped + pending + in_flight,
            "{ty}: received {received} accepted {accepted} dropped {dropped} pending {pending} in flight {in_flight}"
        );
    }
}
