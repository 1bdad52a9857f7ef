//! Debug info and images: a release profile with `debug = true` builds a large binary; the
//! image carries it stripped (the same bytes every time), the binary as built stays beside
//! build.json with its build id, and `strip = false` keeps it whole.

use crate::support::fleet::Fleet;
use crate::support::git::git;
use crate::support::run::Monoship;
use crate::support::tiny::{self, Crate};
use crate::support::{http, servers, testenv};
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::process::Command;

/// A service of the standard library only: `--once` prints its name; otherwise it answers
/// every request on `PORT` with its name.
const SERVER: &str = r#"use std::io::{Read, Write};

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--once") {
        println!("hello");
        return;
    }
    let port: u16 = std::env::var("PORT").unwrap().parse().unwrap();
    let listener = std::net::TcpListener::bind(("0.0.0.0", port)).unwrap();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request);
        let body = "{\"service\":\"hello\"}";
        let _ = write!(stream, "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    }
}
"#;

/// Two services, built with the release profile keeping its debug info.
fn workspace(profile: &str) -> Fleet {
    let crates = [
        Crate {
            dir: "apps/hello",
            bin: true,
            manifest: "",
            source: SERVER,
        },
        Crate {
            dir: "apps/other",
            bin: true,
            manifest: "",
            source: "fn main() {}\n",
        },
    ];
    tiny::workspace(&format!("[profile.release]\n{profile}\n"), &crates, &[])
}

