//! `monoship affected` against copies of `examples/fleet` in throw-away git repositories: one
//! scenario per classification rule (the output formats are in affected_output.rs).

use crate::support::fleet::{self, Fleet, assert_affected, assert_reason, names, reasons};
use crate::support::fleet::{ALL, DB_USERS};
use serde_json::Value;

const NONE: &[&str] = &[];

/// The services that depend on `crates/telemetry`, sorted.
const TELEMETRY_USERS: &[&str] = &[
    "analytics",
    "gateway",
    "media",
    "orders",
    "payments",
    "search",
    "users",
];

/// The services that depend on `crates/events`, sorted.
const EVENTS_USERS: &[&str] = &[
    "analytics",
    "audit",
    "email",
    "notifications",
    "orders",
    "payments",
    "webhooks",
];

/// Every reason of every affected service has this kind.
fn assert_all_kind(report: &Value, kind: &str) {
    for name in names(report) {
        for r in reasons(report, &name) {
            assert_eq!(r["kind"], kind, "{name}: {r:#}");
        }
    }
}

/// A committed change on `feature`, analysed with the default base.
fn committed(change: impl FnOnce(&Fleet)) -> Value {
    let f = Fleet::new();
    change(&f);
    f.commit("change");
    f.affected(&[])
}

#[test]
fn leaf_service_edit_affects_only_that_service() {
    let r = committed(|f| f.append("apps/search/src/main.rs", "\n// tuned\n"));
    assert_affected(&r, &["search"]);
    assert_reason(
        &r,
        "search",
        "file",
        Some("apps/search/src/main.rs"),
        Some(&["search"]),
    );
}

#[test]
fn shared_crate_edit_affects_its_dependents() {
    let r = committed(|f| f.append("crates/db/src/pool.rs", "\n// tuned\n"));
    assert_affected(&r, DB_USERS);
    let pool = Some("crates/db/src/pool.rs");
    assert_reason(&r, "users", "file", pool, Some(&["users", "db"]));
    assert_reason(&r, "orders", "file", pool, Some(&["orders", "db"]));
}

#[test]
fn dev_dependency_only_crate_edit_affects_nothing() {
    let r = committed(|f| f.append("crates/testkit/src/lib.rs", "\n// tuned\n"));
    assert_affected(&r, NONE);
}

#[test]
fn integration_test_edit_affects_nothing() {
    let r = committed(|f| f.append("apps/orders/tests/api.rs", "\n// more cases\n"));
    assert_affected(&r, NONE);
}

#[test]
fn readme_edits_affect_nothing() {
    let r = committed(|f| {
        f.append("README.md", "\nMore words.\n");
        f.append("apps/users/README.md", "\nMore words.\n");
    });
    assert_affected(&r, NONE);
}

#[test]
fn lock_bump_affects_the_one_user_of_the_crate() {
    let lock = fleet::original("Cargo.lock");
    let uuid = lock.find("name = \"uuid\"").expect("uuid in Cargo.lock");
    let entry = &lock[uuid..uuid + lock[uuid..].find("\n\n").unwrap_or(lock.len() - uuid)];
    let version = entry.lines().find(|l| l.starts_with("version = ")).unwrap();
    let checksum = entry
        .lines()
        .find(|l| l.starts_with("checksum = "))
        .unwrap();
    let old = entry
        .replace(version, "version = \"1.0.0\"")
        .replace(checksum, &format!("checksum = \"{}\"", "0".repeat(64)));
    let f = Fleet::new_with(|f| f.replace("Cargo.lock", entry, &old));
    f.restore("Cargo.lock");
    f.commit("bump uuid");
    let r = f.affected(&[]);
    assert_affected(&r, &["orders"]);
    assert_reason(&r, "orders", "lockfile", Some("Cargo.lock"), None);
    assert_all_kind(&r, "lockfile");
}

#[test]
fn workspace_dependency_change_affects_its_inheritors() {
    let f = Fleet::new_with(|f| {
        f.replace(
            "Cargo.toml",
            "uuid = { version = \"1\", features = [\"v4\"] }",
            "uuid = { version = \"1\", features = [\"v4\"], default-features = true }",
        )
    });
    f.restore("Cargo.toml");
    f.commit("uuid defaults");
    let r = f.affected(&[]);
    assert_affected(&r, &["orders"]);
    assert_reason(
        &r,
        "orders",
        "workspace-dependency",
        Some("Cargo.toml"),
        Some(&["orders"]),
    );
}

