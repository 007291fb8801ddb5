//! Command-line flags of the whole-run benches (`cargo bench` adds `--bench`; flags a bench
//! does not know are ignored). Included by path.
#![allow(dead_code)]

/// The value after `--name`, parsed; `None` when absent or unparsable.
pub fn value<T: std::str::FromStr>(name: &str) -> Option<T> {
    let argv: Vec<String> = std::env::args().collect();
    argv.iter()
        .position(|a| a == name)
        .and_then(|i| argv.get(i + 1))
        .and_then(|v| v.parse().ok())
}

/// Whether `--name` was given.
pub fn has(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// `cargo test --benches` and `cargo bench -- --list` run the binary with these: do nothing.
pub fn listing_only() -> bool {
    has("--list") || has("--test")
}
