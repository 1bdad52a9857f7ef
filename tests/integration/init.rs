//! `monoship init` on a copy of examples/fleet, and `monoship completions`.

use crate::support::fleet::{self, Fleet};
use crate::support::run::Monoship;

#[test]
fn writes_a_table_that_parses_back_and_keeps_the_rest_of_the_file() {
    let f = Fleet::files();
    let original = f.read("Cargo.toml");
    let run = f.run(&["init"]);
    run.ok();
    let written = f.read("Cargo.toml");
    // What it printed is exactly what it added; every other byte is as it was.
    assert!(run.stdout.starts_with("[workspace.metadata.monoship]\n"));
    let inserted = format!("\n{}", run.stdout);
    assert!(written.contains(&inserted), "{written}");
    assert_eq!(written.replacen(&inserted, "", 1), original);
    assert_eq!(
        run.stderr,
        format!(
            "wrote [workspace.metadata.monoship] in {}/Cargo.toml (17 services)\n",
            f.path().display()
        )
    );
    for piece in [
        "services = [\"apps/*\"]\n",
        "# registry = \"ghcr.io/your-org\"\n",
        "# namespace = \"fleet\"\n",
        "deployment = \"{service}\"\n",
        "replicas = 2\n",
        "resources = { requests = { cpu = \"50m\", memory = \"64Mi\" }, limits = { memory = \"128Mi\" } }\n",
        "port = 9100\n",
        "webhooks.\n",
    ] {
        assert!(
            run.stdout.contains(piece),
            "missing `{piece}` in:\n{}",
            run.stdout
        );
    }

    // The configuration parses: `services` finds the same 17 services.
    let run = f.run(&["--format", "names", "services"]);
    run.ok();
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), fleet::ALL);
    // And the generators read it.
    f.run(&["generate", "k8s", "--out", "k8s"]).ok();
}

#[test]
fn a_second_run_refuses_and_force_rewrites() {
    let f = Fleet::files();
    f.run(&["init"]).ok();
    let first = f.read("Cargo.toml");

    let run = f.run(&["init"]);
    let err = run.usage_error();
    assert_eq!(
        err,
        format!(
            "error: {}/Cargo.toml already has [workspace.metadata.monoship]: pass --force to \
             replace it",
            f.path().display()
        )
    );
    assert_eq!(f.read("Cargo.toml"), first);

    // A hand-edited (even invalid) table is replaced in place by --force.
    f.replace(
        "Cargo.toml",
        "services = [\"apps/*\"]\n",
        "services = [\"apps/users\"]\nbogus = 1\n",
    );
    assert_eq!(f.run(&["services"]).code, 2);
    let run = f.run(&["init", "--force"]);
    run.ok();
    assert!(
        run.stderr
            .starts_with("replaced [workspace.metadata.monoship]")
    );
    assert_eq!(f.read("Cargo.toml"), first);
    let run = f.run(&["--format", "names", "services"]);
    run.ok();
    assert_eq!(run.stdout.lines().count(), 17);
}

#[test]
fn services_outside_apps_get_their_own_globs() {
    let f = Fleet::files();
    // Move two services out of apps/: now nothing matches the default glob, and services are the
    // packages with a binary.
    std::fs::create_dir_all(f.path().join("svc")).unwrap();
    for s in ["users", "orders"] {
        std::fs::rename(
            f.path().join(format!("apps/{s}")),
            f.path().join(format!("svc/{s}")),
        )
        .unwrap();
    }
    std::fs::remove_dir_all(f.path().join("apps")).unwrap();
    f.replace(
        "Cargo.toml",
        "members = [\"apps/*\", \"crates/*\"]",
        "members = [\"svc/*\", \"crates/*\"]",
    );
    let before = f.run(&["--format", "names", "services"]);
    before.ok();
    let run = f.run(&["--format", "json", "init"]);
    run.ok();
    let report = run.json();
    assert_eq!(report["globs"], serde_json::json!(["svc/*"]));
    assert_eq!(report["replaced"], false);
    assert!(f.read("Cargo.toml").contains("services = [\"svc/*\"]\n"));
    let after = f.run(&["--format", "names", "services"]);
    after.ok();
    assert_eq!(after.stdout, before.stdout);
    assert_eq!(after.stdout, "orders\nusers\n");
}

#[test]
fn from_a_member_directory_it_writes_the_workspace_root() {
    let f = Fleet::files();
    Monoship::new()
        .args(["--offline", "init"])
        .current_dir(&f.path().join("apps/users"))
        .run()
        .ok();
    assert!(
        f.read("Cargo.toml")
            .contains("[workspace.metadata.monoship]")
    );
    assert!(!f.read("apps/users/Cargo.toml").contains("monoship"));
}

#[test]
fn completions_for_every_shell() {
    let completions = |shell: &str| Monoship::new().args(["completions", shell]).run();
    let run = |shell: &str| completions(shell).ok().stdout.clone();
    let bash = run("bash");
    assert!(bash.contains("_monoship()"), "{bash}");
    for word in ["affected", "build", "generate", "init", "completions"] {
        assert!(bash.contains(word), "bash completions lack `{word}`");
    }
    assert!(bash.contains("complete -F _monoship"), "{bash}");
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let text = run(shell);
        assert!(
            text.contains("affected") && text.contains("build"),
            "{shell}:\n{text}"
        );
    }
    assert_eq!(completions("tcsh").code, 2);
}
