//! A throw-away git repository holding a copy of `examples/fleet`, and the `monoship` binary run
//! against it.
//!
//! Include it with `#[path = "support/fleet.rs"] mod fleet;`.
#![allow(dead_code)]

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;
use tempfile::TempDir;

/// The 17 services of the fleet, sorted.
pub const ALL: &[&str] = &[
    "analytics",
    "audit",
    "auth",
    "billing",
    "catalog",
    "email",
    "gateway",
    "inventory",
    "media",
    "notifications",
    "orders",
    "payments",
    "reports",
    "scheduler",
    "search",
    "users",
    "webhooks",
];

/// The services that depend on `crates/db`.
pub const DB_USERS: &[&str] = &[
    "audit",
    "billing",
    "catalog",
    "inventory",
    "orders",
    "payments",
    "reports",
    "users",
];

/// The fleet in this repository.
pub fn source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fleet")
}

/// A file of the fleet as checked in here.
pub fn original(rel: &str) -> String {
    let path = source().join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Put the fleet's dependencies in the cargo cache once, so every later `cargo metadata` can run
/// with `--offline`.
fn fetch_once() {
    static FETCH: Once = Once::new();
    FETCH.call_once(|| {
        let out = Command::new(env!("CARGO"))
            .args(["fetch", "--locked", "--manifest-path"])
            .arg(source().join("Cargo.toml"))
            .output()
            .expect("running cargo fetch");
        assert!(
            out.status.success(),
            "cargo fetch failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            fs::copy(&src, &dst).unwrap();
        }
    }
}

/// What one run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// Exit code 2 and exactly one line on stderr, starting with `error:`.
    pub fn usage_error(&self) -> &str {
        assert_eq!(
            self.code, 2,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        let line = self.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "stderr: {}", self.stderr);
        assert!(line.starts_with("error:"), "stderr: {}", self.stderr);
        line
    }
}

pub struct Fleet {
    _tmp: TempDir,
    root: PathBuf,
}

impl Fleet {
    /// The fleet committed on `main` (the base), with branch `feature` checked out.
    pub fn new() -> Fleet {
        Fleet::new_with(|_| {})
    }

    /// Like [`Fleet::new`], with `setup` applied to the files before the base commit.
    pub fn new_with(setup: impl FnOnce(&Fleet)) -> Fleet {
        let fleet = Fleet::files();
        setup(&fleet);
        fleet.git(&["init", "-q", "-b", "main"]);
        fleet.commit("base");
        fleet.git(&["checkout", "-q", "-b", "feature"]);
        fleet
    }

    /// Like [`Fleet::new`], with the workspace in directory `fleet/` of the repository, next
    /// to a file `NOTES.txt` that belongs to no package.
    pub fn nested() -> Fleet {
        Fleet::nested_in("fleet")
    }

    /// Like [`Fleet::nested`], with the workspace in directory `dir` of the repository.
    pub fn nested_in(dir: &str) -> Fleet {
        let fleet = Fleet::copy_to(&format!("repo/{dir}"));
        let repo = fleet.root.parent().unwrap().to_path_buf();
        fleet.write("../NOTES.txt", "notes\n");
        git_in(&repo, &["init", "-q", "-b", "main"]);
        fleet.commit("base");
        fleet.git(&["checkout", "-q", "-b", "feature"]);
        fleet
    }

    /// The fleet's files without a git repository.
    pub fn files() -> Fleet {
        Fleet::copy_to("fleet")
    }

    fn copy_to(rel: &str) -> Fleet {
        fetch_once();
        let tmp = TempDir::new().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap().join(rel);
        copy_tree(&source(), &root);
        Fleet { _tmp: tmp, root }
    }

    /// An empty directory (no files, no repository).
    pub fn empty() -> Fleet {
        let tmp = TempDir::new().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        Fleet { _tmp: tmp, root }
    }

    /// A `--depth 1` clone of this repository's current branch.
    pub fn shallow_clone(&self) -> Fleet {
        let tmp = TempDir::new().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap().join("clone");
        let url = format!("file://{}", self.root.display());
        let clone = Fleet { _tmp: tmp, root };
        git_in(
            clone.root.parent().unwrap(),
            &["clone", "-q", "--depth", "1", &url, "clone"],
        );
        clone
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.root.join(rel)).unwrap()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// Append to a file (created if missing).
    pub fn append(&self, rel: &str, text: &str) {
        let old = fs::read_to_string(self.root.join(rel)).unwrap_or_default();
        self.write(rel, &format!("{old}{text}"));
    }

    /// Replace the one occurrence of `from` in a file.
    pub fn replace(&self, rel: &str, from: &str, to: &str) {
        let old = self.read(rel);
        assert_eq!(old.matches(from).count(), 1, "`{from}` in {rel}");
        self.write(rel, &old.replacen(from, to, 1));
    }

    /// Put a file back as it is in `examples/fleet`.
    pub fn restore(&self, rel: &str) {
        self.write(rel, &original(rel));
    }

    pub fn remove(&self, rel: &str) {
        let path = self.root.join(rel);
        if path.is_dir() {
            fs::remove_dir_all(path).unwrap();
        } else {
            fs::remove_file(path).unwrap();
        }
    }

    pub fn git(&self, args: &[&str]) -> String {
        git_in(&self.root, args)
    }

    /// Stage everything and commit; the new commit's id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Bring `Cargo.lock` up to date with the manifests (as cargo itself would).
    pub fn relock(&self) {
        let out = Command::new(env!("CARGO"))
            .args(["metadata", "--offline", "--format-version", "1"])
            .current_dir(&self.root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cargo metadata: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `monoship --offline -C <root> ARGS`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &Path)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_monoship"));
        cmd.arg("--offline")
            .arg("-C")
            .arg(&self.root)
            .args(args)
            .env_remove("GITHUB_OUTPUT")
            .env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("running monoship");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `monoship affected --format json ARGS`, which must succeed.
    pub fn affected(&self, args: &[&str]) -> Value {
        let mut all = vec!["affected", "--format", "json"];
        all.extend_from_slice(args);
        let run = self.run(&all);
        assert_eq!(
            run.code, 0,
            "stdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        run.json()
    }
}

fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = git_command(dir).args(args).output().expect("running git");
    check(&out, args);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Fleet")
        .env("GIT_AUTHOR_EMAIL", "fleet@example.com")
        .env("GIT_COMMITTER_NAME", "Fleet")
        .env("GIT_COMMITTER_EMAIL", "fleet@example.com");
    cmd
}

fn check(out: &Output, args: &[&str]) {
    assert!(
        out.status.success(),
        "git {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The affected services' names, in output order.
pub fn names(report: &Value) -> Vec<String> {
    report["affected"]
        .as_array()
        .expect("affected is a list")
        .iter()
        .map(|a| a["service"].as_str().unwrap().to_string())
        .collect()
}

/// Assert the affected set (sorted names), and that nothing failed closed.
pub fn assert_affected(report: &Value, expected: &[&str]) {
    assert_eq!(names(report), expected, "report: {report:#}");
    assert_eq!(report["fail_closed"], Value::Null, "report: {report:#}");
    let unaffected: Vec<&str> = report["unaffected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let rest: Vec<&str> = ALL
        .iter()
        .copied()
        .filter(|s| !expected.contains(s))
        .filter(|s| !report["removed"].as_array().unwrap().iter().any(|r| r == s))
        .collect();
    assert_eq!(unaffected, rest, "report: {report:#}");
}

/// The reasons of one affected service.
pub fn reasons<'a>(report: &'a Value, service: &str) -> &'a Vec<Value> {
    report["affected"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["service"] == service)
        .unwrap_or_else(|| panic!("{service} is not affected: {report:#}"))["reasons"]
        .as_array()
        .unwrap()
}

/// Assert that `service` has a reason of `kind` for `path` (any path with `None`) through `via`
/// (any chain with `None`).
pub fn assert_reason(
    report: &Value,
    service: &str,
    kind: &str,
    path: Option<&str>,
    via: Option<&[&str]>,
) {
    let rs = reasons(report, service);
    let found = rs.iter().any(|r| {
        r["kind"] == kind
            && path.is_none_or(|p| r["path"] == p)
            && via.is_none_or(|v| r["via"] == serde_json::json!(v))
    });
    assert!(
        found,
        "{service}: no {kind} reason for {path:?} via {via:?} in {rs:#?}"
    );
}
