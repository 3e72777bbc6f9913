//! What the CLI test crates (`tests/cli.rs`, `tests/import.rs`,
//! `tests/reasons.rs`) share: the `cors-policy` binary run as an operator
//! runs it, and temporary files.

// Each test crate compiles this module and uses a part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_cors-policy");
/// The repository root: commands run there, so relative paths are the README's.
pub const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Runs `cors-policy` with `args` from the repository root (`NO_COLOR` unset,
/// so colour depends on the terminal alone: here, none).
pub fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(ROOT)
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

/// A run's stdout.
pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A run's stderr.
pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Writes `text` to a fresh temporary file named `*-<name>` and returns its path.
pub fn temp_file(name: &str, text: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Cargo's scratch directory for integration tests (under target/), so
    // runs do not pile folders up in the system's temp dir.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cors-policy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{n}-{name}"));
    std::fs::write(&path, text).unwrap();
    path
}