#[test]
fn workspace_package_change_affects_its_inheritors() {
    let f = Fleet::new();
    f.replace("Cargo.toml", "version = \"0.1.0\"", "version = \"0.2.0\"");
    f.relock();
    f.commit("0.2.0");
    let r = f.affected(&[]);
    assert_affected(&r, ALL);
    assert_reason(
        &r,
        "users",
        "workspace-package",
        Some("Cargo.toml"),
        Some(&["users"]),
    );
}

#[test]
fn service_manifest_change_affects_that_service() {
    let r = committed(|f| {
        f.replace(
            "apps/search/Cargo.toml",
            "common.workspace = true",
            "common = { workspace = true, features = [\"verbose\"] }",
        )
    });
    assert_affected(&r, &["search"]);
    assert_reason(
        &r,
        "search",
        "manifest",
        Some("apps/search/Cargo.toml"),
        Some(&["search"]),
    );
}

#[test]
fn shared_crate_manifest_change_affects_its_dependents() {
    let r = committed(|f| {
        f.append(
            "crates/telemetry/Cargo.toml",
            "serde_json.workspace = true\n",
        );
        f.relock();
    });
    assert_affected(&r, TELEMETRY_USERS);
    assert_reason(
        &r,
        "gateway",
        "manifest",
        Some("crates/telemetry/Cargo.toml"),
        Some(&["gateway", "telemetry"]),
    );
}

#[test]
fn profile_change_affects_everything() {
    let r = committed(|f| f.replace("Cargo.toml", "opt-level = 2", "opt-level = 3"));
    assert_affected(&r, ALL);
    assert_all_kind(&r, "global");
    assert_reason(&r, "users", "global", Some("Cargo.toml"), Some(&[]));
}

#[test]
fn toolchain_file_affects_everything() {
    let r = committed(|f| f.write("rust-toolchain.toml", "[toolchain]\nchannel = \"stable\"\n"));
    assert_affected(&r, ALL);
    assert_reason(&r, "auth", "global", Some("rust-toolchain.toml"), None);
}

#[test]
fn dockerfile_affects_everything() {
    let r = committed(|f| f.write("Dockerfile", "FROM scratch\n"));
    assert_affected(&r, ALL);
    assert_reason(&r, "search", "global", Some("Dockerfile"), None);
}

#[test]
fn embedded_file_outside_the_package_affects_its_embedder() {
    let r = committed(|f| f.replace("config/routes.json", "[", "[\n"));
    assert_affected(&r, &["gateway"]);
    assert_reason(
        &r,
        "gateway",
        "include",
        Some("config/routes.json"),
        Some(&["gateway"]),
    );
}

#[test]
fn build_script_input_outside_the_crate_affects_the_crates_dependents() {
    let r = committed(|f| f.append("schemas/events.json", "\n"));
    assert_affected(&r, EVENTS_USERS);
    assert_reason(
        &r,
        "email",
        "build-input",
        Some("schemas/events.json"),
        Some(&["email", "events"]),
    );
}

#[test]
fn embedded_file_wins_over_ignore() {
    let f = Fleet::new_with(|f| {
        f.replace(
            "apps/search/src/main.rs",
            "\nconst SERVICE",
            "\nconst ABOUT: &str = include_str!(\"../README.md\");\nconst SERVICE",
        )
    });
    f.append("apps/search/README.md", "\nMore words.\n");
    f.append("apps/media/README.md", "\nMore words.\n");
    f.commit("docs");
    let r = f.affected(&[]);
    assert_affected(&r, &["search"]);
    assert_reason(
        &r,
        "search",
        "include",
        Some("apps/search/README.md"),
        Some(&["search"]),
    );
}

#[test]
fn embedded_migration_affects_its_service() {
    let r = committed(|f| f.append("apps/users/migrations/0001_init.sql", "\n-- note\n"));
    assert_affected(&r, &["users"]);
    assert_reason(
        &r,
        "users",
        "include",
        Some("apps/users/migrations/0001_init.sql"),
        Some(&["users"]),
    );
}

