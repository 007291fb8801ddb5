//! The configuration surface through the real binary: `config check` on the shipped example,
//! flag > env > file > default, errors naming the option and its layer, and every option of
//! the table present in the example file, as a flag, and as a variable in `--help`.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use gossip_sieve::config::{FileConfig, Settings, SettingsArgs, OPTIONS};

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/gossip-sieve.toml")
}

/// Runs the binary with a clean GOSSIP_SIEVE_* environment plus `env`.
fn sieve(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(common::binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("GOSSIP_SIEVE_") {
            cmd.env_remove(key);
        }
    }
    cmd.args(args).envs(env.iter().copied());
    cmd.output().expect("spawn gossip-sieve")
}

fn stdout_toml(out: &Output) -> toml::Table {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .parse()
        .expect("config check prints TOML")
}

fn get<'a>(table: &'a toml::Table, key: &str) -> &'a toml::Value {
    let mut parts = key.split('.');
    let first = parts.next().unwrap_or(key);
    let mut value = table.get(first).unwrap_or_else(|| panic!("{key} missing"));
    for part in parts {
        value = value.get(part).unwrap_or_else(|| panic!("{key} missing"));
    }
    value
}

/// The example with every `# key = value` line (and the example peer) uncommented.
fn example_uncommented() -> String {
    std::fs::read_to_string(example())
        .expect("example")
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let body = trimmed.strip_prefix("# ").unwrap_or("");
            let is_setting = body
                .split_once(" = ")
                .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            if is_setting || body.starts_with('"') {
                body.to_string()
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_example_lists_every_option_and_resolves_with_all_of_them_set() {
    let text = example_uncommented();
    let file = FileConfig::parse(&text, &example()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let table: toml::Table = text.parse().expect("TOML");
    for option in OPTIONS {
        get(&table, option.key);
    }
    let settings = Settings::resolve_with_env(&SettingsArgs::default(), &file, &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(settings.peers.len(), 1);
    assert_eq!(settings.listen.port(), 9735);
    assert_eq!(settings.metrics.port(), 9736);
    // The commented values are the defaults: uncommenting them changes nothing but the
    // explicitly set top-level keys.
    let defaults =
        Settings::resolve_with_env(&SettingsArgs::default(), &FileConfig::default(), &|_| None)
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        settings.pipeline.shard_mailbox_capacity,
        defaults.pipeline.shard_mailbox_capacity
    );
    assert_eq!(
        settings.pipeline.stall_timeout,
        defaults.pipeline.stall_timeout
    );
    assert_eq!(settings.pipeline.max_age, defaults.pipeline.max_age);
    assert_eq!(settings.limits, defaults.limits);
    assert_eq!(settings.log, defaults.log);
}

#[test]
fn config_check_accepts_the_shipped_example() {
    let path = example();
    let out = sieve(
        &["--config", path.to_str().expect("utf-8"), "config", "check"],
        &[],
    );
    let table = stdout_toml(&out);
    assert_eq!(get(&table, "listen").as_str(), Some("0.0.0.0:9735"));
    assert_eq!(get(&table, "data_dir").as_str(), Some("/data"));
    // The printed effective config is itself a complete, valid config file.
    let dir = tempfile::tempdir().expect("tempdir");
    let again = dir.path().join("effective.toml");
    std::fs::write(&again, &out.stdout).expect("write");
    let out2 = sieve(
        &[
            "--config",
            again.to_str().expect("utf-8"),
            "config",
            "check",
        ],
        &[],
    );
    assert_eq!(stdout_toml(&out2), table);
}

#[test]
fn flag_beats_env_beats_file_beats_default_through_the_binary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[pipeline]\nmailbox_capacity = 300\npending_updates_cap = 301\nrejected_cache_cap = 302\n\
         [log]\nformat = \"json\"\n",
    )
    .expect("write");
    let out = sieve(
        &["config", "check", "--mailbox-capacity", "100"],
        &[
            ("GOSSIP_SIEVE_CONFIG", file.to_str().expect("utf-8")),
            ("GOSSIP_SIEVE_MAILBOX_CAPACITY", "200"),
            ("GOSSIP_SIEVE_PENDING_UPDATES_CAP", "201"),
        ],
    );
    let table = stdout_toml(&out);
    let int = |key| get(&table, key).as_integer();
    assert_eq!(int("pipeline.mailbox_capacity"), Some(100));
    assert_eq!(int("pipeline.pending_updates_cap"), Some(201));
    assert_eq!(int("pipeline.rejected_cache_cap"), Some(302));
    assert_eq!(int("pipeline.pubkey_cache_cap"), Some(50_000));
    assert_eq!(get(&table, "log.format").as_str(), Some("json"));
}

/// Environment variables as (name, value) pairs.
type Env<'a> = &'a [(&'a str, &'a str)];

#[test]
fn bad_values_fail_naming_the_option_and_where_it_came_from() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[limits]\nmax_peers = 0\n").expect("write");
    let file = file.to_str().expect("utf-8");
    let cases: [(&[&str], Env, &[&str]); 4] = [
        (
            &["--config", file, "config", "check"],
            &[],
            &["limits.max_peers", "config file"],
        ),
        (
            &["config", "check"],
            &[("GOSSIP_SIEVE_STALL_TIMEOUT_MS", "soon")],
            &["pipeline.stall_timeout_ms", "GOSSIP_SIEVE_STALL_TIMEOUT_MS"],
        ),
        (
            &["config", "check", "--peer", "not-a-peer"],
            &[],
            &["--peer"],
        ),
        (
            &[
                "demo",
                "--mailbox-capacity",
                "0",
                "--nodes",
                "1",
                "--channels",
                "1",
            ],
            &[],
            &["pipeline.mailbox_capacity", "flag --mailbox-capacity"],
        ),
    ];
    for (args, env, needles) in cases {
        let out = sieve(args, env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} {env:?} succeeded");
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{args:?} {env:?}: {needle:?} not in {stderr}"
            );
        }
    }
}

