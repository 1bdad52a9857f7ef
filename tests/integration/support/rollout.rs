//! Rollouts on the test cluster through `monoship deploy` with JSON output, and what they
//! must end with: the result of a service, the previous pods kept available through a failed
//! rollout and its rollback, and the progress lines' timestamps.

use super::cluster::{Cluster, Probe, image};
use super::fleet::Fleet;
use super::run::Run;
use serde_json::Value;
use std::time::{Duration, Instant};

/// `monoship --format json COMMAND ARGS --kubeconfig … --namespace …` in the fleet.
pub fn monoship(c: &Cluster, fleet: &Fleet, command: &str, args: &[&str]) -> Run {
    let mut all = vec!["--format", "json", command];
    all.extend_from_slice(args);
    c.monoship(fleet, &all)
}

/// How the Deployment users is made for [`rolled_back_with`], and how it is deployed.
pub struct Setup<'a> {
    /// Merged into its container (`readinessProbe`, `livenessProbe`, …).
    pub probes: Value,
    /// Merged into its spec (`progressDeadlineSeconds`, …).
    pub spec: Value,
    /// More arguments of `monoship deploy` (`--timeout`, …).
    pub args: &'a [&'a str],
}

impl Setup<'_> {
    /// A readiness probe as `probe` says, nothing else.
    pub fn probe(probe: Probe) -> Setup<'static> {
        Setup {
            probes: probe.readiness(),
            spec: serde_json::json!({}),
            args: &[],
        }
    }
}

/// Deploy `bad` to users, expect it rolled back for one of `codes`; the previous pods stay
/// available throughout. The JSON result of users and the run's stderr.
pub fn rolled_back(prefix: &str, bad: &str, codes: &[&str], probe: Probe) -> (Value, String) {
    rolled_back_with(prefix, bad, codes, Setup::probe(probe))
}

/// [`rolled_back`] with the Deployment and the deploy made as `setup` says.
pub fn rolled_back_with(
    prefix: &str,
    bad: &str,
    codes: &[&str],
    setup: Setup<'_>,
) -> (Value, String) {
    let c = Cluster::new(prefix);
    let fleet = Fleet::new();
    let good = image("fleet", "users", 1);
    c.create_deployment_spec("users", &good, setup.probes, setup.spec);
    let sampler = c.sample_available("users");
    let started = Instant::now();
    let mut args = setup.args.to_vec();
    let flag = format!("users={bad}");
    args.extend(["--image", &flag]);
    let run = monoship(&c, &fleet, "deploy", &args);
    let elapsed = started.elapsed();
    let samples = sampler.stop();
    assert_eq!(
        run.code, 4,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let out = run.json();
    let r = result_of(&out, "users").clone();
    assert_eq!(r["result"], "rolled-back", "{r:#}");
    let report = &r["report"];
    assert!(
        codes.contains(&report["code"].as_str().unwrap()),
        "code {} not in {codes:?}: {r:#}",
        report["code"]
    );
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(report["code"].as_str().unwrap()),
        "{reason}"
    );
    // The report: the new pods with their container states, and a word on logs.
    let pods = report["pods"].as_array().unwrap();
    assert!(!pods.is_empty(), "{report:#}");
    assert!(pods[0]["containers"][0]["state"].is_string(), "{report:#}");
    let logs = &report["logs"];
    assert!(
        !logs["lines"].as_array().unwrap().is_empty() || logs["unavailable"].is_string(),
        "{logs:#}"
    );
    assert!(r["rollback"]["ok"].as_bool().unwrap(), "{r:#}");
    // Back on the previous template, fully available, and never below 2 available meanwhile.
    assert_eq!(c.image_of("users"), good);
    let d = c.deployment("users");
    assert_eq!(d["status"]["availableReplicas"], 2, "{d:#}");
    assert!(samples.len() >= 3, "too few samples: {samples:?}");
    assert!(
        samples.iter().all(|&n| n >= 2),
        "availableReplicas dropped below 2 during the run: {samples:?}"
    );
    assert!(
        elapsed < Duration::from_secs(120),
        "took {elapsed:?}, far from any deadline"
    );
    (r, run.stderr)
}

/// The result of `service` in a deploy's JSON output.
pub fn result_of<'a>(out: &'a Value, service: &str) -> &'a Value {
    out["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["service"] == service)
        .unwrap_or_else(|| panic!("no result for {service}: {out:#}"))
}

/// Seconds from the progress line containing `a` to the one containing `b` (the
/// `[   2.6s] …` lines on stderr).
pub fn seconds_between(stderr: &str, a: &str, b: &str) -> f64 {
    let at = |needle: &str| -> f64 {
        let line = stderr
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with `{needle}` in:\n{stderr}"));
        let inner = line.trim_start_matches('[');
        inner[..inner.find("s]").unwrap()].trim().parse().unwrap()
    };
    at(b) - at(a)
}
