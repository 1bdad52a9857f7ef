//! Helpers for the publish tests: one release build of `gateway` and `search` from a copy of
//! `examples/fleet`, shared by every test of the process, and the `monoship` binary run with a
//! clean credential environment.
//!
//! Include it with `#[path = "support/registry.rs"] mod registry;` (needs `mod testenv;`).
#![allow(dead_code)]

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
    record["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == service)
        .unwrap_or_else(|| panic!("{service} not in {record:#}"))["image_digest"]
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
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fleet");
    let out = Command::new(env!("CARGO"))
        .args(["fetch", "--locked", "--manifest-path"])
        .arg(source.join("Cargo.toml"))
        .output()
        .expect("running cargo fetch");
    assert!(
        out.status.success(),
        "cargo fetch: {}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    copy_tree(&source, dir, |name| name != "target" && name != ".git");
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "fleet"]);
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args([
            "-c",
            "user.name=monoship tests",
            "-c",
            "user.email=tests@monoship.invalid",
        ])
        .args(args)
        .output()
        .expect("running git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Copy a tree; files with the same content are left alone (their mtime too).
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
        } else {
            let data = fs::read(&src).unwrap();
            if fs::read(&dst).ok().as_deref() != Some(data.as_slice()) {
                fs::write(&dst, data).unwrap();
            }
        }
    }
}

pub fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What one run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// The one `error:` line on stderr.
    pub fn error_line(&self) -> String {
        let line = self
            .stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_else(|| panic!("no error line; stderr: {}", self.stderr));
        assert_eq!(
            self.stderr.matches("error:").count(),
            1,
            "stderr: {}",
            self.stderr
        );
        line.to_string()
    }

    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// `monoship --offline -C DIR ARGS` with no registry credentials in the environment and an
/// empty docker config, unless `env` sets them.
pub fn monoship(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let empty = TempDir::new().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_monoship"));
    cmd.arg("--offline")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("MONOSHIP_REGISTRY_USER")
        .env_remove("MONOSHIP_REGISTRY_PASSWORD")
        .env_remove("MONOSHIP_LOG")
        .env("DOCKER_CONFIG", empty.path());
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

/// A 127.0.0.1 port nothing listens on.
pub fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
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
