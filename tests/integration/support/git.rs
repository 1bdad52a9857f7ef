//! `git` for the tests' throw-away repositories: no system or global configuration, one
//! author and committer.

use std::path::Path;
use std::process::Command;

/// `git ARGS` in `dir`, which must succeed; its stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Fleet")
        .env("GIT_AUTHOR_EMAIL", "fleet@example.com")
        .env("GIT_COMMITTER_NAME", "Fleet")
        .env("GIT_COMMITTER_EMAIL", "fleet@example.com")
        .args(args)
        .output()
        .expect("running git");
    assert!(
        out.status.success(),
        "git {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
