//! `monoship ship`: affected → build → publish → deploy in one command, one final table.

use super::build::Builder;
use super::cluster::{RolloutArgs, connect_all};
use super::deploy::Reporter;
use super::progress::BuildReporter;
use super::signals::{self, InFlight};
use super::{Cli, CliError, CliResult, Format};
use super::{exit, output, require_format, runtime, workspace_options};
use monoship::deploy::status::ServiceStatus;
use monoship::deploy::stop::Stop;
use monoship::deploy::{DeployError, Options, status};
use monoship::pipeline::{
    self, BoxFuture, CargoBuilder, Cluster, Clusters, DeployJob, Deploying, DryRunPublisher, Event,
    PublishMode, RegistryPublisher, Selection, ShipOptions, ShipReport, Stage, Stages,
};
use monoship::workspace::Workspace;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Instant;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  monoship ship --registry ghcr.io/acme          what changed since main, built, pushed, rolled out
  monoship ship --base v1.4.0 --namespace shop
  monoship ship --since-deployed                 what changed since each Deployment's revision
  monoship ship --dry-run                        build, no push, the exact change, nothing changed
  monoship --format json ship                    the result as JSON (schema: docs/ship.md)")]
#[command(mut_arg("fail_fast", |a| a.help("Start no more rollouts after the first failure (they are `skipped`)")))]
pub struct Args {
    /// Base revision of the change (default: the merge-base with main, as `affected`).
    #[arg(long, value_name = "REV", conflicts_with = "since_deployed")]
    pub base: Option<String>,
    /// Per service, the change since the revision its Deployment runs
    /// (`monoship.dev/revision`); services monoship never deployed are all shipped.
    #[arg(long)]
    pub since_deployed: bool,
    /// Registry to push to, HOST[/PREFIX] (default: `registry` in [workspace.metadata.monoship]).
    #[arg(long, value_name = "HOST[/PREFIX]")]
    pub registry: Option<String>,
    /// Plain HTTP, allowed only for a registry on this machine.
    #[arg(long)]
    pub insecure: bool,
    /// A tag besides the revision's short sha (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// monoship's own builder, or `docker`/`podman` with Dockerfile.monoship (as `build`).
    #[arg(long, value_enum, default_value_t = Builder::Monoship)]
    pub builder: Builder,
    /// Image builds at a time with --builder docker|podman.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: u32,
    #[command(flatten)]
    pub rollout: RolloutArgs,
}

/// Say what a stage is doing (stderr, human format only).
fn stage(cli: &Cli, stage: &Stage) {
    if cli.quiet || cli.format != Format::Human {
        return;
    }
    let text = match stage {
        Stage::Affected => "affected".to_string(),
        Stage::Build { services } => format!("build ({services} services)"),
        Stage::Publish(PublishMode::DryRun) => "publish: skipped (--dry-run)".into(),
        Stage::Publish(PublishMode::Registry) => "publish".into(),
        Stage::Publish(PublishMode::Layout) => "publish: into an OCI layout".into(),
        Stage::Deploy { dry_run: true } => "deploy (dry run)".into(),
        Stage::Deploy { dry_run: false } => "deploy".into(),
    };
    eprintln!("==> {text}");
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    require_format(cli, "ship", &[Format::Human, Format::Json])?;
    let started = Instant::now();
    if let Some(r) = &args.registry {
        monoship::publish::naming::normalize_registry(r)?;
    }
    let rt = runtime()?;
    let ws = monoship::affected::load_workspace(&workspace_options(cli))?;
    let conn = rt.block_on(connect_all(&args.rollout.cluster.kube, &ws))?;
    let opts = ship_options(args);
    let cargo = CargoBuilder {
        profile: None,
        target: None,
        offline: cli.offline,
    };
    let container = match args.builder.engine() {
        Some(engine) => {
            let head = monoship::builder::Options::at_head(&ws, None, None, cli.offline)?;
            Some(super::build::container(engine, &head, args.jobs, None))
        }
        None => None,
    };
    let registry = RegistryPublisher {
        options: pipeline::publish_options(
            &ws.config,
            args.registry.as_ref(),
            &args.tags,
            args.insecure,
            Vec::new(),
            std::path::PathBuf::new(),
        ),
    };
    let dry_run = DryRunPublisher {
        naming: pipeline::naming(&ws.config, args.registry.as_deref()),
    };
    let cluster = Interruptible {
        cluster: conn.clusters(),
        in_flight: InFlight::default(),
        quiet: cli.quiet,
        stop: OnceLock::new(),
    };
    let stages = Stages {
        builder: match &container {
            Some(c) => c as &dyn pipeline::Builder,
            None => &cargo,
        },
        publisher: if args.rollout.cluster.dry_run {
            &dry_run
        } else {
            &registry
        },
        cluster: &cluster,
    };
    let mut screen = Screen::new(cli, &cluster.in_flight);
    let report = pipeline::ship(&rt, &ws, &opts, stages, &mut |e| screen.on(e));
    screen.finish();
    let report = report.at(&conn.server)?;
    if report.rows.is_empty() {
        let (base, head) = (&report.base, &report.head);
        if cli.format == Format::Json {
            output::json(&serde_json::json!({"base": base, "head": head, "services": []}))?;
        } else if !cli.quiet {
            println!("no service is affected (base {base} → {head}): nothing to ship");
        }
        return Ok(exit::OK);
    }
    render(cli, &report, started)?;
    if let Some(why) = cluster.stop.get().and_then(Stop::reason) {
        return Err(signals::interrupted(why, &report.results));
    }
    Ok(exit::of_rollouts(report.results.iter().map(|r| r.result)))
}

