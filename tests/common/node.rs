//! `gossip-sieve run` as a child process: its printed addresses, its /metrics, and its stderr
//! watched for panics (a panic in a spawned task does not end the process, so the exit status
//! alone would not show it).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secp256k1::PublicKey;

use super::metrics::{metric, relevant};

/// How long a wait on the node may take before the test fails as hung. Generous: the machine
/// is shared, and only a real hang should ever reach it.
pub const WAIT: Duration = Duration::from_secs(60);

/// The `run` binary, killed on drop if a test fails before stopping it.
pub struct Node {
    child: Child,
    pub node_id: PublicKey,
    pub metrics: SocketAddr,
    pub listen: Option<SocketAddr>,
    panics: Arc<Mutex<Vec<String>>>,
    /// Every stderr line as (full length, first [`KEPT_LINE_CHARS`] characters).
    log: Arc<Mutex<Vec<(usize, String)>>>,
    stderr: Option<std::thread::JoinHandle<()>>,
}

/// Characters of each stderr line [`Node::log_lines`] keeps.
const KEPT_LINE_CHARS: usize = 400;

impl Node {
    /// Starts `run` on loopback ephemeral ports (listener and /metrics) with `args` added.
    pub fn start(data_dir: &Path, args: &[String]) -> Node {
        Self::start_with(data_dir, args, |_| {})
    }

    /// [`Node::start`], letting `configure` adjust the command first (resource limits).
    pub fn start_with(
        data_dir: &Path,
        args: &[String],
        configure: impl FnOnce(&mut Command),
    ) -> Node {
        let mut command = Command::new(super::binary());
        configure(&mut command);
        command.arg("run");
        // Tests stay on loopback: no outbound peers chosen from the (forged, public-address)
        // graph and no DNS seeds, unless a test asks for them.
        if !args.iter().any(|a| a == "--outbound-peers") {
            command.args(["--outbound-peers", "0"]);
        }
        let mut child = command
            .args([
                "--metrics",
                "127.0.0.1:0",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data_dir)
            .args(args)
            .env_remove("GOSSIP_SIEVE_NETWORK")
            .env("GOSSIP_SIEVE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gossip-sieve run");
        let panics = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let seen = panics.clone();
        let kept = log.clone();
        // Forward stderr to the test's output (shown on failure) and keep any panic line.
        let stderr = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let head: String = line.chars().take(KEPT_LINE_CHARS).collect();
                eprintln!("[node] {head}");
                kept.lock().expect("log").push((line.len(), head));
                if line.contains("panicked at") {
                    seen.lock().expect("panic log").push(line);
                }
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut node_id, mut metrics, mut listen) = (None, None, None);
        while node_id.is_none() || metrics.is_none() || listen.is_none() {
            let line = lines
                .next()
                .expect("gossip-sieve run exited before printing its addresses")
                .expect("read stdout");
            let (key, value) = line.split_once(' ').unwrap_or((&line, ""));
            match key {
                "node_id" => {
                    assert_eq!(value.len(), 66, "node id {value}");
                    let bytes = hex::decode(value).expect("hex node id");
                    node_id = Some(PublicKey::from_slice(&bytes).expect("node id is a pubkey"));
                }
                "metrics" => metrics = Some(value.parse().expect("metrics addr")),
                "listening" => listen = Some(value.parse().expect("listen addr")),
                _ => {}
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Node {
            child,
            node_id: node_id.expect("node id"),
            metrics: metrics.expect("metrics"),
            listen,
            panics,
            log,
            stderr: Some(stderr),
        }
    }

    /// Stderr lines so far containing `needle`, as (full length, first characters).
    pub fn log_lines(&self, needle: &str) -> Vec<(usize, String)> {
        self.log
            .lock()
            .expect("log")
            .iter()
            .filter(|(_, head)| head.contains(needle))
            .cloned()
            .collect()
    }

    /// Waits until a stderr line (its first [`KEPT_LINE_CHARS`] characters) contains `needle`
    /// and returns it; fails after [`WAIT`].
    pub fn wait_for_log(&self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = self
                .log
                .lock()
                .expect("log")
                .iter()
                .find(|(_, head)| head.contains(needle))
            {
                return line.1.clone();
            }
            assert!(started.elapsed() < WAIT, "no log line with {needle:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn listen(&self) -> SocketAddr {
        self.listen.expect("listening")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The node's peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM");
        kb * 1024
    }

    pub fn scrape(&self) -> String {
        let mut stream = TcpStream::connect(self.metrics).expect("connect to /metrics");
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .expect("request");
        let mut body = String::new();
        stream.read_to_string(&mut body).expect("response");
        body
    }

    pub fn value(&self, series: &str) -> f64 {
        metric(&self.scrape(), series)
    }

    pub fn wait_for(&self, series: &str, at_least: f64) -> String {
        self.wait_until(&format!("{series} >= {at_least}"), |text| {
            metric(text, series) >= at_least
        })
    }

    /// Scrapes until `done` holds; fails after [`WAIT`] with the gossip and peer series.
    pub fn wait_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let text = self.scrape();
            if done(&text) {
                return text;
            }
            assert!(
                started.elapsed() < WAIT,
                "never reached: {what}\n{}",
                relevant(&text)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process is still running and has logged no panic.
    pub fn assert_alive_without_panic(&mut self) {
        assert!(
            self.child.try_wait().expect("wait").is_none(),
            "gossip-sieve run exited"
        );
        let panics = self.panics.lock().expect("panic log");
        assert!(panics.is_empty(), "node panicked: {panics:?}");
    }

    /// SIGTERM, then the exit status must be success and no panic may have been logged.
    pub fn stop(mut self) {
        self.assert_alive_without_panic();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "run exited with {status}");
                break;
            }
            assert!(started.elapsed() < WAIT, "run did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
        // The process is gone, so its stderr ends: every line it wrote has been seen.
        if let Some(reader) = self.stderr.take() {
            let _ = reader.join();
        }
        let panics = self.panics.lock().expect("panic log");
        assert!(panics.is_empty(), "node panicked: {panics:?}");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
