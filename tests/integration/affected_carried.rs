//! Files that reach a service other than through its crate graph: a file of one package
//! embedded by another, and the files an image carries (`files`, or a copy of its Dockerfile).
//! Small workspaces written by the tests, checked against what cargo really rebuilds where that
//! is cheap.

use crate::support::fleet::{Fleet, assert_reason};
use crate::support::tiny::{self, Crate, assert_exactly, build_hashes, changed, last_commit};

/// `crates/data` embeds its own `assets/banner.txt` in a way no scan finds
/// (`concat!` of literals); `crates/banner` embeds the same file with a plain literal.
/// `x` uses data, `y` uses banner, `z` neither.
fn embedded() -> Fleet {
    tiny::workspace(
        "",
        &[
            Crate {
                dir: "crates/data",
                bin: false,
                manifest: "",
                source: "pub const BANNER: &str = include_str!(concat!(\"../assets/\", \"banner.txt\"));\n",
            },
            Crate {
                dir: "crates/banner",
                bin: false,
                manifest: "",
                source: "pub const TEXT: &str = include_str!(\"../../data/assets/banner.txt\");\n",
            },
            Crate {
                dir: "apps/x",
                bin: true,
                manifest: "[dependencies]\ndata = { path = \"../../crates/data\" }\n",
                source: "fn main() { println!(\"{}\", data::BANNER); }\n",
            },
            Crate {
                dir: "apps/y",
                bin: true,
                manifest: "[dependencies]\nbanner = { path = \"../../crates/banner\" }\n",
                source: "fn main() { println!(\"{}\", banner::TEXT); }\n",
            },
            Crate {
                dir: "apps/z",
                bin: true,
                manifest: "",
                source: "fn main() { println!(\"z\"); }\n",
            },
        ],
        &[("crates/data/assets/banner.txt", "hello\n")],
    )
}

#[test]
fn a_file_embedded_by_another_package_still_changes_its_own() {
    let f = embedded();
    let bins = ["x", "y", "z"];
    let before = build_hashes(&f, &bins, &[]);
    f.write("crates/data/assets/banner.txt", "hello again\n");
    f.commit("new banner");
    let after = build_hashes(&f, &bins, &[]);
    // What cargo rebuilt differently is what the analysis must report.
    assert_eq!(changed(&bins, &before, &after), ["x", "y"]);
    let r = last_commit(&f);
    assert_exactly(&r, &["x", "y"], &["z"]);
    let path = Some("crates/data/assets/banner.txt");
    assert_reason(&r, "x", "file", path, Some(&["x", "data"]));
    assert_reason(&r, "y", "include", path, Some(&["y", "banner"]));
    let texts: Vec<&str> = r["affected"][1]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["crates/data/assets/banner.txt changed in data (embedded by banner)"]
    );
}

/// `gw` carries a file of the root's `config/` and one of `docs/`; `web` carries a file of
/// `crates/assets`, which `api` (not `web`) depends on; every image carries `certs/ca.pem`.
/// A library of both fixtures, and a service using it that neither change concerns.
const ASSETS: Crate<'static> = Crate {
    dir: "crates/assets",
    bin: false,
    manifest: "",
    source: "pub const NAME: &str = \"assets\";\n",
};
const API: Crate<'static> = Crate {
    dir: "apps/api",
    bin: true,
    manifest: "[dependencies]\nassets = { path = \"../../crates/assets\" }\n",
    source: "fn main() { println!(\"{}\", assets::NAME); }\n",
};

fn carried() -> Fleet {
    let gw = "[package.metadata.monoship]\nfiles = [\n  { src = \"config/gw.json\", dst = \"/etc/gw.json\" },\n  { src = \"./docs/openapi.yaml\", dst = \"/etc/openapi.yaml\" },\n]\n";
    let web = "[package.metadata.monoship]\nfiles = [{ src = \"crates/assets/static/index.html\", dst = \"/srv/index.html\" }]\n";
    let root = "[workspace.metadata.monoship]\nfiles = [{ src = \"certs/ca.pem\", dst = \"/etc/ca.pem\" }]\n";
    tiny::workspace(
        root,
        &[
            ASSETS,
            API,
            Crate {
                dir: "apps/gw",
                bin: true,
                manifest: gw,
                source: "fn main() {}\n",
            },
            Crate {
                dir: "apps/web",
                bin: true,
                manifest: web,
                source: "fn main() {}\n",
            },
        ],
        &[
            ("config/gw.json", "{}\n"),
            ("docs/openapi.yaml", "openapi: 3.1.0\n"),
            ("crates/assets/static/index.html", "<p>hi</p>\n"),
            ("certs/ca.pem", "ca\n"),
        ],
    )
}

#[test]
fn a_file_an_image_carries_affects_that_service() {
    let f = carried();
    let change = |path: &str| tiny::change(&f, path);
    // Outside every package: that service only, not every service (fail closed).
    let r = change("config/gw.json");
    assert_exactly(&r, &["gw"], &["api", "web"]);
    assert_reason(
        &r,
        "gw",
        "image-file",
        Some("config/gw.json"),
        Some(&["gw"]),
    );
    // Ignored otherwise (docs/**), and named with `./`: still that service.
    let r = change("docs/openapi.yaml");
    assert_exactly(&r, &["gw"], &["api", "web"]);
    // Inside a package the service does not depend on: the service, and the package's users.
    let r = change("crates/assets/static/index.html");
    assert_exactly(&r, &["api", "web"], &["gw"]);
    assert_reason(&r, "web", "image-file", None, Some(&["web"]));
    assert_reason(&r, "api", "file", None, Some(&["api", "assets"]));
    // The workspace's `files` are in every image.
    let r = change("certs/ca.pem");
    assert_exactly(&r, &["api", "gw", "web"], &[]);
    // A file nothing carries still fails closed.
    let r = change("config/other.json");
    assert!(r["fail_closed"].as_str().is_some(), "{r:#}");
}

