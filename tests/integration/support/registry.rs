//! Helpers for the publish tests: one release build of `gateway` and `search` from a copy of
//! `examples/fleet`, shared by every test of the process, and `skopeo inspect`.

use super::fleet::{self, copy_tree};
use super::git::git;
use super::run::{Monoship, Run};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use tempfile::TempDir;

/// The services the shared build makes.
pub const BUILT: &[&str] = &["gateway", "search"];

/// The shared build: a git repository with the fleet (kept in the cargo test tmp dir, so the
/// cargo cache survives between runs) and a snapshot of its `target/monoship` right after the
/// build.
pub struct Build {
    pub fleet: PathBuf,
    pub snapshot: PathBuf,
    /// `build.json` of the build.
    pub record: Value,
}

impl Build {
    pub fn revision(&self) -> &str {
        self.record["revision"].as_str().unwrap()
    }

    pub fn tag(&self) -> String {
        self.revision()[..12].to_string()
    }

    pub fn digest(&self, service: &str) -> String {
        digest_in(&self.record, service)
    }

    /// A private copy of the build output (build.json + oci/) for `--from`.
    pub fn output_copy(&self) -> TempDir {
        let tmp = TempDir::new().unwrap();
        copy_tree(&self.snapshot, tmp.path(), |_| true);
        tmp
    }
}

/// `image_digest` of `service` in a build record.
pub fn digest_in(record: &Value, service: &str) -> String {
    field_in(record, service, "image_digest")
}

/// A field of `service`'s entry in a build record.
pub fn field_in(record: &Value, service: &str, field: &str) -> String {
    record["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == service)
        .unwrap_or_else(|| panic!("{service} not in {record:#}"))[field]
        .as_str()
        .unwrap()
        .to_string()
}

/// The shared build, made on first use.
pub fn build() -> &'static Build {
    static BUILD: OnceLock<Build> = OnceLock::new();
    BUILD.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let fleet = base.join("publish-fleet");
        prepare_fleet(&fleet);
        let started = std::time::Instant::now();
        let run = monoship(&fleet, &["build", "gateway", "search"], &[]);
        run.ok();
        eprintln!(
            "publish tests: built gateway and search in {:.0}s",
            started.elapsed().as_secs_f64()
        );
        let out = fleet.join("target/monoship");
        let snapshot = base.join("publish-snapshot");
        let _ = fs::remove_dir_all(&snapshot);
        copy_tree(&out, &snapshot, |_| true);
        let record = read_json(&snapshot.join("build.json"));
        Build {
            fleet,
            snapshot,
            record,
        }
    })
}

/// A fresh git repository of `examples/fleet` at `dir`; `dir/target` (cargo's cache) is kept,
/// and files whose content did not change keep their modification time.
fn prepare_fleet(dir: &Path) {
    fleet::fetch_once();
    let source = fleet::source();
    fs::create_dir_all(dir).unwrap();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "target" {
            continue;
        }
        let path = entry.path();
        let present_in_source = source.join(entry.file_name()).exists();
        if entry.file_name() == ".git" || !present_in_source {
            if path.is_dir() {
                fs::remove_dir_all(&path).unwrap();
            } else {
                fs::remove_file(&path).unwrap();
            }
        }
    }
    let _ = fs::remove_dir_all(dir.join("target/monoship"));
    copy_tree(&source, dir, fleet::sources);
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "fleet"]);
}

pub fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `monoship --offline -C DIR ARGS` with `env` added to its clean environment.
pub fn monoship(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    Monoship::at(dir).args(args).envs(env).run()
}

/// `skopeo inspect` of `image` (`host/repo:tag` or `@digest`): the JSON, or the error text.
pub fn skopeo_inspect(image: &str, creds: Option<&str>) -> Result<Value, String> {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--tls-verify=false"]);
    match creds {
        Some(c) => cmd.args(["--creds", c]),
        None => cmd.arg("--no-creds"),
    };
    let out = cmd
        .arg(format!("docker://{image}"))
        .output()
        .expect("running skopeo");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A registry repository prefix no other test (or run) uses.
pub fn unique_prefix(what: &str) -> String {
    format!("{what}-{}", super::testenv::unique())
}

/// Results of a publish JSON by service.
pub fn result<'a>(report: &'a Value, service: &str) -> &'a Value {
    report["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == service)
        .unwrap_or_else(|| panic!("{service} not in {report:#}"))
}
