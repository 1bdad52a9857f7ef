//! `--env NAME` / `MONOSHIP_ENV`: an environment of the configuration names the kubeconfig
//! context and the namespace (a service's own environment table wins), against the test
//! cluster; an unknown environment is a usage error before anything is reached.

use crate::support::cluster::Cluster;
use crate::support::fleet::Fleet;
use crate::support::run::Monoship;
use serde_json::Value;

/// The fleet with environment `staging` (the test cluster's context, `namespace`), in which
/// `orders` runs in `orders_ns`.
fn fleet(context: &str, namespace: &str, orders_ns: &str) -> Fleet {
    Fleet::new_with(|f| {
        f.append(
            "Cargo.toml",
            &format!(
                "\n[workspace.metadata.monoship.environments.staging]\ncontext = \"{context}\"\n\
                 namespace = \"{namespace}\"\n\n[workspace.metadata.monoship.environments.\
                 production]\ncontext = \"no-such-context\"\n"
            ),
        );
        f.append(
            "apps/orders/Cargo.toml",
            &format!(
                "\n[package.metadata.monoship.environments.staging]\nnamespace = \"{orders_ns}\"\n"
            ),
        );
    })
}

fn namespace_of<'a>(report: &'a Value, service: &str) -> (&'a Value, &'a Value) {
    let s = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == service)
        .unwrap_or_else(|| panic!("{service} not in {report:#}"));
    (&s["namespace"], &s["state"])
}

/// `status users orders` with the test kubeconfig and no `--namespace` or `--context`.
fn status(c: &Cluster, f: &Fleet, env: Option<&str>) -> Monoship {
    let mut m = f
        .monoship()
        .args(["--format", "json", "status", "users", "orders"])
        .args(["--kubeconfig", c.kubeconfig_arg()])
        .env_remove("MONOSHIP_ENV");
    if let Some(name) = env {
        m = m.args(["--env", name]);
    }
    m
}

#[test]
fn an_environment_names_the_context_and_the_namespace() {
    let c = Cluster::new("env-staging");
    let orders = Cluster::new("env-orders");
    c.create_annotated("users", "registry.example/users:1", 1, &[]);
    orders.create_annotated("orders", "registry.example/orders:1", 1, &[]);
    let f = fleet("monoship-testenv", &c.namespace, &orders.namespace);

    for run in [
        status(&c, &f, Some("staging")).run(),
        status(&c, &f, None).env("MONOSHIP_ENV", "staging").run(),
    ] {
        let report = run.ok().json();
        let (ns, state) = namespace_of(&report, "users");
        assert_eq!(ns, c.namespace.as_str(), "{report:#}");
        assert_ne!(state, "missing", "{report:#}");
        let (ns, state) = namespace_of(&report, "orders");
        assert_eq!(ns, orders.namespace.as_str(), "{report:#}");
        assert_ne!(state, "missing", "{report:#}");
    }

    // Without an environment, the kubeconfig context's namespace, where neither runs.
    let report = status(&c, &f, None).run().ok().json();
    assert_ne!(namespace_of(&report, "users").0, c.namespace.as_str());

    // An environment's context that the kubeconfig does not have is named.
    let run = status(&c, &f, Some("production")).run();
    let err = run.usage_error();
    assert!(err.contains("no-such-context"), "{err}");

    // An unknown environment names the known ones, before the cluster is asked.
    let run = status(&c, &f, Some("qa")).run();
    let err = run.usage_error();
    assert!(
        err.contains("unknown environment `qa` (known: production, staging;"),
        "{err}"
    );
}

#[test]
fn a_service_table_naming_an_unknown_environment_is_a_configuration_error() {
    let f = Fleet::new_with(|f| {
        f.append(
            "apps/users/Cargo.toml",
            "\n[package.metadata.monoship.environments.stagin]\nnamespace = \"x\"\n",
        );
    });
    let err = f.run(&["services"]).usage_error().to_string();
    assert!(err.contains("unknown environment `stagin`"), "{err}");
    assert!(err.contains("apps/users/Cargo.toml"), "{err}");
}
