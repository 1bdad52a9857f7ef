//! The orchestration of `ship` with fakes at its seams: which stage runs, with what, in which
//! order, and what a failure stops. The real stages are tested against real cargo, registries
//! and an API server in tests/.

use super::*;
use crate::builder::{BuildRecord, ServiceRecord};
use crate::config::WorkspaceConfig;
use crate::deploy::images::Naming;
use crate::deploy::{Outcome, Version};
use std::cell::RefCell;
use std::path::PathBuf;

/// A workspace of `services` (no cargo, no git: fakes stand in for both).
fn workspace(services: &[&str]) -> Workspace {
    crate::workspace::fake(services)
}

fn digest(service: &str) -> String {
    let hex: String = service.bytes().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex:0<64}")
}

/// What the fakes were asked, in order.
pub(super) type Log = RefCell<Vec<String>>;

struct FakeBuilder<'a> {
    log: &'a Log,
    /// A service whose compilation fails.
    fails: Option<&'static str>,
}

impl Builder for FakeBuilder<'_> {
    fn build(&self, job: BuildJob<'_>) -> Result<builder::Output, BuildError> {
        let BuildJob { services, emit, .. } = job;
        self.log
            .borrow_mut()
            .push(format!("build {}", services.join(" ")));
        if let Some(s) = self.fails.filter(|s| services.iter().any(|n| n == s)) {
            return Err(BuildError::Compile {
                services: s.to_string(),
                summary: "error[E0308]".into(),
            });
        }
        emit(builder::Event::Planned {
            groups: vec![services.to_vec()],
        });
        let record = BuildRecord {
            revision: "c0ffee".into(),
            services: services
                .iter()
                .map(|s| ServiceRecord {
                    service: s.clone(),
                    binary_sha256: String::new(),
                    binary_size: 1,
                    image_digest: digest(s),
                    image_size: 2,
                    base: "builtin".into(),
                    changed: true,
                    image_revision: "c0ffee".into(),
                    image_epoch: 0,
                    debug: None,
                })
                .collect(),
        };
        Ok(builder::Output {
            record,
            layout: PathBuf::from("/nonexistent/out/oci"),
            record_path: PathBuf::from("/nonexistent/out/build.json"),
        })
    }
}

struct FakePublisher<'a> {
    log: &'a Log,
    /// The check before the build fails.
    refuses: bool,
    /// A service it leaves out.
    drops: Option<&'static str>,
}

impl Publisher for FakePublisher<'_> {
    fn mode(&self) -> PublishMode {
        PublishMode::Registry
    }

    fn check(&self) -> Result<(), ShipError> {
        self.log.borrow_mut().push("check".into());
        if self.refuses {
            return Err(ShipError::Publish(PublishError::Invalid(
                crate::invalid::Invalid::from("--insecure is only for a registry on this machine"),
            )));
        }
        Ok(())
    }

    fn publish<'a>(&'a self, job: PublishJob<'a>) -> Publishing<'a> {
        let PublishJob {
            built, services, ..
        } = job;
        Box::pin(async move {
            self.log
                .borrow_mut()
                .push(format!("publish {}", services.join(" ")));
            Ok(built
                .record
                .services
                .iter()
                .filter(|s| Some(s.service.as_str()) != self.drops)
                .map(|s| {
                    let artifact = crate::deploy::images::Artifact {
                        reference: format!("registry.test/{}@{}", s.service, s.image_digest),
                        digest: s.image_digest.clone(),
                        revision: Some(built.record.revision.clone()),
                        source: publish::PUBLISH_RECORD.into(),
                        promoted_from: None,
                    };
                    let published = Published {
                        artifact,
                        uploaded_bytes: 100,
                    };
                    (s.service.clone(), published)
                })
                .collect())
        })
    }
}

pub(super) struct FakeCluster<'a> {
    pub(super) log: &'a Log,
    pub(super) deployed: BTreeMap<String, Option<String>>,
    /// Per service, how its rollout ends (default: deployed).
    pub(super) outcomes: BTreeMap<&'static str, Outcome>,
    /// What `statuses` answers (those of the services asked for).
    pub(super) statuses: Vec<crate::deploy::status::ServiceStatus>,
}

