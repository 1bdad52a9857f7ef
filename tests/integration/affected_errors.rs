//! Bad input to `monoship affected`: exit code 2 and one line on stderr naming the problem.

use crate::support::fleet::Fleet;
use crate::support::tiny::{self, Crate};
use std::path::PathBuf;

fn affected_error(f: &Fleet, args: &[&str]) -> String {
    let mut all = vec!["affected", "--format", "json"];
    all.extend_from_slice(args);
    f.run(&all).usage_error().to_string()
}

#[test]
fn unknown_config_key_names_the_key_and_the_file() {
    let f = Fleet::new();
    f.append(
        "Cargo.toml",
        "\n[workspace.metadata.monoship]\nservice = [\"apps/*\"]\n",
    );
    let err = affected_error(&f, &[]);
    assert!(err.contains("`service`"), "{err}");
    let manifest = f.path().join("Cargo.toml");
    assert!(err.contains(&*manifest.to_string_lossy()), "{err}");
}

#[test]
fn bad_glob_is_named() {
    let f = Fleet::new();
    f.append(
        "Cargo.toml",
        "\n[workspace.metadata.monoship]\nignore = [\"apps/[x\"]\n",
    );
    let err = affected_error(&f, &[]);
    assert!(err.contains("apps/[x") && err.contains("ignore"), "{err}");
}

#[test]
fn bad_service_input_glob_names_the_package_manifest() {
    let f = Fleet::new();
    f.append(
        "apps/users/Cargo.toml",
        "\n[package.metadata.monoship]\ninputs = [\"assets/{users\"]\n",
    );
    let err = affected_error(&f, &[]);
    assert!(err.contains("assets/{users"), "{err}");
    assert!(err.contains("apps/users/Cargo.toml"), "{err}");
}

#[test]
fn unknown_base_revision_is_named() {
    let f = Fleet::new();
    let err = affected_error(&f, &["--base", "no-such-branch"]);
    assert!(err.contains("no-such-branch"), "{err}");
}

#[test]
fn unknown_head_revision_is_named() {
    let f = Fleet::new();
    let err = affected_error(&f, &["--head", "no-such-tag"]);
    assert!(err.contains("no-such-tag"), "{err}");
}

#[test]
fn not_a_git_repository() {
    let f = Fleet::files();
    let err = affected_error(&f, &[]);
    assert!(err.contains("not a git repository"), "{err}");
}

#[test]
fn not_a_cargo_workspace() {
    let f = Fleet::empty();
    f.git(&["init", "-q", "-b", "main"]);
    let err = affected_error(&f, &[]);
    assert!(err.contains("Cargo.toml"), "{err}");
}

#[test]
fn unknown_service_to_explain() {
    let f = Fleet::new();
    let err = affected_error(&f, &["--explain", "nosuch"]);
    assert!(err.contains("nosuch"), "{err}");
}

/// rustup's `cargo` (the tests' `$CARGO` is the toolchain's own, which reads no
/// rust-toolchain file).
fn rustup_cargo() -> PathBuf {
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"));
    let cargo = home.join("bin/cargo");
    assert!(cargo.is_file(), "no rustup cargo at {}", cargo.display());
    cargo
}

#[test]
fn a_pinned_toolchain_that_is_not_installed_says_what_pins_it() {
    let f = Fleet::new_with(|f| {
        f.write("rust-toolchain.toml", "[toolchain]\nchannel = \"1.70.0\"\n");
    });
    let run = f
        .monoship()
        .args(["affected", "--format", "json"])
        .env("CARGO", rustup_cargo())
        // What rustup sets for the test process would win over the file.
        .env_remove("RUSTUP_TOOLCHAIN")
        .run();
    let err = run.usage_error();
    assert!(err.contains("toolchain '1.70.0-"), "{err}");
    assert!(err.contains("is not installed"), "{err}");
    assert!(err.contains("`rustup toolchain install`"), "{err}");
    let pin = f.path().join("rust-toolchain.toml");
    assert!(
        err.contains(&format!("pinned by {}", pin.display())),
        "{err}"
    );
}

#[test]
fn a_git_dependency_that_cannot_be_fetched_keeps_every_cause() {
    let url = format!(
        "https://127.0.0.1:9/monoship-test-{}.git",
        std::process::id()
    );
    let f = Fleet::new_with(|f| {
        f.append(
            "crates/db/Cargo.toml",
            &format!("unreachable-dep = {{ git = \"{url}\" }}\n"),
        );
    });
    let err = affected_error(&f, &[]).to_string();
    assert!(
        err.contains("failed to get `unreachable-dep` as a dependency of package"),
        "{err}"
    );
    assert!(err.contains(&url), "{err}");
    assert!(err.contains("cargo fetch"), "{err}");
}

/// A workspace of one binary package in `dir` (and a library), `root` added to its manifest.
fn one_binary_in(dir: &str, root: &str) -> Fleet {
    let crates = [
        Crate {
            dir,
            bin: true,
            manifest: "",
            source: "fn main() {}\n",
        },
        Crate {
            dir: "crates/common",
            bin: false,
            manifest: "",
            source: "",
        },
    ];
    tiny::workspace(root, &crates, &[])
}

#[test]
fn services_globs_that_match_nothing_are_named_together() {
    let f = one_binary_in(
        "apps/a",
        "[workspace.metadata.monoship]\nservices = [\"svc/*\", \"apps/*\", \"tools/*\"]\n",
    );
    let manifest = f.path().join("Cargo.toml");
    let expect = |f: &Fleet, message: &str| {
        let expected = format!("error: {}: {message}", manifest.display());
        assert_eq!(affected_error(f, &[]), expected);
    };
    expect(
        &f,
        "`services` globs `svc/*`, `tools/*` match no workspace member",
    );
    // Every command that reads the services says the same.
    let err = f.run(&["services"]).usage_error().to_string();
    assert!(err.contains("`svc/*`, `tools/*`"), "{err}");

    f.replace(
        "Cargo.toml",
        "\"svc/*\", \"apps/*\", \"tools/*\"",
        "\"apps/b\"",
    );
    expect(&f, "`services` glob `apps/b` matches no workspace member");
    f.replace("Cargo.toml", "[\"apps/b\"]", "[]");
    expect(
        &f,
        "`services` is empty: list the directories of the service packages",
    );
}

#[test]
fn no_service_under_the_default_glob_nor_with_a_binary_is_an_error() {
    let f = tiny::workspace(
        "",
        &[Crate {
            dir: "crates/common",
            bin: false,
            manifest: "",
            source: "",
        }],
        &[],
    );
    assert_eq!(
        affected_error(&f, &[]),
        format!(
            "error: {}: no services: no workspace member is in the default `services = \
             [\"apps/*\"]` and none has a binary target; set `services` in \
             [workspace.metadata.monoship]",
            f.path().join("Cargo.toml").display()
        )
    );
    // `init` still writes its table, and says there is no service.
    let run = f.run(&["init"]);
    assert!(
        run.ok().stderr.contains("found no services"),
        "{}",
        run.stderr
    );
}

#[test]
fn without_services_under_the_default_glob_the_binaries_are_services() {
    let f = one_binary_in("tools/gen", "");
    let run = f.run(&["--format", "names", "services"]);
    assert_eq!(run.ok().stdout, "gen\n");
    f.append("tools/gen/src/main.rs", "// changed\n");
    f.commit("change gen");
    tiny::assert_exactly(&tiny::last_commit(&f), &["gen"], &[]);
}
