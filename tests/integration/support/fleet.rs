//! A throw-away git repository holding a copy of `examples/fleet`, and the `monoship` binary run
//! against it.

use super::git::git;
use super::run::{Monoship, Run};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
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
pub fn fetch_once() {
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

/// Copy a tree but for what `keep` leaves out; files with the same content are left alone
/// (their modification time too).
pub fn copy_tree(from: &Path, to: &Path, keep: impl Fn(&str) -> bool + Copy) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if !keep(&name.to_string_lossy()) {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst, keep);
        } else if fs::read(&dst).ok() != Some(fs::read(&src).unwrap()) {
            fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Not the fleet's build output nor its repository.
pub fn sources(name: &str) -> bool {
    name != "target" && name != ".git"
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
        git(&repo, &["init", "-q", "-b", "main"]);
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
        copy_tree(&source(), &root, sources);
        Fleet { _tmp: tmp, root }
    }

    /// An empty directory (no files, no repository).
    pub fn empty() -> Fleet {
        let tmp = TempDir::new().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        Fleet { _tmp: tmp, root }
    }

    /// A clone of this repository, as `git clone` makes one: its `origin` is this repository,
    /// and `origin/HEAD` names the branch checked out here.
    pub fn clone_repo(&self) -> Fleet {
        let tmp = TempDir::new().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap().join("clone");
        let url = format!("file://{}", self.root.display());
        git(tmp.path(), &["clone", "-q", &url, "clone"]);
        Fleet { _tmp: tmp, root }
    }

    /// A `--depth 1` clone of this repository's current branch.
    pub fn shallow_clone(&self) -> Fleet {
        let tmp = TempDir::new().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap().join("clone");
        let url = format!("file://{}", self.root.display());
        let clone = Fleet { _tmp: tmp, root };
        git(
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
        git(&self.root, args)
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

    /// `monoship --offline -C <root>`, to add to.
    pub fn monoship(&self) -> Monoship {
        Monoship::at(&self.root)
    }

    /// `monoship --offline -C <root> ARGS`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.monoship().args(args).run()
    }

    /// `monoship affected --format json ARGS`, which must succeed.
    pub fn affected(&self, args: &[&str]) -> Value {
        let mut all = vec!["affected", "--format", "json"];
        all.extend_from_slice(args);
        self.run(&all).ok().json()
    }
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