/// The words of a help text: runs of letters, digits, `-` and `_`, so `--peer` matches the
/// flag `--peer` and not `--peer-rate-bytes-per-sec`.
fn words(text: &str) -> std::collections::BTreeSet<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| !w.is_empty())
        .collect()
}

#[test]
fn every_option_is_a_flag_and_documents_its_variable() {
    let out = sieve(&["config", "check", "--help"], &[]);
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    let words = words(&help);
    for option in OPTIONS {
        assert!(
            words.contains(option.flag),
            "{} not in config check --help:\n{help}",
            option.flag
        );
        assert!(
            words.contains(option.env),
            "{} not in config check --help:\n{help}",
            option.env
        );
    }
}

/// For every option: a valid value other than its default, as an environment variable, and
/// the TOML `config check` must print for it. An option added to the table without a row
/// here fails the test.
fn env_case(key: &str) -> (String, &'static str) {
    const PEER: &str =
        "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619@127.0.0.1:9999";
    let (value, toml) = match key {
        "network" => ("testnet", "\"testnet\""),
        "data_dir" => ("/tmp/gossip-sieve-env", "\"/tmp/gossip-sieve-env\""),
        "listen" => ("127.0.0.1:19735", "\"127.0.0.1:19735\""),
        "metrics" => ("127.0.0.1:19736", "\"127.0.0.1:19736\""),
        "peers" => (PEER, "[\"02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619@127.0.0.1:9999\"]"),
        "pipeline.shards" => ("3", "3"),
        "pipeline.mailbox_capacity" => ("123", "123"),
        "pipeline.mailbox_bytes_cap" => ("765432", "765432"),
        "pipeline.stall_timeout_ms" => ("4321", "4321"),
        "pipeline.pending_updates_cap" => ("2345", "2345"),
        "pipeline.pending_node_announcements_cap" => ("3456", "3456"),
        "pipeline.pending_bytes_cap" => ("654321", "654321"),
        "pipeline.pending_per_peer_cap" => ("1234", "1234"),
        "pipeline.pending_per_peer_bytes_cap" => ("765432", "765432"),
        "pipeline.store_mailbox_capacity" => ("3210", "3210"),
        "pipeline.store_mailbox_bytes_cap" => ("876543", "876543"),
        "pipeline.rejected_cache_cap" => ("4567", "4567"),
        "pipeline.pubkey_cache_cap" => ("5678", "5678"),
        "pipeline.update_rate_per_minute" => ("7", "7"),
        "pipeline.update_burst" => ("9", "9"),
        "pipeline.max_future_skew_secs" => ("7200", "7200"),
        "pipeline.max_age_secs" => ("259200", "259200"),
        "limits.max_peers" => ("17", "17"),
        "limits.peer_rate_bytes_per_sec" => ("123456", "123456"),
        "limits.ping_interval_secs" => ("45", "45"),
        "limits.ping_timeout_secs" => ("25", "25"),
        "limits.disconnect_score" => ("11", "11"),
        "limits.ban_score" => ("22", "22"),
        "limits.ban_duration_secs" => ("3600", "3600"),
        "limits.handshake_timeout_ms" => ("2345", "2345"),
        "limits.serve_bytes_per_sec" => ("500000", "500000"),
        "limits.serve_reply_bytes_per_sec" => ("40000", "40000"),
        "limits.serve_global_reply_bytes_per_sec" => ("80000", "80000"),
        "log.level" => ("debug", "\"debug\""),
        "log.format" => ("json", "\"json\""),
        "chain.backend" => ("bitcoind-rest", "\"bitcoind-rest\""),
        "chain.url" => ("http://127.0.0.1:18443", "\"http://127.0.0.1:18443\""),
        "chain.cookie_file" => ("/tmp/gossip-sieve-cookie", "\"/tmp/gossip-sieve-cookie\""),
        "chain.min_depth" => ("3", "3"),
        "chain.lookup_queue" => ("77", "77"),
        "chain.stage_bytes_cap" => ("222222", "222222"),
        "chain.parked_cap" => ("333", "333"),
        "chain.forget_delay_blocks" => ("12", "12"),
        "chain.poll_interval_secs" => ("30", "30"),
        "chain.request_timeout_ms" => ("4000", "4000"),
        "chain.unvalidated_channels_cap" => ("1234", "1234"),
        "chain.unvalidated_channels_per_peer_per_hour" => ("567", "567"),
        "chain.stale_channel_age_secs" => ("86400", "86400"),
        "handout.rgs_interval_secs" => ("7", "7"),
        "discovery.outbound_peers" => ("3", "3"),
        "discovery.dials_per_minute" => ("30", "30"),
        "discovery.candidates_cap" => ("321", "321"),
        "discovery.candidates_bytes_cap" => ("54321", "54321"),
        "discovery.dial_private_addresses" => ("true", "true"),
        "discovery.dns_seeds" => ("a.example,b.example", "[\"a.example\", \"b.example\"]"),
        "discovery.dns_server" => ("127.0.0.1:5353", "\"127.0.0.1:5353\""),
        "discovery.proxy" => ("127.0.0.1:9050", "\"127.0.0.1:9050\""),
        "discovery.proxy_all" => ("true", "true"),
        "pipeline.first_arrival_table_bytes" => ("65536", "65536"),
        "limits.max_peers_per_ip" => ("5", "5"),
        "limits.handshakes_per_ip_per_minute" => ("0", "0"),
        "limits.handshake_burst_per_ip" => ("4", "4"),
        "limits.per_ip_limits_on_loopback" => ("true", "true"),
        "limits.metrics_max_connections" => ("8", "8"),
        "limits.metrics_header_timeout_ms" => ("1500", "1500"),
        "limits.peer_threads" => ("3", "3"),
        "limits.initial_sync" => ("split", "\"split\""),
        "limits.split_query_timeout_ms" => ("2500", "2500"),
        "limits.split_reply_queue_cap" => ("5", "5"),
        "limits.split_reply_queue_bytes_cap" => ("131072", "131072"),
        "chain.block_cache_blocks" => ("9", "9"),
        "chain.block_cache_bytes_cap" => ("2097152", "2097152"),
        other => panic!("no environment case for option {other}: add one to env_case"),
    };
    (value.to_string(), toml)
}

