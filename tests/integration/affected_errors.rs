//! Bad input to `monoship affected`: exit code 2 and one line on stderr naming the problem.

use crate::support::fleet::Fleet;

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
