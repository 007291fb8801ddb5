//! BOLT 10 bootstrap against a real DNS server: dnslib's (tests/interop/dns_seed.py, run by
//! `$GOSSIP_SIEVE_TEST_PYTHON`, which test.sh points at a venv holding dnslib) on loopback,
//! serving the SRV and A/AAAA records of BOLT 10's own examples plus one record naming a
//! local LDK node. `gossip-sieve run`, with no peer configured, must decode the virtual
//! hostnames, resolve them and connect to the LDK node through the seed.

mod common;
mod ldk;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use bech32::{Bech32, Hrp};
use common::metrics::metric;
use common::node::Node;
use common::python;
use tokio::net::TcpListener;

/// BOLT 10 "Examples": the seed's SRV answers and the addresses given for them.
const SPEC_RECORDS: &str = "\
_nodes._tcp.lseed.bitcoinstats.com. 59 IN SRV 10 10 6331 ln1qwktpe6jxltmpphyl578eax6fcjc2m807qalr76a5gfmx7k9qqfjwy4mctz.lseed.bitcoinstats.com.
_nodes._tcp.lseed.bitcoinstats.com. 59 IN SRV 10 10 9735 ln1qv2w3tledmzczw227nnkqrrltvmydl8gu4w4d70g9td7avke6nmz2tdefqp.lseed.bitcoinstats.com.
_nodes._tcp.lseed.bitcoinstats.com. 59 IN SRV 10 10 9735 ln1qtynyymv99pqf0r9cuexvvqtxrlgejuecf8myfsa96vcpflgll5cqmr2xsu.lseed.bitcoinstats.com.
_nodes._tcp.lseed.bitcoinstats.com. 59 IN SRV 10 10 4280 ln1qdfvlysfpyh96apy3w3qdwlu8jjkdhnuxa689ka540tnde6gnx86cf7ga2d.lseed.bitcoinstats.com.
_nodes._tcp.lseed.bitcoinstats.com. 59 IN SRV 10 10 4281 ln1qwf789tlcpe4n34649xrqllxt97whsvfk5pm07ggqms3vrjwdj3cu6332zs.lseed.bitcoinstats.com.
ln1qwktpe6jxltmpphyl578eax6fcjc2m807qalr76a5gfmx7k9qqfjwy4mctz.lseed.bitcoinstats.com. 60 IN A 139.59.143.87
ln1qv2w3tledmzczw227nnkqrrltvmydl8gu4w4d70g9td7avke6nmz2tdefqp.lseed.bitcoinstats.com. 60 IN AAAA 2a02:aa16:1105:4a80:1234:1234:37c1:9c9
";

const DEADLINE: Duration = Duration::from_secs(120);

/// The seed server; killed on drop.
struct Seed {
    child: Child,
    port: u16,
}

impl Seed {
    fn start(zone: &std::path::Path) -> Seed {
        let mut child = python::spawn(
            python::interop_script("dns_seed.py")
                .arg(zone)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped()),
        );
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read port");
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!("dns_seed.py did not start (is dnslib installed?): {line:?}")
            });
        Seed { child, port }
    }
}

impl Drop for Seed {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstraps_from_a_bolt10_seed_and_connects_to_the_node_it_names() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let ldk_port = listener.local_addr().expect("addr").port();
    let ldk = ldk::start_with(&[], ldk::new_keys(), listener);
    let virtual_host = format!(
        "{}.lseed.bitcoinstats.com.",
        bech32::encode::<Bech32>(Hrp::parse("ln").expect("hrp"), &ldk.node_id.serialize())
            .expect("bech32")
    );
    let zone = format!(
        "{SPEC_RECORDS}\
         _nodes._tcp.lseed.bitcoinstats.com. 60 IN SRV 10 10 {ldk_port} {virtual_host}\n\
         {virtual_host} 60 IN A 127.0.0.1\n"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let zone_path = dir.path().join("seed.zone");
    std::fs::write(&zone_path, zone).expect("zone");
    let seed = Seed::start(&zone_path);

    let data = dir.path().join("data");
    let args: Vec<String> = [
        "--dns-seed",
        "lseed.bitcoinstats.com",
        "--dns-server",
        &format!("127.0.0.1:{}", seed.port),
        "--outbound-peers",
        "2",
        "--dial-private-addresses",
        "--dials-per-minute",
        "600",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut node = tokio::task::block_in_place(|| Node::start(&data, &args));
    let ours = node.node_id.serialize();
    let started = Instant::now();
    loop {
        let connected = ldk.is_connected_to(&ours);
        let text = tokio::task::block_in_place(|| node.scrape());
        let via_seed = metric(
            &text,
            r#"gossip_sieve_outbound_peers{address_type="ipv4",origin="seed"}"#,
        );
        if connected && via_seed == 1.0 {
            // Six SRV records; the three with addresses (two from the spec, ours) are nodes.
            assert_eq!(metric(&text, "gossip_sieve_dns_seed_nodes_total"), 3.0);
            assert!(metric(&text, r#"gossip_sieve_dns_seed_queries_total{result="ok"}"#) >= 1.0);
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "never connected through the seed\n{}",
            common::metrics::relevant(&text)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.assert_alive_without_panic();
    tokio::task::block_in_place(|| node.stop());
    drop(seed);
}