#[test]
fn every_option_is_read_from_its_environment_variable() {
    let cases: Vec<(&str, &str, String, toml::Value)> = OPTIONS
        .iter()
        .map(|option| {
            let (value, toml) = env_case(option.key);
            let expected: toml::Table = format!("v = {toml}").parse().expect("expected TOML");
            (option.key, option.env, value, expected["v"].clone())
        })
        .collect();
    let defaults = stdout_toml(&sieve(&["config", "check"], &[]));
    for (key, _, _, expected) in &cases {
        assert_ne!(
            get(&defaults, key),
            expected,
            "{key}: the case must differ from the default"
        );
    }
    let env: Vec<(&str, &str)> = cases
        .iter()
        .map(|(_, env, value, _)| (*env, value.as_str()))
        .collect();
    let table = stdout_toml(&sieve(&["config", "check"], &env));
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(key, _, _, expected)| get(&table, key) != expected)
        .map(|(key, env, value, expected)| {
            format!(
                "{env}={value}: {key} = {} (want {expected})",
                get(&table, key)
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn json_log_format_writes_json_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("c.gsd");
    let gen = sieve(
        &[
            "gen-corpus",
            "--nodes",
            "20",
            "--channels",
            "30",
            "--out",
            corpus.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(gen.status.success());
    // Duplicates are traced once each at trace level, so this run certainly logs.
    let out = sieve(
        &[
            "--log-format",
            "json",
            "--log-level",
            "gossip_sieve=trace",
            "replay",
            "--json",
            "--copies",
            "2",
            corpus.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Every line, not only those that look like JSON: a plain-text line in JSON mode is the bug.
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(!lines.is_empty(), "no log lines in JSON mode");
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v.get("level").is_some(), "{line}");
    }
}
