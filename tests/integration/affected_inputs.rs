//! Dockerfiles and the glob lists: a Dockerfile belongs to the service whose directory holds it,
//! a root one is global; `!` takes a glob back; a service's `inputs` claim a path from the
//! built-in global inputs. Small workspaces written by the tests.

use crate::support::fleet::{Fleet, assert_reason};
use crate::support::tiny::{self, Crate, assert_exactly, last_commit};
use serde_json::{Value, json};

/// Services `a` and `b` (their `[package]` tables followed by `a_extra`, `b_extra`), both using
/// the library `crates/shared`; `root` added to the root manifest.
fn two_services(root: &str, a_extra: &str, b_extra: &str) -> Fleet {
    let dep = "[dependencies]\nshared = { path = \"../../crates/shared\" }\n";
    let (a, b) = (format!("{dep}{a_extra}"), format!("{dep}{b_extra}"));
    let main = "fn main() { shared::hello(); }\n";
    tiny::workspace(
        root,
        &[
            Crate {
                dir: "apps/a",
                bin: true,
                manifest: &a,
                source: main,
            },
            Crate {
                dir: "apps/b",
                bin: true,
                manifest: &b,
                source: main,
            },
            Crate {
                dir: "crates/shared",
                bin: false,
                manifest: "",
                source: "pub fn hello() {}\n",
            },
        ],
        &[],
    )
}

/// Write `path`, commit, and analyse that commit.
fn change(f: &Fleet, path: &str) -> Value {
    f.write(path, "FROM scratch\n");
    f.commit(&format!("change {path}"));
    last_commit(f)
}

/// A change to `path` affects `service` alone (of `a` and `b`), for a reason of `kind` through
/// its own package; the report.
fn alone(f: &Fleet, path: &str, service: &str, kind: &str) -> Value {
    let r = change(f, path);
    let other = if service == "a" { "b" } else { "a" };
    assert_exactly(&r, &[service], &[other]);
    assert_reason(&r, service, kind, Some(path), Some(&[service]));
    r
}

/// The analysis failed closed for exactly these unowned paths.
fn assert_unowned(r: &Value, paths: &[&str]) {
    assert_eq!(r["unowned_paths"], json!(paths), "{r:#}");
    assert!(r["fail_closed"].is_string(), "{r:#}");
}

#[test]
fn a_dockerfile_belongs_to_the_service_whose_directory_holds_it() {
    let f = two_services("", "", "");
    let r = alone(&f, "apps/a/Dockerfile", "a", "dockerfile");
    assert_eq!(
        r["affected"][0]["reasons"][0]["text"],
        "apps/a/Dockerfile changed (a Dockerfile of a)"
    );
    alone(&f, "apps/b/docker/Dockerfile.dev", "b", "dockerfile");

    // In a package that is no service, a Dockerfile changes nothing, not even its users.
    assert_exactly(&change(&f, "crates/shared/Dockerfile"), &[], &["a", "b"]);

    // In the workspace root it is global (the built-in `Dockerfile*`).
    let r = change(&f, "Dockerfile.monoship");
    assert_exactly(&r, &["a", "b"], &[]);
    assert_reason(&r, "b", "global", Some("Dockerfile.monoship"), Some(&[]));

    // Elsewhere outside every package, nothing owns it.
    assert_unowned(
        &change(&f, "docker/Dockerfile.base"),
        &["docker/Dockerfile.base"],
    );
}

#[test]
fn a_leading_bang_takes_back_the_globs_before_it() {
    let root = "[workspace.metadata.monoship]\n\
                global-inputs = [\"!**/Dockerfile*\", \"Dockerfile.monoship\"]\n\
                ignore = [\"!docs/api/**\"]\n";
    let f = two_services(
        root,
        "[package.metadata.monoship]\ninputs = [\"docs/api/**\"]\n",
        "",
    );
    // The built-in `Dockerfile*` is taken back, `Dockerfile.monoship` given again.
    assert_unowned(&change(&f, "Dockerfile.dev"), &["Dockerfile.dev"]);
    assert_exactly(&change(&f, "Dockerfile.monoship"), &["a", "b"], &[]);
    // The built-in `docs/**` no longer ignores docs/api: a's input.
    alone(&f, "docs/api/openapi.yaml", "a", "input");
    assert_exactly(&change(&f, "docs/guide.txt"), &[], &["a", "b"]);
}

#[test]
fn a_configured_global_input_takes_a_dockerfile_of_a_service() {
    let root = "[workspace.metadata.monoship]\nglobal-inputs = [\"apps/*/Dockerfile\"]\n";
    let f = two_services(root, "", "");
    let r = change(&f, "apps/a/Dockerfile");
    assert_exactly(&r, &["a", "b"], &[]);
    assert_reason(&r, "b", "global", Some("apps/a/Dockerfile"), Some(&[]));
}

#[test]
fn a_service_input_claims_a_built_in_global_input_not_a_configured_one() {
    let root = "[workspace.metadata.monoship]\nglobal-inputs = [\"deploy/**\"]\n";
    let a = "[package.metadata.monoship]\ninputs = [\"deploy/a.yaml\"]\n";
    let b = "[package.metadata.monoship]\ninputs = [\"Dockerfile.b\"]\n";
    let f = two_services(root, a, b);
    alone(&f, "Dockerfile.b", "b", "input");
    // Other root Dockerfiles stay global.
    assert_exactly(&change(&f, "Dockerfile"), &["a", "b"], &[]);
    // A glob of the configuration keeps what it takes global.
    let r = change(&f, "deploy/a.yaml");
    assert_exactly(&r, &["a", "b"], &[]);
    assert_reason(&r, "b", "global", Some("deploy/a.yaml"), Some(&[]));
}

#[test]
fn a_bad_negated_glob_names_the_key_and_the_file() {
    let f = two_services("[workspace.metadata.monoship]\nignore = [\"!\"]\n", "", "");
    let err = f.run(&["affected"]).usage_error().to_string();
    let manifest = f.path().join("Cargo.toml");
    assert_eq!(
        err,
        format!(
            "error: {}: invalid glob `!` in `ignore`: empty glob",
            manifest.display()
        )
    );
    f.write(
        "Cargo.toml",
        &f.read("Cargo.toml").replace("ignore = [\"!\"]\n", ""),
    );
    f.append(
        "apps/b/Cargo.toml",
        "[package.metadata.monoship]\ninputs = [\"![x\"]\n",
    );
    let err = f.run(&["affected"]).usage_error().to_string();
    assert!(
        err.contains("`![x`") && err.contains("apps/b/Cargo.toml"),
        "{err}"
    );
}
