//! `monoship check` and the proposal of `monoship init` on a workspace shaped like a real
//! repository (`support::shaped`): the proposal, written by `init`, then a replay of commits
//! touching the files it is about.

use crate::support::fleet::{Fleet, assert_reason, names};
use crate::support::shaped;
use crate::support::snapshot;
use crate::support::tiny::{assert_exactly, last_commit};

#[test]
fn check_proposes_ignore_globs_and_says_what_still_fails_closed() {
    let f = shaped::workspace();
    let run = f.run(&["check"]);
    assert_eq!(run.code, 1, "{}", run.all_output());
    assert!(
        run.stderr
            .contains("error: 15 tracked file(s) would fail closed"),
        "{}",
        run.stderr
    );
    let _redacted = snapshot::redact().path(f.path(), "[WS]").scope();
    insta::assert_snapshot!("check_shaped", run.stdout);

    let json = f.run(&["--format", "json", "check"]).json();
    assert_eq!(json["clean"], false);
    let p = &json["proposal"];
    let globs: Vec<&str> = p["ignore"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["glob"].as_str().unwrap())
        .collect();
    assert_eq!(
        globs,
        [
            ".circleci/**",
            ".gitlab-ci.yml",
            "config/app.toml.example",
            "scripts/**",
            "tests/**",
            "tools/py/**",
            "web/**",
        ]
    );
    let remaining: Vec<&str> = p["remaining"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(remaining, [".dockerignore", "tools/gen.sh"]);
    assert_eq!(
        p["inputs"],
        serde_json::json!([{
            "service": "orders",
            "manifest": "apps/orders/Cargo.toml",
            "dockerfile": "docker/orders.Dockerfile",
            "inputs": ["docker/orders.Dockerfile", "config/orders.toml"],
        }])
    );
    let copied: Vec<(&str, &str, u64)> = p["image_inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["path"].as_str().unwrap(),
                i["dockerfile"].as_str().unwrap(),
                i["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        copied,
        [
            ("assets/users/logo.svg", "apps/users/Dockerfile", 13),
            ("config/users.toml", "apps/users/Dockerfile", 11),
        ]
    );
}

#[test]
fn an_unreadable_dockerfile_fails_closed_for_its_service() {
    let f = shaped::workspace();
    f.run(&["init"]).ok();
    f.commit("monoship init");
    f.replace("apps/users/Dockerfile", "COPY [", "COPPY [");
    f.commit("a typo");
    let r = last_commit(&f);
    assert_eq!(r["fail_closed"], serde_json::Value::Null, "{r:#}");
    assert_eq!(names(&r), ["users"], "{r:#}");
    assert_reason(
        &r,
        "users",
        "fail-closed",
        Some("apps/users/Dockerfile"),
        Some(&["users"]),
    );
    let text = r["affected"][0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "fail-closed")
        .unwrap()["text"]
        .clone();
    assert_eq!(
        text,
        "cannot read a Dockerfile of users: apps/users/Dockerfile:13: unknown instruction \
         `COPPY` (so any change may be in its image)"
    );
    // Any change then counts for users, and --strict says so.
    let r = touch(&f, &["crates/db/src/lib.rs"]);
    assert_eq!(names(&r), ["orders", "users"]);
    let strict = f.run(&["affected", "--base", "HEAD~1", "--strict"]);
    assert_eq!(strict.code, 1, "{}", strict.all_output());
    let check = f.run(&["--format", "json", "check"]);
    assert_eq!(check.code, 1);
    assert_eq!(
        check.json()["proposal"]["unreadable_dockerfiles"][0]["service"],
        "users"
    );
}

#[test]
fn init_dry_run_writes_nothing_and_init_writes_the_proposal() {
    let f = shaped::workspace();
    let before = f.read("Cargo.toml");
    let orders = f.read("apps/orders/Cargo.toml");
    let dry = f.run(&["init", "--dry-run"]);
    dry.ok();
    assert_eq!(f.read("Cargo.toml"), before);
    assert_eq!(f.read("apps/orders/Cargo.toml"), orders);
    assert!(
        dry.stdout
            .contains("    \"web/**\", # JavaScript project (package.json): 3 files\n"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stderr
            .contains("would write [workspace.metadata.monoship]"),
        "{}",
        dry.stderr
    );

    {
        let _redacted = snapshot::redact()
            .pattern(
                r"`monoship init` \d+\.\d+\.\d+",
                "`monoship init` [VERSION]",
            )
            .pattern(r#"# namespace = "[^"]*""#, r#"# namespace = "[DIR]""#)
            .scope();
        insta::assert_snapshot!("init_dry_run_shaped", dry.stdout);
    }
    let run = f.run(&["init"]);
    run.ok();
    assert_eq!(run.stdout, dry.stdout);
    assert!(f.read("Cargo.toml").contains(&run.stdout));
    // Only the two files the proposal could not place still fail closed.
    let check = f.run(&["--format", "json", "check"]);
    assert_eq!(check.code, 1);
    let p = &check.json()["proposal"];
    assert_eq!(p["ignore"], serde_json::json!([]));
    assert_eq!(
        p["unowned"],
        serde_json::json!([".dockerignore", "tools/gen.sh"])
    );
}

/// A commit changing `paths` (appending a line to each).
fn touch(f: &Fleet, paths: &[&str]) -> serde_json::Value {
    for p in paths {
        f.append(p, "\n");
    }
    f.commit(&format!("change {}", paths.join(" ")));
    last_commit(f)
}

#[test]
fn after_init_a_replay_fails_closed_only_where_it_should() {
    let f = shaped::workspace();
    // Without configuration, the side files fail closed.
    let zero: Vec<bool> = [
        &[".circleci/config.yml"][..],
        &["tools/py/poetry.lock", "tools/py/gen/main.py"],
        &["web/src/index.js"],
        &["scripts/release.sh", "tests/smoke.sh"],
    ]
    .iter()
    .map(|paths| touch(&f, paths)["fail_closed"].is_string())
    .collect();
    assert_eq!(zero, [true; 4]);

    f.run(&["init"]).ok();
    // With the `inputs` the proposal names for orders in its own manifest.
    assert!(
        f.read("apps/orders/Cargo.toml").contains(
            "\n[package.metadata.monoship]\n\
             inputs = [\"docker/orders.Dockerfile\", \"config/orders.toml\"]\n"
        ),
        "{}",
        f.read("apps/orders/Cargo.toml")
    );
    f.commit("monoship init");
    let all = ["billing", "orders", "users"];
    for paths in [
        &[".circleci/config.yml", ".gitlab-ci.yml"][..],
        &["tools/py/poetry.lock", "tools/py/gen/main.py"],
        &["web/src/index.js", "web/package-lock.json"],
        &["scripts/release.sh", "tests/smoke.sh"],
        &["docs/architecture.txt", "config/app.toml.example"],
        &["assets/users/README.md"],
    ] {
        let r = touch(&f, paths);
        assert_exactly(&r, &[], &all);
    }
    // What the users image copies: users alone.
    let r = touch(&f, &["config/users.toml"]);
    assert_exactly(&r, &["users"], &["billing", "orders"]);
    assert_reason(
        &r,
        "users",
        "dockerfile-copy",
        Some("config/users.toml"),
        Some(&["users"]),
    );
    let r = touch(&f, &["assets/users/logo.svg"]);
    assert_exactly(&r, &["users"], &["billing", "orders"]);
    // The crate graph as before.
    let r = touch(&f, &["crates/db/src/lib.rs"]);
    assert_exactly(&r, &["orders", "users"], &["billing"]);
    // What the orders Dockerfile outside its directory copies: orders alone.
    for p in ["config/orders.toml", "docker/orders.Dockerfile"] {
        let r = touch(&f, &[p]);
        assert_exactly(&r, &["orders"], &["billing", "users"]);
        assert_reason(&r, "orders", "input", Some(p), Some(&["orders"]));
    }
    // Justified: a root file Docker builds read, and one nothing recognizes.
    for p in [".dockerignore", "tools/gen.sh"] {
        let r = touch(&f, &[p]);
        assert_eq!(r["unowned_paths"], serde_json::json!([p]), "{r:#}");
        assert_eq!(names(&r), all);
    }
    // Declared by hand, nothing fails closed any more, and check says so.
    f.replace(
        "Cargo.toml",
        "# global-inputs = [\"deploy/base/**\"]",
        "global-inputs = [\".dockerignore\"]",
    );
    f.replace(
        "Cargo.toml",
        "\"deploy/k8s/**\",",
        "\"deploy/k8s/**\", \"tools/gen.sh\",",
    );
    let check = f.run(&["check"]);
    check.ok();
    assert!(
        check.stdout.starts_with("nothing fails closed"),
        "{}",
        check.stdout
    );
}