fn ship_options(args: &Args) -> ShipOptions {
    ShipOptions {
        selection: if args.since_deployed {
            Selection::SinceDeployed
        } else {
            Selection::Since(args.base.clone())
        },
        namespace: args.rollout.cluster.kube.namespace.clone(),
        // Interruptible stops the rollouts once they start.
        deploy: args.rollout.options(Stop::never()),
    }
}

/// The cluster, with SIGINT/SIGTERM handled from the moment rollouts start (before that, a
/// signal stops the build or the push as usual: nothing on the cluster has changed yet).
struct Interruptible<'a> {
    cluster: Clusters<'a>,
    in_flight: InFlight,
    quiet: bool,
    stop: OnceLock<Stop>,
}

impl Cluster for Interruptible<'_> {
    fn namespace(&self) -> &str {
        self.cluster.namespace()
    }

    fn deployed_revisions<'a>(
        &'a self,
        ws: &'a Workspace,
        namespace_flag: Option<&'a str>,
    ) -> BoxFuture<'a, Result<BTreeMap<String, Option<String>>, DeployError>> {
        self.cluster.deployed_revisions(ws, namespace_flag)
    }

    fn statuses<'a>(
        &'a self,
        ws: &'a Workspace,
        services: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<ServiceStatus>, DeployError>> {
        self.cluster.statuses(ws, services)
    }

    fn deploy<'a>(&'a self, job: DeployJob<'a>) -> Deploying<'a> {
        Box::pin(async move {
            let stop = signals::listen(self.in_flight.clone(), self.quiet)
                .map_err(|e| DeployError::Api(e.to_string()))?;
            let opts = Options {
                stop: self.stop.get_or_init(|| stop).clone(),
                ..job.opts.clone()
            };
            let DeployJob {
                targets,
                known,
                emit,
                ..
            } = job;
            let job = DeployJob {
                targets,
                known,
                opts: &opts,
                emit: &mut *emit,
            };
            self.cluster.deploy(job).await
        })
    }
}

/// Progress on stderr: each stage's own reporter while it runs.
struct Screen<'a> {
    cli: &'a Cli,
    in_flight: &'a InFlight,
    build: Option<BuildReporter>,
    publish: Box<dyn FnMut(monoship::publish::Event)>,
    deploy: Option<Reporter>,
}

impl<'a> Screen<'a> {
    fn new(cli: &'a Cli, in_flight: &'a InFlight) -> Screen<'a> {
        Screen {
            cli,
            in_flight,
            build: None,
            publish: Box::new(super::publish::reporter(cli)),
            deploy: None,
        }
    }

    fn on(&mut self, e: Event) {
        match e {
            Event::Stage(s) => {
                if let Some(b) = self.build.take() {
                    b.finish();
                }
                stage(self.cli, &s);
                match s {
                    Stage::Build { .. } => self.build = Some(BuildReporter::new(self.cli)),
                    Stage::Deploy { .. } => self.deploy = Some(Reporter::new(self.cli)),
                    Stage::Affected | Stage::Publish(_) => {}
                }
            }
            Event::Selected(selected) => {
                if !self.cli.quiet && self.cli.format == Format::Human {
                    for s in &selected {
                        eprintln!("    {:<14} ← {}", s.service, s.reason);
                    }
                }
            }
            Event::Build(e) => {
                if let Some(b) = &mut self.build {
                    b.on(e);
                }
            }
            Event::Publish(e) => (self.publish)(e),
            Event::Deploy(e) => {
                self.in_flight.on(&e);
                if let Some(d) = &mut self.deploy {
                    d.on(e);
                }
            }
        }
    }

    fn finish(&mut self) {
        // A build that failed ends here: its heartbeat stops before the error is written.
        self.build.take();
        if let Some(mut d) = self.deploy.take() {
            d.finish();
        }
    }
}

fn render(cli: &Cli, report: &ShipReport, started: Instant) -> Result<(), CliError> {
    let (base, head, rows, results) = (&report.base, &report.head, &report.rows, &report.results);
    if cli.format == Format::Json {
        return output::json(&serde_json::json!({"base": base, "head": head, "services": rows}));
    }
    let mut table = vec![
        [
            "SERVICE", "REASON", "DIGEST", "PUSHED", "RESULT", "DURATION",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let clusters = rows.iter().any(|r| r.cluster.is_some());
    if clusters {
        table[0].insert(1, "CLUSTER".into());
    }
    for r in rows {
        let mut row = vec![r.service.clone()];
        if clusters {
            row.push(r.cluster.clone().unwrap_or_default());
        }
        table.push(row);
        table.last_mut().expect("pushed").extend([
            r.reason.clone(),
            status::short_digest(&r.digest),
            output::human_size(r.pushed_bytes),
            r.result.clone(),
            format!("{:.1}s", r.duration_ms as f64 / 1000.0),
        ]);
    }
    for line in output::table(&table) {
        println!("{line}");
    }
    for r in results {
        if let Some(reason) = &r.reason {
            println!("{}: {}: {reason}", r.service, r.result.as_str());
        }
        super::deploy::print_details(r);
    }
    if !cli.quiet {
        let count = |what: &str| rows.iter().filter(|r| r.result == what).count();
        println!(
            "{} service(s) (base {base} → {head}): {} deployed, {} unchanged, {} would deploy, {} \
             failed, in {:.1}s",
            rows.len(),
            count("deployed"),
            count("unchanged"),
            count("would-deploy"),
            rows.len()
                .saturating_sub(count("deployed"))
                .saturating_sub(count("unchanged"))
                .saturating_sub(count("would-deploy")),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
