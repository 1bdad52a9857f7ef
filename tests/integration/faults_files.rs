//! The fault suite, files: every command that writes files, run against a full disk (a small
//! tmpfs filled to the last page), a read-only file system, and files that are not monoship's.
//! Each case asserts the exit code, one error line naming the file or directory at fault, empty
//! stdout, no panic, no planted secret — and the state after: every file byte-identical, no
//! temporary file left behind.
//!
//! Mounting needs root, as the test environment does; a failed mount fails the test.

use crate::support::fault::{Expect, assert_fails};
use crate::support::git::git;
use crate::support::run::{Monoship, Run};
use crate::support::testenv;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for one case, unmounted when dropped.
struct Tmpfs {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Tmpfs {
    fn mount(options: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mnt");
        fs::create_dir(&path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&path)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "mount -t tmpfs -o {options} failed (the fault suite needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { _dir: dir, path }
    }

    /// Fill the file system until not one more byte fits.
    fn fill(&self) {
        use std::io::Write;
        let mut f = fs::File::create(self.path.join("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        while f.write_all(&[0]).is_ok() {}
        let _ = f.sync_all();
    }

    fn remount_read_only(&self) {
        let out = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Every file under `dir` with its bytes (the filler left out).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(path);
            } else if e.file_name() != "filler" {
                files.insert(path.clone(), fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn monoship(dir: &Path, args: &[&str]) -> Run {
    Monoship::at(dir).args(args).run()
}

/// The files of a service package `apps/NAME` (not yet a member: the caller lists it).
fn add_service(root: &Path, name: &str) {
    let dir = root.join("apps").join(name);
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(
        dir.join("Cargo.toml"),
        format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
    )
    .unwrap();
    fs::write(
        dir.join("src/main.rs"),
        "fn main() {\n    println!(\"hello\");\n}\n",
    )
    .unwrap();
}

/// A workspace of one small service with no dependencies (fast to build), committed, with a
/// `[profile.release]` that a truncated manifest would lose.
fn workspace(root: &Path) {
    add_service(root, "hello");
    fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nresolver = \"2\"\nmembers = [\"apps/hello\"]\n\n\
         # kept as it is\n[profile.release]\nopt-level = 1\ncodegen-units = 4\n",
    )
    .unwrap();
    testenv::run_ok(
        Command::new("cargo")
            .args(["generate-lockfile", "--offline"])
            .current_dir(root),
    );
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "base"]);
}

type Files = BTreeMap<PathBuf, Vec<u8>>;

/// Every file byte-identical, none added or removed; the message names the ones that differ.
fn assert_same(before: &Files, after: &Files, case: &str) {
    let differ: Vec<_> = before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .collect();
    assert!(differ.is_empty(), "case `{case}` changed files: {differ:?}");
}

fn no_temporary_files(files: &BTreeMap<PathBuf, Vec<u8>>, case: &str) {
    for path in files.keys() {
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(
            !name.ends_with(".tmp") && !name.contains(".partial") && !name.starts_with(".tmp"),
            "case `{case}` left a temporary file: {}",
            path.display()
        );
    }
}

/// How the disk goes bad in a case.
#[derive(Clone, Copy, Debug)]
enum Disk {
    Full,
    ReadOnly,
}

impl Disk {
    fn apply(self, fs: &Tmpfs) {
        match self {
            Disk::Full => fs.fill(),
            Disk::ReadOnly => fs.remount_read_only(),
        }
    }

    fn words(self) -> &'static str {
        match self {
            Disk::Full => "No space left on device",
            Disk::ReadOnly => "Read-only file system",
        }
    }
}

#[test]
fn init_on_a_bad_disk_leaves_cargo_toml_whole() {
    for disk in [Disk::Full, Disk::ReadOnly] {
        let case = format!("init, {disk:?}");
        let tmp = Tmpfs::mount("size=2m");
        let root = tmp.path.join("ws");
        workspace(&root);
        // Just under one page: with the table it needs two, so a rewrite in place on the full
        // disk would keep only the first 4,096 bytes.
        let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let comment = "# a long comment a user wrote about the workspace\n";
        let padding = comment.repeat((4000 - manifest.len()) / comment.len());
        fs::write(root.join("Cargo.toml"), padding + &manifest).unwrap();
        git(&root, &["commit", "-qam", "notes"]);
        let before = snapshot(&tmp.path);
        disk.apply(&tmp);
        let out = monoship(&root, &["init"]);
        assert_fails(
            &out,
            &Expect {
                case: &case,
                code: 1,
                names: &["Cargo.toml", disk.words()],
            },
        );
        let after = snapshot(&tmp.path);
        no_temporary_files(&after, &case);
        assert_same(&before, &after, &case);
    }
}

#[test]
fn generate_on_a_bad_disk_leaves_the_files_as_they_were() {
    for (kind, disk) in [
        ("k8s", Disk::Full),
        ("k8s", Disk::ReadOnly),
        ("dockerfile", Disk::Full),
        ("dockerfile", Disk::ReadOnly),
        ("workflow", Disk::Full),
    ] {
        let case = format!("generate {kind}, {disk:?}");
        let ws = tempfile::tempdir().unwrap();
        workspace(ws.path());
        let tmp = Tmpfs::mount("size=1m");
        let out_dir = tmp.path.join("out");
        let out_arg = out_dir.to_str().unwrap();
        // A first generation, then one that has something to change: a new service.
        let first = monoship(ws.path(), &["generate", kind, "--out", out_arg]);
        assert_eq!(first.code, 0, "{case}: {first:?}");
        add_service(ws.path(), "bye");
        // The Dockerfile names the Rust version and the workflow how it pushes: change both.
        let manifest = fs::read_to_string(ws.path().join("Cargo.toml")).unwrap();
        fs::write(
            ws.path().join("Cargo.toml"),
            manifest.replace("[\"apps/hello\"]", "[\"apps/hello\", \"apps/bye\"]")
                + "\n[workspace.package]\nrust-version = \"1.90\"\n\n\
                   [workspace.metadata.monoship]\nregistry = \"ghcr.io/acme\"\n",
        )
        .unwrap();
        let before = snapshot(&tmp.path);
        disk.apply(&tmp);
        let out = monoship(ws.path(), &["generate", kind, "--out", out_arg]);
        assert_fails(
            &out,
            &Expect {
                case: &case,
                code: 1,
                names: &[out_arg, disk.words()],
            },
        );
        let after = snapshot(&tmp.path);
        no_temporary_files(&after, &case);
        assert_same(&before, &after, &case);
    }
}

#[test]
fn build_into_a_bad_out_dir_leaves_no_temporary_file() {
    let ws = tempfile::tempdir().unwrap();
    workspace(ws.path());
    for disk in [Disk::Full, Disk::ReadOnly] {
        let case = format!("build --out-dir, {disk:?}");
        let tmp = Tmpfs::mount("size=256k");
        let out_dir = tmp.path.join("monoship");
        if matches!(disk, Disk::ReadOnly) {
            fs::create_dir(&out_dir).unwrap();
        }
        let before = snapshot(&tmp.path);
        disk.apply(&tmp);
        let out = monoship(
            ws.path(),
            &["build", "--out-dir", out_dir.to_str().unwrap()],
        );
        assert_fails(
            &out,
            &Expect {
                case: &case,
                code: 1,
                names: &[tmp.path.to_str().unwrap(), disk.words()],
            },
        );
        let after = snapshot(&tmp.path);
        no_temporary_files(&after, &case);
        assert!(
            !after
                .keys()
                .any(|p| p.ends_with("build.json") || p.ends_with("index.json")),
            "case `{case}`: a record or index names blobs that are not there: {:?}",
            after.keys().collect::<Vec<_>>()
        );
        if matches!(disk, Disk::ReadOnly) {
            assert_same(&before, &after, &case);
        }
    }
}

#[test]
fn generate_never_overwrites_or_removes_what_it_did_not_write_as_it_is() {
    let ws = tempfile::tempdir().unwrap();
    workspace(ws.path());
    let out_dir = ws.path().join("deploy/k8s");
    let run = |args: &[&str]| monoship(ws.path(), args);
    run(&["generate", "k8s"]).ok();
    let generated = fs::read_to_string(out_dir.join("hello.yaml")).unwrap();

    // A copy made by hand, header kept: never removed, reported as kept.
    fs::write(out_dir.join("hello-canary.yaml"), &generated).unwrap();
    // A file written for a service that is gone, as monoship wrote it: removed.
    add_service(ws.path(), "gone");
    let manifest = fs::read_to_string(ws.path().join("Cargo.toml")).unwrap();
    let two = manifest.replace("[\"apps/hello\"]", "[\"apps/hello\", \"apps/gone\"]");
    fs::write(ws.path().join("Cargo.toml"), &two).unwrap();
    run(&["generate", "k8s"]).ok();
    assert!(out_dir.join("gone.yaml").exists());
    fs::write(ws.path().join("Cargo.toml"), &manifest).unwrap();

    let check = run(&["generate", "k8s", "--check"]);
    assert_eq!(check.code, 1, "{check:?}");
    let stderr = &check.stderr;
    assert!(
        stderr.contains("hello-canary.yaml has the header"),
        "{stderr}"
    );
    assert!(stderr.contains("out of date: gone.yaml ("), "{stderr}");

    let out = run(&["generate", "k8s"]);
    let stdout = &out.stdout;
    out.ok();
    assert!(
        stdout.contains("removed") && stdout.contains("gone.yaml"),
        "{stdout}"
    );
    assert!(
        stdout.contains("kept") && stdout.contains("hello-canary.yaml"),
        "{stdout}"
    );
    assert!(!out_dir.join("gone.yaml").exists());
    assert_eq!(
        fs::read_to_string(out_dir.join("hello-canary.yaml")).unwrap(),
        generated
    );

    // A generated file edited by hand, and one written by hand at a generated path: refused,
    // byte-identical, until --force.
    for (case, contents) in [
        ("edited", generated.replace("replicas: 2", "replicas: 5")),
        (
            "hand-written",
            "apiVersion: v1\nkind: ConfigMap\n".to_string(),
        ),
    ] {
        fs::write(out_dir.join("hello.yaml"), &contents).unwrap();
        let before = snapshot(&out_dir);
        let out = run(&["generate", "k8s"]);
        assert_fails(
            &out,
            &Expect {
                case,
                code: 1,
                names: &["hello.yaml", "--force"],
            },
        );
        assert_same(&before, &snapshot(&out_dir), case);
        run(&["generate", "k8s", "--force"]).ok();
        assert_eq!(
            fs::read_to_string(out_dir.join("hello.yaml")).unwrap(),
            generated
        );
    }
}

#[test]
fn bad_configuration_is_a_usage_error_naming_key_and_file() {
    let all: &[&[&str]] = &[
        &["services"],
        &["generate", "k8s"],
        &["build"],
        &["affected"],
    ];
    // (case, the table's text, words the error names, the commands that must refuse it)
    type Case<'a> = (&'a str, &'a str, &'a [&'a str], &'a [&'a [&'a str]]);
    let cases: &[Case] = &[
        (
            "unknown key",
            "servics = [\"apps/*\"]\n",
            &["servics", "Cargo.toml"],
            all,
        ),
        (
            "bad glob",
            "ignore = [\"a/[b\"]\n",
            &["a/[b", "Cargo.toml"],
            &[&["affected"]],
        ),
        (
            "wrong type",
            "replicas = \"two\"\n",
            &["replicas", "Cargo.toml"],
            all,
        ),
    ];
    let ws = tempfile::tempdir().unwrap();
    workspace(ws.path());
    let manifest = fs::read_to_string(ws.path().join("Cargo.toml")).unwrap();
    for (case, table, names, commands) in cases {
        let text = format!("{manifest}\n[workspace.metadata.monoship]\n{table}");
        fs::write(ws.path().join("Cargo.toml"), &text).unwrap();
        let before = snapshot(ws.path());
        for args in commands.iter() {
            let out = monoship(ws.path(), args);
            let case = format!("{case}: {}", args.join(" "));
            assert_fails(
                &out,
                &Expect {
                    case: &case,
                    code: 2,
                    names,
                },
            );
        }
        assert_same(&before, &snapshot(ws.path()), case);
    }
}

#[test]
fn init_keeps_a_byte_order_mark_and_crlf() {
    let ws = tempfile::tempdir().unwrap();
    workspace(ws.path());
    let path = ws.path().join("Cargo.toml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, format!("\u{feff}{}", text.replace('\n', "\r\n"))).unwrap();
    monoship(ws.path(), &["init"]).ok();
    let after = fs::read_to_string(&path).unwrap();
    assert!(after.starts_with("\u{feff}[workspace]\r\n"), "{after:?}");
    assert!(!after.replace("\r\n", "").contains('\n'), "{after:?}");
    assert!(
        after.contains("[workspace.metadata.monoship]\r\n"),
        "{after:?}"
    );
    assert!(
        after.contains("[profile.release]\r\nopt-level = 1\r\n"),
        "{after:?}"
    );
    // cargo still reads it, and monoship reads its own table back.
    monoship(ws.path(), &["services"]).ok();
}
