//! Services that are not one package with one binary: a package with two binaries is two
//! services, a service named otherwise than its package, package names that are not Kubernetes
//! names (mapped), and every problem with the names and binaries reported in one error. Small
//! workspaces written by the tests, real cargo.

use crate::support::fleet::{Fleet, assert_reason};
use crate::support::tiny::{self, Crate, assert_exactly, last_commit};
use serde_json::Value;
use std::path::Path;

const COMMON: &str = "[dependencies]\ncommon = { path = \"../../crates/common\" }\n";

/// `crates/common` (a library); `apps/shop`: binaries `api` and `worker`, the services
/// `shop-api` and `shop_worker` (mapped to `shop-worker`), both on common; `apps/billing`:
/// the service `invoices`; `apps/users_db`: the service `users-db` (mapped).
fn shop() -> Fleet {
    let shop = format!(
        "{COMMON}[package.metadata.monoship.services.shop-api]\nbinary = \"api\"\n\
         [package.metadata.monoship.services.shop_worker]\nbinary = \"worker\"\n"
    );
    tiny::workspace(
        "",
        &[
            Crate {
                dir: "crates/common",
                bin: false,
                manifest: "",
                source: "pub fn hello() -> &'static str { \"hello\" }\n",
            },
            Crate {
                dir: "apps/shop",
                bin: false,
                manifest: &shop,
                source: "pub fn name() -> &'static str { common::hello() }\n",
            },
            Crate {
                dir: "apps/billing",
                bin: true,
                manifest: "[package.metadata.monoship]\nname = \"invoices\"\n",
                source: "fn main() { println!(\"invoices\"); }\n",
            },
            Crate {
                dir: "apps/users_db",
                bin: true,
                manifest: "",
                source: "fn main() { println!(\"users\"); }\n",
            },
        ],
        &[
            (
                "apps/shop/src/bin/api.rs",
                "fn main() { println!(\"api {}\", shop::name()); }\n",
            ),
            (
                "apps/shop/src/bin/worker.rs",
                "fn main() { println!(\"worker {}\", shop::name()); }\n",
            ),
        ],
    )
}

fn listing(f: &Fleet) -> Vec<(String, String, String, Value)> {
    let run = f.run(&["--format", "json", "services"]);
    run.ok();
    run.json()["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let text = |k: &str| s[k].as_str().unwrap().to_string();
            (
                text("name"),
                text("package"),
                text("binary"),
                s["mapped_from"].clone(),
            )
        })
        .collect()
}

#[test]
fn services_are_named_and_run_their_own_binaries() {
    let f = shop();
    let text = |s: &str| s.to_string();
    assert_eq!(
        listing(&f),
        [
            (
                text("invoices"),
                text("billing"),
                text("billing"),
                Value::Null
            ),
            (text("shop-api"), text("shop"), text("api"), Value::Null),
            (
                text("shop-worker"),
                text("shop"),
                text("worker"),
                "shop_worker".into()
            ),
            (
                text("users-db"),
                text("users_db"),
                text("users_db"),
                "users_db".into()
            ),
        ]
    );
    let human = f.run(&["services"]);
    human.ok();
    for (name, from) in [("shop-worker", "shop_worker"), ("users-db", "users_db")] {
        let note = format!("note: service {name}: `{from}` is not a Kubernetes name");
        assert!(human.stdout.contains(&note), "{}", human.stdout);
    }
    assert_eq!(human.stdout.matches("note:").count(), 2, "{}", human.stdout);
}

#[test]
fn a_change_to_a_package_affects_every_service_built_from_it() {
    let f = shop();
    let all = ["invoices", "shop-api", "shop-worker", "users-db"];
    // Exactly `affected` of all four.
    let only = |report: &serde_json::Value, affected: &[&str]| {
        let rest: Vec<&str> = all
            .iter()
            .copied()
            .filter(|s| !affected.contains(s))
            .collect();
        assert_exactly(report, affected, &rest);
    };

    f.replace("crates/common/src/lib.rs", "\"hello\"", "\"hello 2\"");
    f.commit("common");
    let report = last_commit(&f);
    only(&report, &["shop-api", "shop-worker"]);
    assert_reason(
        &report,
        "shop-worker",
        "file",
        Some("crates/common/src/lib.rs"),
        Some(&["shop", "common"]),
    );

    f.replace("apps/shop/src/bin/worker.rs", "worker", "worker 2");
    f.commit("worker");
    // A file of the package: both services (cargo builds both binaries from the package).
    only(&last_commit(&f), &["shop-api", "shop-worker"]);

    f.write("apps/shop/Dockerfile", "FROM scratch\n");
    f.commit("a Dockerfile of the shop");
    let report = last_commit(&f);
    only(&report, &["shop-api", "shop-worker"]);
    assert_reason(
        &report,
        "shop-api",
        "dockerfile",
        Some("apps/shop/Dockerfile"),
        None,
    );

    f.replace("apps/billing/src/main.rs", "invoices", "invoices 2");
    f.replace("apps/users_db/src/main.rs", "users", "users 2");
    f.commit("billing and users_db");
    only(&last_commit(&f), &["invoices", "users-db"]);

    let mermaid = f.run(&["affected", "--base", "HEAD~4", "--format", "mermaid"]);
    mermaid.ok();
    for node in [
        "([\"shop-api\"])",
        "([\"shop-worker\"])",
        "([\"invoices\"])",
        "{{\"shop\"}}",
    ] {
        assert!(mermaid.stdout.contains(node), "{node}: {}", mermaid.stdout);
    }
}

