//! Helpers shared by the CLI test files: run the binary as a user would, and check failures.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

/// Runs `deepq` with `args` in `cwd` and collects its output.
pub fn deepq(args: &[&str], cwd: &Path) -> Output {
    Command::cargo_bin("deepq")
        .unwrap()
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap()
}

/// The captured stderr, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A bad-input failure: exit `code`, one line on stderr naming the problem, no panic.
pub fn assert_clean_error(out: &Output, code: i32, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "'{needle}' missing from: {err}");
    }
}
