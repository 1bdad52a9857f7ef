//! Small workspaces written by a test: path crates only (nothing to fetch), services under
//! `apps/`, in a throw-away git repository like the fleet's (base on `main`, branch `feature`).

use super::fleet::{Fleet, names};
use serde_json::Value;
use std::process::Command;

/// One package of a small workspace.
pub struct Crate<'a> {
    /// Directory, relative to the workspace root; its last component is the package's name.
    pub dir: &'a str,
    /// A binary (`src/main.rs`) or a library (`src/lib.rs`).
    pub bin: bool,
    /// What follows `[package]` in its manifest: `[dependencies]`, `[features]`, metadata.
    pub manifest: &'a str,
    /// Its one source file.
    pub source: &'a str,
}

/// The workspace of `crates` (members in that order, `root` appended to the root manifest),
/// locked, committed on `main`, with branch `feature` checked out.
pub fn workspace(root: &str, crates: &[Crate<'_>], extra: &[(&str, &str)]) -> Fleet {
    let f = Fleet::empty();
    let members: Vec<String> = crates.iter().map(|c| format!("\"{}\"", c.dir)).collect();
    f.write(
        "Cargo.toml",
        &format!(
            "[workspace]\nresolver = \"2\"\nmembers = [{}]\n{root}",
            members.join(", ")
        ),
    );
    for c in crates {
        let name = c.dir.rsplit('/').next().unwrap();
        f.write(
            &format!("{}/Cargo.toml", c.dir),
            &format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n{}",
                c.manifest
            ),
        );
        let file = if c.bin { "main.rs" } else { "lib.rs" };
        f.write(&format!("{}/src/{file}", c.dir), c.source);
    }
    for (path, text) in extra {
        f.write(path, text);
    }
    f.write(".gitignore", "/target\n");
    f.relock();
    f.git(&["init", "-q", "-b", "main"]);
    f.commit("base");
    f.git(&["checkout", "-q", "-b", "feature"]);
    f
}

/// A line appended to `path`, committed, and that commit analysed.
pub fn change(f: &Fleet, path: &str) -> Value {
    f.append(path, "\n");
    f.commit(&format!("change {path}"));
    last_commit(f)
}

/// The change of the last commit, analysed (`--base HEAD~1`).
pub fn last_commit(f: &Fleet) -> Value {
    f.affected(&["--base", "HEAD~1"])
}

/// Exactly these services are affected (sorted), the others not, and nothing failed closed.
pub fn assert_exactly(report: &Value, affected: &[&str], unaffected: &[&str]) {
    assert_eq!(names(report), affected, "report: {report:#}");
    assert_eq!(report["fail_closed"], Value::Null, "report: {report:#}");
    assert_eq!(
        report["unaffected"],
        serde_json::json!(unaffected),
        "report: {report:#}"
    );
}

/// `cargo build` (debug) of `bins` in the workspace; the sha256 of each binary, in order.
pub fn build_hashes(f: &Fleet, bins: &[&str], args: &[&str]) -> Vec<String> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--offline", "--quiet"])
        .current_dir(f.path())
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR");
    for b in bins {
        cmd.args(["-p", b]);
    }
    let out = cmd.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "cargo build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bins.iter()
        .map(|b| {
            let bytes = std::fs::read(f.path().join("target/debug").join(b)).unwrap();
            format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&bytes))
        })
        .collect()
}

/// The services among `bins` whose binary differs between two [`build_hashes`].
pub fn changed<'a>(bins: &[&'a str], before: &[String], after: &[String]) -> Vec<&'a str> {
    bins.iter()
        .zip(before.iter().zip(after))
        .filter(|(_, (b, a))| b != a)
        .map(|(n, _)| *n)
        .collect()
}