#[test]
fn a_change_of_the_image_settings_affects_the_service() {
    let f = carried();
    f.replace(
        "apps/gw/Cargo.toml",
        "files = [",
        "port = 8080\nreplicas = 3\nfiles = [",
    );
    f.commit("gw on 8080");
    let r = last_commit(&f);
    assert_exactly(&r, &["gw"], &["api", "web"]);
    assert_reason(
        &r,
        "gw",
        "manifest",
        Some("apps/gw/Cargo.toml"),
        Some(&["gw"]),
    );
    // What does not go into the image or the binary (a Deployment's replicas) changes nothing.
    f.replace("apps/gw/Cargo.toml", "replicas = 3", "replicas = 4");
    f.commit("more gw pods");
    assert_exactly(&last_commit(&f), &[], &["api", "gw", "web"]);
    // Another file in every image.
    f.replace(
        "Cargo.toml",
        "files = [",
        "files = [{ src = \"certs/extra.pem\", dst = \"/etc/extra.pem\" }, ",
    );
    f.write("certs/extra.pem", "extra\n");
    f.commit("one more certificate");
    let r = last_commit(&f);
    assert_exactly(&r, &["api", "gw", "web"], &[]);
    assert_reason(&r, "web", "manifest", Some("Cargo.toml"), Some(&["web"]));
}

/// `web` (no dependencies) has a Dockerfile that copies the whole context for its build, the
/// static files of `crates/assets` and what `conf*` matches, less what the `.dockerignore`
/// beside it leaves out; `api` uses `crates/assets`.
fn copied() -> Fleet {
    let dockerfile = "FROM rust AS build\nWORKDIR /app\nCOPY . .\nRUN cargo build -p web\n\
                      FROM debian\nCOPY --from=build /app/target/release/web /web\n\
                      COPY crates/assets/static /srv/static\n\
                      COPY --link conf* /etc/web/\n";
    tiny::workspace(
        "",
        &[
            ASSETS,
            API,
            Crate {
                dir: "apps/web",
                bin: true,
                manifest: "",
                source: "fn main() {}\n",
            },
        ],
        &[
            ("apps/web/Dockerfile", dockerfile),
            (
                "apps/web/Dockerfile.dockerignore",
                "target\nconfig/secret.txt\n",
            ),
            ("crates/assets/static/index.html", "<p>hi</p>\n"),
            ("config/web.json", "{}\n"),
            ("config/secret.txt", "s3cret\n"),
            ("notes/x.txt", "x\n"),
        ],
    )
}

#[test]
fn a_file_a_dockerfile_copies_affects_that_service() {
    let f = copied();
    let change = |path: &str| tiny::change(&f, path);
    let r = change("config/web.json");
    assert_exactly(&r, &["web"], &["api"]);
    assert_reason(
        &r,
        "web",
        "dockerfile-copy",
        Some("config/web.json"),
        Some(&["web"]),
    );
    let texts: Vec<&str> = r["affected"][0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["config/web.json changed (copied into the image of web by apps/web/Dockerfile:8)"]
    );
    // Inside a package web does not use: web's image and the package's users.
    let r = change("crates/assets/static/index.html");
    assert_exactly(&r, &["api", "web"], &[]);
    assert_reason(&r, "web", "dockerfile-copy", None, Some(&["web"]));
    assert_reason(&r, "api", "file", None, Some(&["api", "assets"]));
    // `COPY . .` is for the cargo build: the crate graph decides, as without the Dockerfile.
    let r = change("crates/assets/src/lib.rs");
    assert_exactly(&r, &["api"], &["web"]);
    let r = change("notes/x.txt");
    assert_eq!(
        r["unowned_paths"],
        serde_json::json!(["notes/x.txt"]),
        "{r:#}"
    );
    // What the Dockerfile's own .dockerignore leaves out is not in the image.
    let r = change("config/secret.txt");
    assert_eq!(
        r["unowned_paths"],
        serde_json::json!(["config/secret.txt"]),
        "{r:#}"
    );
}

#[test]
fn a_dockerfile_built_from_the_repository_root_above_the_workspace() {
    // The workspace is `ws/` of the repository; the users image is built from the repository's
    // root, so its sources name `ws/...`.
    let f = Fleet::nested_in("ws");
    f.write(
        "apps/users/Dockerfile",
        "FROM rust AS build\nCOPY ws /src/ws\nRUN cargo build -p users\n\
         FROM debian\nCOPY ws/config/users.toml /etc/users.toml\n",
    );
    f.write("config/users.toml", "a = 1\n");
    f.commit("users image");
    f.append("config/users.toml", "b = 2\n");
    f.commit("users config");
    let r = last_commit(&f);
    assert_eq!(crate::support::fleet::names(&r), ["users"], "{r:#}");
    assert_reason(
        &r,
        "users",
        "dockerfile-copy",
        Some("config/users.toml"),
        Some(&["users"]),
    );
}
