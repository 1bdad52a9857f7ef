//! Shared helpers for the tests that run against the real test environment
//! started by `scripts/testenv/up` (see scripts/testenv/README.md).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

/// The value of a variable exported by `scripts/testenv/up`. A test that needs
/// the environment and does not find it fails (it is never skipped).
pub fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set: this test needs the test environment. Start it with \
             `eval \"$(scripts/testenv/up)\"` and stop it with `scripts/testenv/down` \
             (scripts/test does both)."
        ),
    }
}

/// A short token unique to this test process, call and moment, for names (namespaces,
/// registry repositories, image tags): the tests of the process run at the same time.
pub fn unique() -> String {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{call}-{:x}", std::process::id(), nanos % 0xffff_ffff)
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Runs a command to completion, panicking only if it cannot be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", describe(cmd)))
}

/// Runs a command that must succeed; returns its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "`{}` failed ({}):\nstdout: {}\nstderr: {}",
        describe(cmd),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A minimal OCI image made from scratch: one layer holding a static binary
/// `/hello` (its entrypoint) that prints `expected_stdout`.
pub struct TinyImage {
    /// The OCI image layout directory (use as `oci:<layout>:<ref_name>`).
    pub layout: PathBuf,
    /// The `org.opencontainers.image.ref.name` of the image in the layout.
    pub ref_name: String,
    /// What the binary prints (one line, without the newline).
    pub expected_stdout: String,
    pub layer_digest: String,
    _dir: tempfile::TempDir,
}

impl TinyImage {
    /// The `oci:` transport reference of the image, for skopeo.
    pub fn oci_ref(&self) -> String {
        format!("oci:{}:{}", self.layout.display(), self.ref_name)
    }
}

fn sha256_file(path: &Path) -> String {
    let out = run_ok(Command::new("sha256sum").arg(path));
    let hex = out.split_whitespace().next().unwrap_or_default().to_owned();
    assert_eq!(hex.len(), 64, "unexpected sha256sum output: {out}");
    hex
}

/// Moves `file` into the layout's blob store; returns (digest, size).
fn add_blob(layout: &Path, file: &Path) -> (String, u64) {
    let hex = sha256_file(file);
    let size = fs::metadata(file).unwrap().len();
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    fs::rename(file, blobs.join(&hex)).unwrap();
    (format!("sha256:{hex}"), size)
}

fn add_json_blob(layout: &Path, scratch: &Path, value: &serde_json::Value) -> (String, u64) {
    let file = scratch.join("blob.json");
    fs::write(&file, serde_json::to_vec(value).unwrap()).unwrap();
    add_blob(layout, &file)
}

/// `dir/rootfs` holding `hello`, a static binary that prints `text`, compiled by rustc.
fn hello_rootfs(dir: &Path, text: &str) -> PathBuf {
    let src = dir.join("main.rs");
    fs::write(
        &src,
        format!("fn main() {{\n    println!(\"{text}\");\n}}\n"),
    )
    .unwrap();
    let rootfs = dir.join("rootfs");
    fs::create_dir_all(&rootfs).unwrap();
    run_ok(
        Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .args([
                "--edition",
                "2021",
                "-O",
                "-C",
                "target-feature=+crt-static",
            ])
            .args(["--target", "x86_64-unknown-linux-gnu", "-o"])
            .arg(rootfs.join("hello"))
            .arg(&src),
    );
    rootfs
}

/// Compiles a tiny static Rust program with rustc and writes an OCI image
/// layout around it (tar + sha256sum, no Dockerfile, no extra crates).
pub fn tiny_image() -> TinyImage {
    let dir = tempfile::tempdir().unwrap();
    let token = unique();
    let expected_stdout = format!("monoship testenv smoke {token}");

    let rootfs = hello_rootfs(dir.path(), &expected_stdout);

    let layout = dir.path().join("layout");
    let scratch = dir.path().join("scratch");
    fs::create_dir_all(&scratch).unwrap();
    fs::create_dir_all(&layout).unwrap();

    let layer_tar = scratch.join("layer.tar");
    run_ok(
        Command::new("tar")
            .args([
                "--sort=name",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "--mtime=@0",
            ])
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&layer_tar)
            .arg("hello"),
    );
    let (layer_digest, layer_size) = add_blob(&layout, &layer_tar);

    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Entrypoint": ["/hello"] },
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
        "history": [{ "created_by": "monoship testenv smoke test" }]
    });
    let (config_digest, config_size) = add_json_blob(&layout, &scratch, &config);

    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest,
            "size": layer_size
        }]
    });
    let (manifest_digest, manifest_size) = add_json_blob(&layout, &scratch, &manifest);

    let ref_name = "smoke".to_owned();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_size,
            "annotations": { "org.opencontainers.image.ref.name": ref_name }
        }]
    });
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();

    TinyImage {
        layout,
        ref_name,
        expected_stdout,
        layer_digest,
        _dir: dir,
    }
}

/// An image of an OCI image layout, copied into podman's storage and running detached with the
/// host's network and `PORT=port`.
pub struct Container {
    pub id: String,
    tag: String,
}

impl Container {
    /// Start the image named `name` in `layout` as `tag`.
    pub fn start(layout: &Path, name: &str, tag: &str, port: u16) -> Container {
        let src = format!("oci:{}:{name}", layout.display());
        let dst = format!("containers-storage:{tag}");
        run_ok(Command::new("skopeo").args(["copy", "--quiet", &src, &dst]));
        let id = run_ok(Command::new("podman").args([
            "--runtime",
            "runc",
            "run",
            "-d",
            "--rm",
            "--network",
            "host",
            "-e",
            &format!("PORT={port}"),
            tag,
        ]));
        Container {
            id: id.trim().to_string(),
            tag: tag.to_string(),
        }
    }

    /// Stop it and remove the image from podman's storage.
    pub fn stop(self) {
        run_ok(Command::new("podman").args(["--runtime", "runc", "stop", "-t", "5", &self.id]));
        let _ = Command::new("podman")
            .args(["rmi", "-f", &self.tag])
            .output();
    }
}
