//! Dialling through a real SOCKS5 proxy (Debian's `microsocks`, which test.sh installs) on
//! loopback to a loopback LDK node: with `--proxy … --proxy-all` the session must come up, and
//! the proxy's own log must show it made the connection. No Tor network is reachable here, so
//! onion dialling is tested only up to the proxy (README "Tor").

mod common;
mod ldk;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::metrics::metric;
use common::node::Node;
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_peer_is_reached_through_the_socks5_proxy() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let ldk_port = listener.local_addr().expect("addr").port();
    let ldk = ldk::start_with(&[], ldk::new_keys(), listener);

    let proxy_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut proxy = Command::new("microsocks")
        .args(["-i", "127.0.0.1", "-p", &proxy_port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("microsocks (apt-get install microsocks; test.sh does)");
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let lines = log.clone();
    // microsocks logs each connection on stderr.
    let stdout = proxy.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            lines.lock().expect("log").push(line);
        }
    });
    // Wait until microsocks listens.
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", proxy_port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "microsocks did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let args: Vec<String> = vec![
        "--peer".into(),
        ldk.peer_arg(),
        "--outbound-peers".into(),
        "1".into(),
        "--proxy".into(),
        format!("127.0.0.1:{proxy_port}"),
        "--proxy-all".into(),
    ];
    let mut node = tokio::task::block_in_place(|| Node::start(dir.path(), &args));
    let ours = node.node_id.serialize();
    let wanted = format!("connected to 127.0.0.1:{ldk_port}");
    let started = Instant::now();
    loop {
        let connected = ldk.is_connected_to(&ours);
        let proxied = log.lock().expect("log").iter().any(|l| l.contains(&wanted));
        if connected && proxied {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "connected {connected}, proxy log {:?}",
            log.lock().expect("log")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = tokio::task::block_in_place(|| node.scrape());
    assert_eq!(
        metric(
            &text,
            r#"gossip_sieve_outbound_peers{address_type="ipv4",origin="configured"}"#
        ),
        1.0
    );
    node.assert_alive_without_panic();
    tokio::task::block_in_place(|| node.stop());
    let _ = proxy.kill();
    let _ = proxy.wait();
}