impl Cluster for FakeCluster<'_> {
    fn namespace(&self) -> &str {
        "context-ns"
    }

    fn deployed_revisions<'a>(
        &'a self,
        _ws: &'a Workspace,
        _namespace_flag: Option<&'a str>,
    ) -> BoxFuture<'a, Result<BTreeMap<String, Option<String>>, DeployError>> {
        self.log.borrow_mut().push("revisions".into());
        Box::pin(async move { Ok(self.deployed.clone()) })
    }

    fn statuses<'a>(
        &'a self,
        _ws: &'a Workspace,
        services: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<crate::deploy::status::ServiceStatus>, DeployError>> {
        self.log
            .borrow_mut()
            .push(format!("statuses {}", services.join(" ")));
        let found = self
            .statuses
            .iter()
            .filter(|s| services.contains(&s.service))
            .cloned()
            .collect();
        Box::pin(async move { Ok(found) })
    }

    fn deploy<'a>(&'a self, job: DeployJob<'a>) -> Deploying<'a> {
        let targets = job.targets;
        let names: Vec<String> = targets
            .iter()
            .map(|t| format!("{}/{}={}", t.namespace, t.service, t.artifact.reference))
            .collect();
        self.log
            .borrow_mut()
            .push(format!("deploy {}", names.join(" ")));
        Box::pin(async move {
            Ok(targets
                .iter()
                .map(|t| ServiceResult {
                    service: t.service.clone(),
                    namespace: t.namespace.clone(),
                    deployment: t.deployment.clone(),
                    from: Version::default(),
                    to: Version {
                        image: Some(t.artifact.reference.clone()),
                        digest: Some(t.artifact.digest.clone()),
                        revision: t.artifact.revision.clone(),
                    },
                    result: *self
                        .outcomes
                        .get(t.service.as_str())
                        .unwrap_or(&Outcome::Deployed),
                    duration_ms: 5,
                    reason: None,
                    report: None,
                    rollback: None,
                    changes: Vec::new(),
                    cluster: None,
                })
                .collect())
        })
    }
}

/// A case: the workspace's services (all never deployed by monoship, so all are selected
/// without git) and how each fake behaves.
#[derive(Default)]
struct Case {
    services: &'static [&'static str],
    /// The build of this service fails.
    build_fails: Option<&'static str>,
    /// The publisher's check fails.
    refused: bool,
    /// The publisher leaves this service out.
    unpublished: Option<&'static str>,
    outcomes: BTreeMap<&'static str, Outcome>,
    namespace: Option<&'static str>,
    /// A dry run, with this registry for the references.
    dry_run: Option<&'static str>,
}

/// What a case did: the report, the events, and what the fakes were asked, in order.
struct Ran {
    report: Result<ShipReport, ShipError>,
    events: Vec<Event>,
    log: Vec<String>,
}

impl Ran {
    fn stages(&self) -> Vec<Stage> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Stage(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }
}

impl Case {
    fn run(self) -> Ran {
        let log = Log::default();
        let ws = workspace(self.services);
        let builder = FakeBuilder {
            log: &log,
            fails: self.build_fails,
        };
        let fake = FakePublisher {
            log: &log,
            refuses: self.refused,
            drops: self.unpublished,
        };
        let dry = DryRunPublisher {
            naming: naming(&WorkspaceConfig::default(), self.dry_run),
        };
        let cluster = FakeCluster {
            log: &log,
            deployed: self
                .services
                .iter()
                .map(|s| (s.to_string(), None))
                .collect(),
            outcomes: self.outcomes,
            statuses: Vec::new(),
        };
        let publisher: &dyn Publisher = if self.dry_run.is_some() { &dry } else { &fake };
        let stages = Stages {
            builder: &builder,
            publisher,
            cluster: &cluster,
        };
        let mut opts = ShipOptions {
            selection: Selection::SinceDeployed,
            namespace: self.namespace.map(str::to_string),
            deploy: deploy::Options::default(),
        };
        opts.deploy.dry_run = self.dry_run.is_some();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut events = Vec::new();
        let report = ship(&rt, &ws, &opts, stages, &mut |e| events.push(e));
        Ran {
            report,
            events,
            log: log.into_inner(),
        }
    }
}