#[test]
fn renamed_crate_directory_affects_its_dependents() {
    let f = Fleet::new();
    f.git(&["mv", "crates/telemetry", "crates/telemetry2"]);
    f.replace(
        "Cargo.toml",
        "path = \"crates/telemetry\"",
        "path = \"crates/telemetry2\"",
    );
    f.relock();
    assert_eq!(f.read("Cargo.lock"), fleet::original("Cargo.lock"));
    f.commit("move telemetry");
    let r = f.affected(&[]);
    assert_affected(&r, TELEMETRY_USERS);
    assert_reason(
        &r,
        "search",
        "file",
        Some("crates/telemetry2/src/lib.rs"),
        Some(&["search", "telemetry"]),
    );
}

#[test]
fn deleted_service_is_removed_not_everything() {
    let f = Fleet::new();
    f.remove("apps/webhooks");
    f.relock();
    f.commit("retire webhooks");
    let r = f.affected(&[]);
    assert_affected(&r, NONE);
    assert_eq!(r["removed"], serde_json::json!(["webhooks"]));
}

#[test]
fn uncommitted_service_deletion_is_removed() {
    let f = Fleet::new();
    f.remove("apps/webhooks");
    let r = f.affected(&[]);
    assert_affected(&r, NONE);
    assert_eq!(r["removed"], serde_json::json!(["webhooks"]));
}

#[test]
fn new_service_is_affected() {
    let f = Fleet::new();
    for file in ["Cargo.toml", "README.md", "src/main.rs"] {
        f.write(
            &format!("apps/newsvc/{file}"),
            &f.read(&format!("apps/search/{file}")),
        );
    }
    f.replace(
        "apps/newsvc/Cargo.toml",
        "name = \"search\"",
        "name = \"newsvc\"",
    );
    f.relock();
    assert!(f.read("Cargo.lock").contains("name = \"newsvc\""));
    f.commit("add newsvc");
    let r = f.affected(&[]);
    assert_eq!(names(&r), ["newsvc"], "{r:#}");
    assert_eq!(r["fail_closed"], Value::Null);
    assert_eq!(r["unaffected"], serde_json::json!(ALL));
    assert_reason(
        &r,
        "newsvc",
        "file",
        Some("apps/newsvc/src/main.rs"),
        Some(&["newsvc"]),
    );
}

#[test]
fn uncommitted_change_counts() {
    let f = Fleet::new();
    f.append("apps/search/src/main.rs", "\n// wip\n");
    let r = f.affected(&[]);
    assert_affected(&r, &["search"]);
    assert_eq!(r["head"], "WORKTREE");
}

#[test]
fn untracked_file_in_a_crate_counts() {
    let f = Fleet::new();
    f.write("crates/db/src/extra.rs", "pub fn extra() {}\n");
    let r = f.affected(&[]);
    assert_affected(&r, DB_USERS);
    assert_reason(
        &r,
        "billing",
        "file",
        Some("crates/db/src/extra.rs"),
        Some(&["billing", "db"]),
    );
}

#[test]
fn diverged_branches_compare_with_the_merge_base() {
    let f = Fleet::new();
    f.append("apps/search/src/main.rs", "\n// feature work\n");
    f.commit("feature work");
    f.git(&["checkout", "-q", "main"]);
    f.append("apps/media/src/main.rs", "\n// mainline work\n");
    let main = f.git(&["rev-parse", "HEAD"]);
    f.commit("mainline work");
    f.git(&["checkout", "-q", "feature"]);
    let r = f.affected(&[]);
    assert_affected(&r, &["search"]);
    let base = r["base"].as_str().unwrap();
    assert!(base.len() == 40 && base != main, "{base}");
    // Merging main into the branch brings in nothing of the branch's own.
    f.git(&["merge", "-q", "--no-edit", "main"]);
    assert_affected(&f.affected(&[]), &["search"]);
}

