//! `/healthz` and `/readyz` of `gossip-sieve run`, over real HTTP: what each answers, and when
//! readiness flips: never before the stored graph is loaded, and off for good once a shutdown
//! begins. Every wait polls its condition against a deadline.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::http::{free_port, request};
use common::metrics::metric;
use common::node::WAIT;

#[test]
fn readiness_follows_the_store_load_and_ends_with_the_shutdown() {
    const CHANNELS: usize = 1_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = common::corpus(dir.path(), 300, CHANNELS, 0.0);
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8");
    // A stored graph for `run` to load at start.
    common::run_json(&[
        "replay",
        "--json",
        "--data-dir",
        data_arg,
        corpus.to_str().expect("utf-8"),
    ]);

    // A fixed port, so the endpoints can be polled before `run` prints its addresses.
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let mut child = Command::new(common::binary())
        .args(["run", "--listen", "127.0.0.1:0", "--data-dir", data_arg])
        // Loopback only: no outbound peers from the graph, no DNS seeds.
        .args(["--outbound-peers", "0"])
        .arg("--metrics")
        .arg(addr.to_string())
        .env_remove("GOSSIP_SIEVE_LOG")
        .env_remove("GOSSIP_SIEVE_NETWORK")
        .env_remove("GOSSIP_SIEVE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn gossip-sieve run");
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || for _ in BufReader::new(stdout).lines() {});
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Kill(child);

    // Start: not ready (or not yet listening) until ready; once ready, the whole stored graph
    // is in memory. /healthz answers "ok" whenever the server answers at all.
    let started = Instant::now();
    loop {
        assert!(
            child.0.try_wait().expect("try_wait").is_none(),
            "run exited"
        );
        if let Ok((status, body)) = request(addr, "GET", "/healthz") {
            assert_eq!((status, body.as_str()), (200, "ok\n"), "/healthz");
        }
        match request(addr, "GET", "/readyz") {
            Ok((200, body)) => {
                // No chain source is configured: ready, and saying loudly what that exposes.
                assert_eq!(body.lines().next(), Some("ready"), "{body}");
                assert!(
                    body.contains(
                        "warning: chain: --chain none: channel_announcements are NOT \
                         checked on chain"
                    ),
                    "/readyz body must warn about --chain none: {body}"
                );
                break;
            }
            Ok((status, body)) => assert_eq!(
                (status, without_warnings(&body).as_str()),
                (503, "not ready\n")
            ),
            Err(_) => {}
        }
        assert!(started.elapsed() < WAIT, "never ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = common::metrics::scrape(addr);
    assert_eq!(
        metric(&text, "gossip_sieve_graph_channels"),
        CHANNELS as f64,
        "ready before the stored graph was loaded"
    );

    // The other answers: unknown paths and methods.
    assert_eq!(request(addr, "GET", "/nope").expect("GET /nope").0, 404);
    assert_eq!(request(addr, "POST", "/readyz").expect("POST").0, 405);
    assert_eq!(
        request(addr, "GET", "/healthz").expect("healthz"),
        (200, "ok\n".to_string())
    );

    // Shutdown: readiness goes off and never comes back; the process then exits cleanly.
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut not_ready = false;
    let started = Instant::now();
    let exit = loop {
        match request(addr, "GET", "/readyz") {
            Ok((200, _)) => assert!(!not_ready, "ready again after a shutdown began"),
            Ok((status, body)) => {
                assert_eq!(
                    (status, without_warnings(&body).as_str()),
                    (503, "not ready\n")
                );
                not_ready = true;
            }
            // The server is gone: not ready either.
            Err(_) => not_ready = true,
        }
        if let Some(exit) = child.0.try_wait().expect("try_wait") {
            break exit;
        }
        assert!(started.elapsed() < WAIT, "run did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "run exited with {exit}");
    assert!(
        request(addr, "GET", "/readyz").is_err(),
        "still serving after exit"
    );
}

/// A `/readyz` body without its informational lines: `warning:` (`--chain none` adds one) and
/// `sync:` (our own sync's state), neither of which decides readiness.
fn without_warnings(body: &str) -> String {
    body.lines()
        .filter(|line| !line.starts_with("warning: ") && !line.starts_with("sync: "))
        .map(|line| format!("{line}\n"))
        .collect()
}
