//! The promotion's orchestration with fakes: what is refused, what is copied where, that a
//! failed copy deploys nothing, and `promote-from`.

use super::promote::{CopyJob, Event, Mirror, PromoteError, PromoteJob, candidates, promote};
use super::seams::BoxFuture;
use super::tests::{FakeCluster, Log};
use crate::config::EnvironmentConfig;
use crate::deploy::status::{ServiceStatus, State};
use crate::registry::RegistryError;
use crate::registry::copy::Copied;
use crate::workspace::Workspace;
use std::collections::BTreeMap;

fn status(service: &str, state: State, recorded: bool) -> ServiceStatus {
    let digest = format!("sha256:{:0<64}", service.len());
    ServiceStatus {
        service: service.into(),
        namespace: "shop-staging".into(),
        deployment: service.into(),
        desired: Some(1),
        updated: Some(1),
        ready: Some(1),
        available: Some(1),
        image: Some(format!("staging.test/{service}@{digest}")),
        digest: Some(digest),
        revision: recorded.then(|| "0123456789abcdef0123".to_string()),
        state,
        reason: (state != State::Complete).then(|| "CrashLoopBackOff".to_string()),
        age_seconds: Some(5),
    }
}

/// A workspace with `staging` and `production` (`production` promoted from `allowed`).
fn environments(allowed: Option<&str>) -> (Workspace, Workspace) {
    let mut ws = crate::workspace::fake(&["users", "orders", "email", "audit"]);
    for (name, registry) in [
        ("staging", "staging.test"),
        ("production", "prod.test/shop"),
        ("qa", "qa.test"),
    ] {
        ws.config.environments.insert(
            name.into(),
            EnvironmentConfig {
                namespace: Some(format!("ns-{name}")),
                registry: Some(registry.into()),
                promote_from: (name == "production")
                    .then(|| allowed.map(str::to_string))
                    .flatten(),
                ..Default::default()
            },
        );
    }
    let from = ws.clone().in_environment("staging").unwrap();
    let to = ws.in_environment("production").unwrap();
    (from, to)
}

struct FakeMirror<'a> {
    log: &'a Log,
    fails: Option<&'static str>,
}

impl Mirror for FakeMirror<'_> {
    fn copy<'a>(&'a self, job: CopyJob<'a>) -> BoxFuture<'a, Result<Copied, RegistryError>> {
        let CopyJob {
            source,
            target,
            tags,
            ..
        } = job;
        self.log
            .borrow_mut()
            .push(format!("copy {source} -> {target}:{}", tags.join(",")));
        let fails = self.fails.is_some_and(|f| source.contains(f));
        Box::pin(async move {
            if fails {
                return Err(RegistryError::Unreachable {
                    registry: target.host.clone(),
                    detail: "connection refused".into(),
                });
            }
            Ok(Copied {
                copied: 2,
                ..Copied::default()
            })
        })
    }
}

fn cluster<'a>(log: &'a Log, statuses: Vec<ServiceStatus>) -> FakeCluster<'a> {
    FakeCluster {
        log,
        deployed: BTreeMap::new(),
        outcomes: BTreeMap::new(),
        statuses,
    }
}

fn run(
    from: &Workspace,
    to: &Workspace,
    services: &[&str],
    mirror_fails: Option<&'static str>,
) -> (
    Result<super::promote::PromoteReport, PromoteError>,
    Vec<String>,
    usize,
) {
    let source_log = Log::default();
    let log = Log::default();
    let source = cluster(
        &source_log,
        vec![
            status("users", State::Complete, true),
            status("orders", State::Failed, true),
            status("email", State::Complete, false),
            status("audit", State::Complete, true),
        ],
    );
    let target = cluster(&log, Vec::new());
    let mirror = FakeMirror {
        log: &log,
        fails: mirror_fails,
    };
    let services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
    let mut events = 0;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let report = rt.block_on(promote(PromoteJob {
        from,
        to,
        services: &services,
        source: &source,
        target: &target,
        mirror: &mirror,
        deploy: &crate::deploy::Options::default(),
        emit: &mut |e| {
            if matches!(e, Event::Planned { .. } | Event::Copied { .. }) {
                events += 1;
            }
        },
    }));
    let mut asked = source_log.take();
    asked.extend(log.take());
    (report, asked, events)
}

#[test]
fn only_complete_rollouts_monoship_recorded_are_candidates() {
    let statuses = [
        status("users", State::Complete, true),
        status("orders", State::Failed, true),
        status("email", State::Complete, false),
        status("search", State::Progressing, true),
        status("gone", State::Missing, false),
    ];
    let (ok, refused) = candidates("staging", &statuses);
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].service, "users");
    assert!(ok[0].image.starts_with("staging.test/users@sha256:"));
    let why: Vec<(&str, &str)> = refused
        .iter()
        .map(|r| (r.service.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(why[0], ("orders", "failing in staging: CrashLoopBackOff"));
    assert!(
        why[1].1.starts_with("not deployed by monoship in staging"),
        "{why:?}"
    );
    assert_eq!(
        why[2],
        ("search", "mid-rollout in staging: CrashLoopBackOff")
    );
    assert!(
        why[3]
            .1
            .starts_with("missing in staging: no Deployment gone"),
        "{why:?}"
    );
}

#[test]
fn copies_by_digest_into_to_s_registry_then_deploys_there_recording_the_source() {
    let (from, to) = environments(Some("staging"));
    let (report, asked, events) = run(&from, &to, &["users", "orders", "email", "audit"], None);
    let report = report.unwrap();
    let digest = format!("sha256:{:0<64}", 5);
    assert_eq!(
        asked,
        [
            "statuses users orders email audit".to_string(),
            format!("copy staging.test/users@{digest} -> prod.test/shop/users:0123456789ab"),
            format!("copy staging.test/audit@{digest} -> prod.test/shop/audit:0123456789ab"),
            format!(
                "deploy ns-production/users=prod.test/shop/users@{digest} \
                 ns-production/audit=prod.test/shop/audit@{digest}"
            ),
        ]
    );
    assert_eq!(events, 3);
    let promoted: Vec<&str> = report.promoted.iter().map(|p| p.service.as_str()).collect();
    assert_eq!(promoted, ["users", "audit"]);
    assert_eq!(
        report.promoted[0].target_image,
        format!("prod.test/shop/users@{digest}")
    );
    assert_eq!(report.promoted[0].copy.copied, 2);
    let refused: Vec<&str> = report.refused.iter().map(|r| r.service.as_str()).collect();
    assert_eq!(refused, ["orders", "email"]);
    assert_eq!(
        (report.from.as_str(), report.to.as_str()),
        ("staging", "production")
    );
}

#[test]
fn a_failed_copy_deploys_nothing() {
    let (from, to) = environments(None);
    let (report, asked, _) = run(&from, &to, &["users", "audit"], Some("audit"));
    let err = report.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(
        err.to_string()
            .starts_with("audit: copying staging.test/audit@"),
        "{err}"
    );
    assert!(!asked.iter().any(|a| a.starts_with("deploy")), "{asked:?}");
}

#[test]
fn an_environment_takes_images_only_from_its_promote_from() {
    let (from, to) = environments(Some("qa"));
    let (report, asked, _) = run(&from, &to, &["users"], None);
    let err = report.unwrap_err();
    assert!(err.is_usage());
    assert!(
        err.to_string()
            .starts_with("environment `production` is promoted only from `qa`"),
        "{err}"
    );
    assert!(asked.is_empty(), "{asked:?}");
}