#[test]
fn the_stages_run_in_order_each_on_the_last_ones_output() {
    let ran = Case {
        services: &["orders", "users"],
        outcomes: BTreeMap::from([("users", Outcome::Unchanged)]),
        namespace: Some("shop"),
        ..Case::default()
    }
    .run();
    assert_eq!(
        ran.log,
        [
            "revisions".to_string(),
            "check".into(),
            "build orders users".into(),
            "publish orders users".into(),
            format!(
                "deploy shop/orders=registry.test/orders@{} shop/users=registry.test/users@{}",
                digest("orders"),
                digest("users")
            ),
        ]
    );
    assert_eq!(
        ran.stages(),
        [
            Stage::Affected,
            Stage::Build { services: 2 },
            Stage::Publish(PublishMode::Registry),
            Stage::Deploy { dry_run: false },
        ]
    );
    assert!(ran.events.iter().any(|e| matches!(e, Event::Build(_))));
    let report = ran.report.unwrap();
    assert_eq!(report.base, "deployed");
    assert_eq!(report.head, Head::Worktree);
    let rows: Vec<(&str, &str, u64, &str)> = report
        .rows
        .iter()
        .map(|r| {
            (
                r.service.as_str(),
                r.result.as_str(),
                r.pushed_bytes,
                r.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("orders", "deployed", 100, NEVER_DEPLOYED),
            ("users", "unchanged", 100, NEVER_DEPLOYED)
        ]
    );
    assert_eq!(report.rows[0].digest, digest("orders"));
    assert!(report.ok());
}

#[test]
fn nothing_selected_builds_publishes_and_deploys_nothing() {
    let ran = Case::default().run();
    let report = ran.report.as_ref().unwrap();
    assert!(report.rows.is_empty() && report.results.is_empty());
    assert_eq!(ran.log, ["revisions"]);
    assert_eq!(ran.stages(), [Stage::Affected]);
}

#[test]
fn a_failed_build_stops_before_the_registry_and_the_cluster() {
    let ran = Case {
        services: &["orders", "users"],
        build_fails: Some("users"),
        ..Case::default()
    }
    .run();
    assert!(matches!(
        ran.report,
        Err(ShipError::Build(BuildError::Compile { .. }))
    ));
    assert_eq!(ran.log, ["revisions", "check", "build orders users"]);
}

#[test]
fn a_registry_refused_before_the_build_builds_nothing() {
    let ran = Case {
        services: &["users"],
        refused: true,
        ..Case::default()
    }
    .run();
    let err = ran.report.unwrap_err();
    assert!(err.to_string().contains("--insecure"), "{err}");
    assert_eq!(ran.log, ["revisions", "check"]);
}

#[test]
fn an_image_left_unpublished_deploys_nothing() {
    let ran = Case {
        services: &["orders", "users"],
        unpublished: Some("users"),
        ..Case::default()
    }
    .run();
    assert_eq!(
        ran.report.unwrap_err().to_string(),
        "users: no image was published"
    );
    assert!(
        !ran.log.iter().any(|l| l.starts_with("deploy")),
        "{:?}",
        ran.log
    );
}

#[test]
fn a_failed_rollout_is_a_row_that_fails_the_run_and_the_context_namespace_is_the_default() {
    let ran = Case {
        services: &["orders", "users"],
        outcomes: BTreeMap::from([("orders", Outcome::RolledBack)]),
        ..Case::default()
    }
    .run();
    let report = ran.report.unwrap();
    assert!(!report.ok());
    assert_eq!(report.rows[0].result, "rolled-back");
    assert_eq!(report.rows[1].result, "deployed");
    assert!(ran.log.last().unwrap().contains("context-ns/orders="));
}

#[test]
fn a_dry_run_names_the_references_a_push_would_make_and_pushes_nothing() {
    let ran = Case {
        services: &["users"],
        dry_run: Some("127.0.0.1:5000/team/"),
        ..Case::default()
    }
    .run();
    let stages = ran.stages();
    let report = ran.report.unwrap();
    assert_eq!(
        report.rows[0].reference,
        format!("127.0.0.1:5000/team/users@{}", digest("users"))
    );
    assert_eq!(report.rows[0].pushed_bytes, 0);
    assert!(stages.contains(&Stage::Publish(PublishMode::DryRun)));
    assert!(stages.contains(&Stage::Deploy { dry_run: true }));
    assert!(!ran.log.iter().any(|l| l.starts_with("publish")));
}

#[test]
fn a_dry_run_without_a_registry_says_which_flag_is_missing() {
    let none = DryRunPublisher {
        naming: Naming {
            registry: None,
            ..naming(&WorkspaceConfig::default(), None)
        },
    };
    let err = none
        .reference("users", &digest("users"), "rev")
        .unwrap_err();
    assert!(err.0.contains("--registry"), "{err}");
}

#[test]
fn the_layout_publisher_names_what_it_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let record = crate::publish::export::fixture::built(tmp.path(), &["users", "orders"]);
    let built = builder::Output {
        record,
        layout: tmp.path().join(crate::builder::LAYOUT),
        record_path: tmp.path().join(crate::builder::BUILD_RECORD),
    };
    let dest = tmp.path().join("handoff");
    let publisher = LayoutPublisher {
        options: publish_options(
            &workspace(&[]).config,
            None,
            &[],
            false,
            Vec::new(),
            tmp.path().into(),
        ),
        dest: dest.clone(),
    };
    assert_eq!(publisher.mode(), PublishMode::Layout);
    publisher.check().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let services = vec!["users".to_string()];
    let out = rt
        .block_on(publisher.publish(PublishJob {
            built: &built,
            services: &services,
            emit: &mut |_| {},
        }))
        .unwrap();
    let users = &out["users"].artifact;
    assert_eq!(out.len(), 1);
    assert_eq!(users.reference, format!("oci:{}:users", dest.display()));
    assert_eq!(users.digest, built.record.services[0].image_digest);
    assert!(dest.join("blobs/sha256").join(&users.digest[7..]).is_file());
}