#[test]
fn shallow_clone_without_the_base_fails_closed() {
    let f = Fleet::new();
    let first = f.git(&["rev-parse", "HEAD"]);
    f.append("apps/search/src/main.rs", "\n// second\n");
    f.commit("second");
    let clone = f.shallow_clone();
    let r = clone.affected(&["--base", &first]);
    assert_eq!(names(&r), ALL);
    let why = r["fail_closed"].as_str().expect("fails closed");
    assert!(why.contains(&first), "{why}");
    assert_eq!(r["unowned_paths"], serde_json::json!([]), "{r:#}");
    assert_all_kind(&r, "fail-closed");
    let strict = clone.run(&["affected", "--format", "json", "--base", &first, "--strict"]);
    assert_eq!(strict.code, 1, "stderr: {}", strict.stderr);
}

#[test]
fn unowned_path_fails_closed() {
    let r = committed(|f| f.write("tools/gen.sh", "#!/bin/sh\n"));
    assert_eq!(names(&r), ALL);
    let why = r["fail_closed"].as_str().expect("fails closed");
    assert_eq!(why, "unowned path: tools/gen.sh");
    assert_eq!(r["unowned_paths"], serde_json::json!(["tools/gen.sh"]));
    assert_reason(&r, "auth", "fail-closed", None, Some(&[]));
}

#[test]
fn dev_dependency_only_manifest_change_affects_nothing() {
    let f = Fleet::new_with(|f| {
        f.replace(
            "apps/users/Cargo.toml",
            "[dev-dependencies]\ntestkit.workspace = true",
            "[dev-dependencies]\ntestkit = { workspace = true, default-features = true }",
        )
    });
    f.restore("apps/users/Cargo.toml");
    f.commit("simplify dev-dependencies");
    assert_affected(&f.affected(&[]), NONE);
}

#[test]
fn service_inputs_affect_that_service() {
    let f = Fleet::new_with(|f| {
        f.append(
            "apps/users/Cargo.toml",
            "\n[package.metadata.monoship]\ninputs = [\"assets/users/**\"]\n",
        );
        f.write("assets/users/logo.txt", "logo\n");
    });
    f.write("assets/users/logo.txt", "new logo\n");
    f.commit("new logo");
    let r = f.affected(&[]);
    assert_affected(&r, &["users"]);
    assert_reason(
        &r,
        "users",
        "input",
        Some("assets/users/logo.txt"),
        Some(&["users"]),
    );
}

fn with_workspace_config(config: &str) -> Fleet {
    let config = format!("\n[workspace.metadata.monoship]\n{config}\n");
    Fleet::new_with(|f| {
        f.append("Cargo.toml", &config);
        f.write("ops/x", "1\n");
    })
}

#[test]
fn global_inputs_config_affects_everything() {
    let f = with_workspace_config("global-inputs = [\"ops/**\"]");
    f.write("ops/x", "2\n");
    f.commit("ops");
    let r = f.affected(&[]);
    assert_affected(&r, ALL);
    assert_reason(&r, "users", "global", Some("ops/x"), None);
}

#[test]
fn ignore_config_affects_nothing() {
    let f = with_workspace_config("ignore = [\"ops/**\"]");
    f.write("ops/x", "2\n");
    f.commit("ops");
    assert_affected(&f.affected(&[]), NONE);
}

#[test]
fn head_revision_ignores_the_working_tree() {
    let f = Fleet::new();
    f.append("apps/search/src/main.rs", "\n// committed\n");
    let head = f.commit("committed");
    f.append("apps/media/src/main.rs", "\n// uncommitted\n");
    f.write("crates/db/src/extra.rs", "// untracked\n");
    let r = f.affected(&["--head", "HEAD"]);
    assert_affected(&r, &["search"]);
    assert_eq!(r["head"], head.as_str());
}

#[test]
fn workspace_in_a_repository_subdirectory() {
    let f = Fleet::nested();
    f.append("crates/db/src/pool.rs", "\n// tuned\n");
    f.append("../NOTES.txt", "outside the workspace\n");
    f.commit("tune the pool");
    let r = f.affected(&[]);
    assert_affected(&r, DB_USERS);
    let pool = Some("crates/db/src/pool.rs");
    assert_reason(&r, "users", "file", pool, Some(&["users", "db"]));
    let r = Fleet::nested().affected(&[]);
    assert_affected(&r, NONE);
}
