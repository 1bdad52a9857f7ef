//! Services built with cargo features of their own (`features`, `no-default-features`,
//! `all-features` in the monoship tables): the analysis follows the dependencies those
//! features enable, and `monoship build` passes them to cargo without changing any other
//! service's binary. Small workspaces written by the tests.

use crate::support::fleet::{Fleet, assert_reason};
use crate::support::registry::field_in;
use crate::support::tiny::{self, Crate, assert_exactly, build_hashes, changed, last_commit};
use serde_json::Value;

const LIB: &str = "[dependencies]\nbackend-x = { path = \"../backend-x\", optional = true }\n\
                   [features]\nbackend-x = [\"dep:backend-x\"]\n";
const LIB_SRC: &str = "pub fn backend() -> &'static str {\n    #[cfg(feature = \"backend-x\")]\n    \
                       return backend_x::NAME;\n    #[cfg(not(feature = \"backend-x\"))]\n    \
                       \"plain\"\n}\n";
const USES_LIB: &str = "[dependencies]\nlib = { path = \"../../crates/lib\" }\n";
const MAIN: &str = "fn main() { println!(\"{}\", lib::backend()); }\n";

/// `crates/lib` has an optional dependency `crates/backend-x` behind its feature `backend-x`.
/// `a` enables it with `features = ["lib/backend-x"]`; `b` uses lib plainly; `c` has a
/// default feature `fancy` (the optional `crates/fancy`) and `no-default-features = true`.
fn featured() -> Fleet {
    let a = format!("{USES_LIB}[package.metadata.monoship]\nfeatures = [\"lib/backend-x\"]\n");
    let c = "[dependencies]\nfancy = { path = \"../../crates/fancy\", optional = true }\n\
             [features]\ndefault = [\"fancy\"]\n\
             [package.metadata.monoship]\nno-default-features = true\n";
    tiny::workspace(
        "",
        &[
            Crate {
                dir: "crates/backend-x",
                bin: false,
                manifest: "",
                source: "pub const NAME: &str = \"backend-x\";\n",
            },
            Crate {
                dir: "crates/fancy",
                bin: false,
                manifest: "",
                source: "pub const NAME: &str = \"fancy\";\n",
            },
            Crate {
                dir: "crates/lib",
                bin: false,
                manifest: LIB,
                source: LIB_SRC,
            },
            Crate {
                dir: "apps/a",
                bin: true,
                manifest: &a,
                source: MAIN,
            },
            Crate {
                dir: "apps/b",
                bin: true,
                manifest: USES_LIB,
                source: MAIN,
            },
            Crate {
                dir: "apps/c",
                bin: true,
                manifest: c,
                source: "fn main() {\n    #[cfg(feature = \"fancy\")]\n    println!(\"{}\", fancy::NAME);\n}\n",
            },
        ],
        &[],
    )
}

#[test]
fn a_dependency_a_configured_feature_enables_is_in_the_closure() {
    let f = featured();
    let bins = ["a", "b", "c"];
    let before = build_hashes(&f, &["a"], &["--features", "lib/backend-x"]);
    f.replace(
        "crates/backend-x/src/lib.rs",
        "\"backend-x\"",
        "\"backend-x 2\"",
    );
    f.commit("backend-x renamed");
    let after = build_hashes(&f, &["a"], &["--features", "lib/backend-x"]);
    assert_eq!(changed(&["a"], &before, &after), ["a"]);
    let r = last_commit(&f);
    assert_exactly(&r, &["a"], &["b", "c"]);
    let path = Some("crates/backend-x/src/lib.rs");
    assert_reason(&r, "a", "file", path, Some(&["a", "lib", "backend-x"]));

    // With no default features, what a default feature enables is not in the closure.
    f.replace("crates/fancy/src/lib.rs", "\"fancy\"", "\"fancy 2\"");
    f.commit("fancy renamed");
    let r = last_commit(&f);
    assert_exactly(&r, &[], &bins);
}

#[test]
fn a_change_of_the_configured_features_affects_the_service() {
    let f = featured();
    f.append(
        "apps/b/Cargo.toml",
        "[package.metadata.monoship]\nall-features = true\n",
    );
    f.commit("b with every feature");
    let r = last_commit(&f);
    assert_exactly(&r, &["b"], &["a", "c"]);
    assert_reason(&r, "b", "manifest", Some("apps/b/Cargo.toml"), Some(&["b"]));

    // A workspace default reaches the services that do not set the key themselves.
    f.append(
        "Cargo.toml",
        "[workspace.metadata.monoship]\nno-default-features = true\n",
    );
    f.commit("no default features but where set");
    let r = last_commit(&f);
    assert_exactly(&r, &["a", "b"], &["c"]);
    assert_reason(&r, "a", "manifest", Some("Cargo.toml"), Some(&["a"]));
}

/// `monoship --format json build --profile dev SERVICES`: the build record.
fn build(f: &Fleet, services: &[&str]) -> (Value, String) {
    let mut args = vec!["--format", "json", "build", "--profile", "dev"];
    args.extend_from_slice(services);
    let run = f.run(&args);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    (run.json(), run.stderr)
}

fn binary_sha(record: &Value, service: &str) -> String {
    field_in(record, service, "binary_sha256")
}

#[test]
fn build_passes_the_features_and_keeps_other_binaries_as_they_are() {
    let f = featured();
    let (all, stderr) = build(&f, &[]);
    assert!(stderr.contains("planned 3 cargo invocation(s)"), "{stderr}");
    let run = |bin: &str| {
        let exe = f
            .path()
            .join("target/x86_64-unknown-linux-gnu/debug")
            .join(bin);
        let out = std::process::Command::new(&exe).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(
        (run("a"), run("b"), run("c")),
        ("backend-x".into(), "plain".into(), String::new())
    );
    // Each binary is the one it is when built alone.
    for service in ["a", "b", "c"] {
        let (alone, _) = build(&f, &[service]);
        assert_eq!(
            binary_sha(&alone, service),
            binary_sha(&all, service),
            "{service}"
        );
    }
    // Only a's binary follows backend-x, as the analysis says.
    f.replace(
        "crates/backend-x/src/lib.rs",
        "\"backend-x\"",
        "\"backend-x 2\"",
    );
    f.commit("backend-x renamed");
    let (after, _) = build(&f, &[]);
    assert_eq!(run("a"), "backend-x 2");
    let moved: Vec<&str> = ["a", "b", "c"]
        .into_iter()
        .filter(|s| binary_sha(&all, s) != binary_sha(&after, s))
        .collect();
    assert_eq!(moved, ["a"]);
}
