//! The output of `monoship affected` (the human form, `--explain`, names, the GitHub matrix and
//! output file, mermaid, dot) and of `monoship services`, on copies of `examples/fleet`.

use crate::support::fleet::{ALL, DB_USERS, Fleet};
use crate::support::snapshot;
use serde_json::Value;

/// A committed change to `crates/db/src/pool.rs`.
fn db_change() -> Fleet {
    let f = Fleet::new();
    f.append("crates/db/src/pool.rs", "\n// tuned\n");
    f.commit("tune the pool");
    f
}

#[test]
fn other_formats() {
    let f = db_change();
    let run = f.run(&["affected", "--format", "names"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), DB_USERS);

    let run = f.run(&["affected", "--format", "github-matrix"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let matrix = run.json();
    let services: Vec<&str> = matrix["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, DB_USERS);

    let out = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(out.path(), "earlier=1\n").unwrap();
    let run = f
        .monoship()
        .args(["affected", "-q", "--github-output"])
        .env("GITHUB_OUTPUT", out.path())
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let written = std::fs::read_to_string(out.path()).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.len(), 3, "{written}");
    assert_eq!(lines[0], "earlier=1");
    let services = lines[1].strip_prefix("services=").expect("services=");
    assert_eq!(serde_json::from_str::<Value>(services).unwrap(), matrix);
    assert_eq!(lines[2], "any=true");

    for format in ["mermaid", "dot"] {
        let run = f.run(&["affected", "--format", format]);
        insta::assert_snapshot!(format!("db_change_{format}"), run.ok().stdout);
    }
}

/// The human form: one line per affected service with its first reason chain, the base and
/// head in the heading.
#[test]
fn human_output_of_a_shared_crate_change() {
    let f = db_change();
    let run = f.run(&["affected"]);
    let _redacted = snapshot::redact()
        .revision(&f.git(&["rev-parse", "main"]), "[BASE]")
        .scope();
    insta::assert_snapshot!("db_change_human", run.ok().stdout);
}

/// More reasons than one (`+N more`), a removed service, and a committed head.
#[test]
fn human_output_with_more_reasons_and_a_removed_service() {
    let f = Fleet::new();
    f.append("apps/search/src/main.rs", "\n// tuned\n");
    f.append("crates/telemetry/src/lib.rs", "\n// tuned\n");
    f.remove("apps/webhooks");
    f.relock();
    let head = f.commit("tune search and telemetry, retire webhooks");
    let run = f.run(&["affected", "--head", "HEAD"]);
    let _redacted = snapshot::redact()
        .revision(&f.git(&["rev-parse", "main"]), "[BASE]")
        .revision(&head, "[HEAD]")
        .scope();
    insta::assert_snapshot!("more_reasons_human", run.ok().stdout);
}

/// An unowned path: every service, the reason said once.
#[test]
fn human_output_when_failing_closed() {
    let f = Fleet::new();
    f.write("tools/gen.sh", "#!/bin/sh\n");
    let run = f.run(&["affected"]);
    let _redacted = snapshot::redact()
        .revision(&f.git(&["rev-parse", "main"]), "[BASE]")
        .scope();
    insta::assert_snapshot!("fail_closed_human", run.ok().stdout);
}

/// Unowned files in several top-level directories and the root, none of them committed.
fn many_unowned() -> Fleet {
    let f = Fleet::new();
    for i in 1..=3 {
        f.write(&format!(".circleci/job{i}.yml"), "steps: []\n");
    }
    for i in 1..=12 {
        f.write(&format!("scripts/task{i:02}.sh"), "#!/bin/sh\n");
    }
    f.write("pyproject.toml", "[project]\n");
    f.write("tools/gen.sh", "#!/bin/sh\n");
    f
}

/// Every unowned path counts: grouped by top-level directory with counts, each path with `-v`,
/// all of them in JSON (also under `--explain`).
#[test]
fn every_unowned_path_is_shown() {
    let f = many_unowned();
    let _redacted = snapshot::redact()
        .revision(&f.git(&["rev-parse", "main"]), "[BASE]")
        .scope();
    insta::assert_snapshot!("unowned_groups_human", f.run(&["affected"]).ok().stdout);
    insta::assert_snapshot!(
        "unowned_groups_verbose",
        f.run(&["affected", "-v"]).ok().stdout
    );

    let mut every: Vec<String> = (1..=3).map(|i| format!(".circleci/job{i}.yml")).collect();
    every.push("pyproject.toml".into());
    every.extend((1..=12).map(|i| format!("scripts/task{i:02}.sh")));
    every.push("tools/gen.sh".into());
    let r = f.affected(&[]);
    assert_eq!(r["unowned_paths"], serde_json::json!(every), "{r:#}");
    assert_eq!(
        r["fail_closed"],
        "unowned path: .circleci/job1.yml (and 16 more)"
    );
    assert_eq!(r["affected"].as_array().unwrap().len(), ALL.len());

    let explain = f.run(&["affected", "--explain", "users"]);
    let lines: Vec<&str> = explain.ok().stdout.lines().collect();
    for group in [
        "    .circleci/ (3 files)",
        "    pyproject.toml",
        "    scripts/ (12 files)",
        "    tools/gen.sh",
    ] {
        assert!(lines.contains(&group), "no `{group}` in {lines:#?}");
    }
    let run = f.run(&["affected", "--format", "json", "--explain", "users"]);
    assert_eq!(run.ok().json()["unowned_paths"], serde_json::json!(every));
}

#[test]
fn github_output_says_when_nothing_is_affected() {
    let f = Fleet::new();
    f.append("README.md", "\nwords\n");
    let out = tempfile::NamedTempFile::new().unwrap();
    let run = f
        .monoship()
        .args(["affected", "-q", "--github-output"])
        .env("GITHUB_OUTPUT", out.path())
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let written = std::fs::read_to_string(out.path()).unwrap();
    assert_eq!(written, "services={\"include\":[]}\nany=false\n");
}

#[test]
fn explain_affected_and_unaffected_services() {
    let f = db_change();
    let run = f.run(&["affected", "--explain", "users"]);
    insta::assert_snapshot!("explain_users", run.ok().stdout);

    let run = f.run(&["affected", "--format", "json", "--explain", "users"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = run.json();
    assert_eq!(v["affected"], true);
    assert_eq!(v["reasons"][0]["via"], serde_json::json!(["users", "db"]));

    let run = f.run(&["affected", "--explain", "search"]);
    insta::assert_snapshot!("explain_search", run.ok().stdout);
}

#[test]
fn services_lists_every_app() {
    let f = Fleet::new();
    let run = f.run(&["services", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = run.json();
    let list = v["services"].as_array().unwrap();
    let got: Vec<&str> = list.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(got, ALL);
    for s in list {
        let name = s["name"].as_str().unwrap();
        assert_eq!(s["package"], name);
        assert_eq!(s["binary"], name);
        assert_eq!(s["dir"], format!("apps/{name}"));
        assert_eq!(s["inputs"], serde_json::json!([]));
    }
}