/// The image config of `service` in the build's OCI layout.
fn image_config(f: &Fleet, service: &str) -> Value {
    let layout = f.path().join("target/monoship/oci");
    let read = |p: &Path| -> Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let index = read(&layout.join("index.json"));
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == service)
        .unwrap_or_else(|| panic!("{service} not in {index:#}"));
    let manifest = read(&blob(entry["digest"].as_str().unwrap()));
    read(&blob(manifest["config"]["digest"].as_str().unwrap()))
}

#[test]
fn build_makes_one_image_per_service_each_running_its_binary() {
    let f = shop();
    let run = f.run(&[
        "--format",
        "json",
        "build",
        "shop-api",
        "shop-worker",
        "invoices",
    ]);
    run.ok();
    let record = run.json();
    let built = |service: &str| -> &Value {
        record["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service"] == service)
            .unwrap_or_else(|| panic!("{service} not built: {record:#}"))
    };
    let release = f.path().join("target/x86_64-unknown-linux-gnu/release");
    for (service, binary) in [
        ("shop-api", "api"),
        ("shop-worker", "worker"),
        ("invoices", "billing"),
    ] {
        let config = image_config(&f, service);
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!([format!("/app/{binary}")])
        );
        assert_eq!(
            config["config"]["Labels"]["org.opencontainers.image.title"],
            service
        );
        let bytes = std::fs::read(release.join(binary)).unwrap();
        let sha = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&bytes));
        assert_eq!(built(service)["binary_sha256"], sha.as_str(), "{service}");
    }
    assert_ne!(
        built("shop-api")["image_digest"],
        built("shop-worker")["image_digest"]
    );
    let output = |binary: &str| {
        let out = std::process::Command::new(release.join(binary))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        (output("api"), output("worker")),
        ("api hello\n".into(), "worker hello\n".into())
    );

    // The generated manifests and Dockerfile arguments: the service's name, its binary.
    f.run(&["generate", "k8s"]).ok();
    let k8s = f.read("deploy/k8s/shop-worker.yaml");
    assert!(k8s.contains("name: shop-worker"), "{k8s}");
    assert!(!k8s.contains("shop_worker"), "{k8s}");
}

#[test]
fn every_problem_with_names_and_binaries_is_reported_at_once() {
    let app = |dir: &'static str, manifest: &'static str| Crate {
        dir,
        bin: true,
        manifest,
        source: "fn main() {}\n",
    };
    let f = tiny::workspace(
        "",
        &[
            app("apps/tools", ""),
            app(
                "apps/wrong",
                "[package.metadata.monoship]\nbinary = \"nope\"\n",
            ),
            app("apps/my_svc", ""),
            app(
                "apps/other",
                "[package.metadata.monoship]\nname = \"my-svc\"\n",
            ),
            app(
                "apps/dotted",
                "[package.metadata.monoship]\nname = \"api.v2\"\n",
            ),
            app("apps/fine", ""),
        ],
        &[("apps/tools/src/bin/migrate.rs", "fn main() {}\n")],
    );
    for args in [&["services"][..], &["affected"], &["build"]] {
        let run = f.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        let lines: Vec<&str> = run.stderr.trim_end().lines().collect();
        assert_eq!(
            lines[0], "error: 4 problems with the services:",
            "{}",
            run.stderr
        );
        assert_eq!(lines.len(), 5, "{}", run.stderr);
        let expected = [
            "apps/tools/Cargo.toml: package `tools` has several binaries (`migrate`, `tools`)",
            "apps/wrong/Cargo.toml: `binary`: package `wrong` has no binary `nope` (its \
             binaries: `wrong`)",
            "service `api.v2` (`name` of package `dotted`): not a Kubernetes name",
            "service name `my-svc` is taken by 2 services: package `my_svc` (`my_svc` mapped), \
             `name` of package `other`",
        ];
        for e in expected {
            assert!(
                lines[1..].iter().any(|l| l.trim_start().starts_with(e)),
                "{e}\n{}",
                run.stderr
            );
        }
    }

    // Choosing fixes them one by one; the last one left is a one-line error.
    f.append(
        "apps/tools/Cargo.toml",
        "[package.metadata.monoship]\nbinary = \"tools\"\n",
    );
    f.replace("apps/wrong/Cargo.toml", "nope", "wrong");
    f.replace("apps/other/Cargo.toml", "my-svc", "other");
    let run = f.run(&["services"]);
    let line = run.usage_error();
    assert!(line.starts_with("error: service `api.v2`"), "{line}");
    f.replace("apps/dotted/Cargo.toml", "api.v2", "api-v2");
    let names: Vec<String> = listing(&f).into_iter().map(|(n, ..)| n).collect();
    assert_eq!(
        names,
        ["api-v2", "fine", "my-svc", "other", "tools", "wrong"]
    );
}
