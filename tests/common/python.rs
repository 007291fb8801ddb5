//! The Python side of the interop tests: the scripts under tests/interop/, run by
//! `$GOSSIP_SIEVE_TEST_PYTHON` (test.sh points it at a venv with pyln-proto, pyln-client and
//! dnslib), else `python3`. A missing interpreter or package fails the test with that advice.

use std::path::PathBuf;
use std::process::{Child, Command, Output};

pub fn python() -> String {
    std::env::var("GOSSIP_SIEVE_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// `python tests/interop/<script>`, arguments still to add.
pub fn interop_script(script: &str) -> Command {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let mut command = Command::new(python());
    command.arg(path);
    command
}

fn cannot_run(error: std::io::Error) -> ! {
    panic!(
        "cannot run {} ({error}); set GOSSIP_SIEVE_TEST_PYTHON",
        python()
    )
}

pub fn spawn(command: &mut Command) -> Child {
    command.spawn().unwrap_or_else(|e| cannot_run(e))
}

/// Runs the script to its end; a failing exit fails the test with its stderr and `advice`.
pub fn run_to_success(mut command: Command, advice: &str) -> Output {
    let output = command.output().unwrap_or_else(|e| cannot_run(e));
    assert!(
        output.status.success(),
        "{:?} failed ({}); {advice}:\n{}",
        command.get_args().next().unwrap_or_default(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