fn build(f: &Fleet) -> Value {
    let run = f.run(&["--format", "json", "build", "hello"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.json()["services"][0].clone()
}

/// The build id and whether there are `.debug_*` sections (but the loaded
/// `.debug_gdb_scripts`, which is no debug info and stays).
fn elf(binary: &[u8]) -> (Option<Vec<u8>>, bool) {
    use object::{Object, ObjectSection};
    let file = object::File::parse(binary).unwrap();
    let debug = file.sections().any(|s| {
        s.name()
            .is_ok_and(|n| n.starts_with(".debug_") && n != ".debug_gdb_scripts")
    });
    (file.build_id().unwrap().map(<[u8]>::to_vec), debug)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The binary `/app/hello` in the image of `record`'s service, in the layout under `out`.
fn image_binary(out: &Path, record: &Value) -> Vec<u8> {
    let blob = |d: &str| {
        std::fs::read(
            out.join("oci/blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let manifest: Value =
        serde_json::from_slice(&blob(record["image_digest"].as_str().unwrap())).unwrap();
    let layer = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let gz = blob(&layer);
    let mut tar = tar::Archive::new(flate2::read::MultiGzDecoder::new(gz.as_slice()));
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap() == Path::new("app/hello") {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            return data;
        }
    }
    panic!("no app/hello in {layer}");
}

/// `binary --once`, from a file of its own.
fn runs(binary: &[u8]) -> String {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("hello");
    std::fs::write(&path, binary).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(&path).arg("--once").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_image_carries_the_binary_stripped_and_build_json_names_the_original() {
    let f = workspace("debug = true");
    let out = f.path().join("target/monoship");
    let record = build(&f);
    let debug = &record["debug"];
    assert_eq!(debug["strip"], "stripped", "{record:#}");
    assert_eq!(debug["unstripped"], "debug/hello", "{record:#}");
    assert_eq!(debug["build_id_source"], "gnu-build-id", "{record:#}");
    let unstripped = std::fs::read(out.join("debug/hello")).unwrap();
    let image = image_binary(&out, &record);
    assert_eq!(debug["unstripped_size"], unstripped.len() as u64);
    assert_eq!(record["binary_size"], image.len() as u64);
    assert_eq!(
        record["binary_sha256"],
        format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&image))
    );
    assert!(
        image.len() * 2 < unstripped.len(),
        "image {} vs unstripped {}",
        image.len(),
        unstripped.len()
    );
    let (image_id, image_debug) = elf(&image);
    let (built_id, built_debug) = elf(&unstripped);
    assert!(built_debug && !image_debug);
    let built_id = built_id.expect("the linker's build id");
    assert_eq!(image_id.as_deref(), Some(built_id.as_slice()));
    assert_eq!(debug["build_id"], hex(&built_id));
    assert_eq!(runs(&image), "hello\n");
    assert_eq!(runs(&unstripped), "hello\n");

    // The same commit in another checkout, with a target directory of its own: the same bytes.
    let tmp = tempfile::TempDir::new().unwrap();
    git(
        tmp.path(),
        &["clone", "-q", f.path().to_str().unwrap(), "elsewhere"],
    );
    let run = Monoship::at(&tmp.path().join("elsewhere"))
        .args(["--format", "json", "build", "hello"])
        .run();
    let again = run.ok().json()["services"][0].clone();
    assert_eq!(again["image_digest"], record["image_digest"]);
    assert_eq!(again["debug"], record["debug"]);
}

#[test]
fn strip_false_keeps_the_debug_info_is_a_change_and_gives_another_image() {
    let f = workspace("debug = true");
    let out = f.path().join("target/monoship");
    let stripped = build(&f);
    f.append(
        "apps/hello/Cargo.toml",
        "\n[package.metadata.monoship]\nstrip = false\n",
    );
    f.commit("keep the debug info of hello");
    let report = tiny::last_commit(&f);
    tiny::assert_exactly(&report, &["hello"], &["other"]);
    let reasons = crate::support::fleet::reasons(&report, "hello");
    assert_eq!(reasons[0]["kind"], "manifest", "{report:#}");
    assert!(
        reasons[0]["text"]
            .as_str()
            .unwrap()
            .contains("the image settings of hello"),
        "{report:#}"
    );

    let kept = build(&f);
    assert_ne!(kept["image_digest"], stripped["image_digest"]);
    assert_eq!(kept["debug"]["strip"], "off", "{kept:#}");
    assert_eq!(kept["debug"]["unstripped"], Value::Null);
    assert_eq!(kept["debug"]["build_id"], stripped["debug"]["build_id"]);
    assert!(!out.join("debug/hello").exists(), "no stale copy");
    let image = image_binary(&out, &kept);
    assert_eq!(kept["binary_size"], image.len() as u64);
    assert_eq!(kept["debug"]["unstripped_size"], image.len() as u64);
    assert!(elf(&image).1, "the image's binary keeps its debug sections");
    assert_eq!(runs(&image), "hello\n");
}

#[test]
fn a_binary_cargo_stripped_goes_in_as_it_is() {
    let f = workspace("debug = true\nstrip = true");
    let out = f.path().join("target/monoship");
    let record = build(&f);
    let debug = &record["debug"];
    assert_eq!(debug["strip"], "nothing-to-strip", "{record:#}");
    assert_eq!(debug["unstripped"], Value::Null);
    assert!(!out.join("debug").join("hello").exists());
    let image = image_binary(&out, &record);
    let built = std::fs::read(
        f.path()
            .join("target/x86_64-unknown-linux-gnu/release/hello"),
    )
    .unwrap();
    assert_eq!(image, built);
    assert_eq!(debug["unstripped_size"], built.len() as u64);
    let (id, has_debug) = elf(&image);
    assert!(!has_debug);
    assert_eq!(debug["build_id"], hex(&id.unwrap()));
    assert_eq!(runs(&image), "hello\n");
}

#[test]
fn a_stripped_image_runs_under_podman() {
    crate::build::require("podman");
    crate::build::require("skopeo");
    let f = workspace("debug = true");
    let record = build(&f);
    assert_eq!(record["debug"]["strip"], "stripped");
    let layout = f.path().join("target/monoship/oci");
    let tag = format!("localhost/monoship-test/hello:{}", testenv::unique());
    let port = servers::free_port();
    let container = testenv::Container::start(&layout, "hello", &tag, port);
    let body = http::health(port);
    container.stop();
    let json: Value = serde_json::from_str(&body.unwrap()).unwrap();
    assert_eq!(json["service"], "hello");
}
