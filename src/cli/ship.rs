//! `monoship ship`: affected → build → publish → deploy in one command, one final table.

use super::deploy::{connect, deploy_error, runtime, ClusterArgs, Reporter};
use super::signals::{self, InFlight};
use super::{exit, output, require_format, Cli, CliError, Format};
use monoship::builder::{self, BuildError, Event};
use monoship::deploy::images::Artifact;
use monoship::deploy::{status, Options, ServiceResult};
use monoship::pipeline::{self, Selected, ShipRow};
use monoship::workspace::Workspace;
use std::collections::BTreeMap;
use std::time::Instant;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  monoship ship --registry ghcr.io/acme          what changed since main, built, pushed, rolled out
  monoship ship --base v1.4.0 --namespace shop
  monoship ship --since-deployed                 what changed since each Deployment's revision
  monoship ship --dry-run                        build, no push, the exact change, nothing changed
  monoship --format json ship                    the result as JSON (schema: docs/ship.md)")]
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
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Rollouts at a time.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel: u32,
    /// Leave a failed rollout as it is instead of rolling it back.
    #[arg(long)]
    pub no_rollback: bool,
    /// Start no more rollouts after the first failure (they are `skipped`).
    #[arg(long)]
    pub fail_fast: bool,
}

fn workspace_opts(cli: &Cli, base: Option<String>) -> monoship::affected::Options {
    monoship::affected::Options {
        dir: cli.dir.clone(),
        manifest_path: cli.manifest_path.clone(),
        base,
        offline: cli.offline,
        ..Default::default()
    }
}

/// Say what a stage is doing (stderr, human format only).
fn stage(cli: &Cli, text: &str) {
    if !cli.quiet && cli.format == Format::Human {
        eprintln!("==> {text}");
    }
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    require_format(cli, "ship", &[Format::Human, Format::Json])?;
    let started = Instant::now();
    if let Some(r) = &args.registry {
        monoship::publish::naming::normalize_registry(r).map_err(CliError::usage)?;
    }
    let rt = runtime()?;
    let conn = rt.block_on(connect(&args.cluster))?;
    let namespace_flag = args.cluster.kube.namespace.as_deref();

    // 1. affected
    stage(cli, "affected");
    let (ws, base, head, selected) = if args.since_deployed {
        let ws = monoship::affected::load_workspace(&workspace_opts(cli, None))?;
        let deployed = rt
            .block_on(pipeline::deployed_revisions(
                &conn.client,
                &ws,
                namespace_flag,
                &conn.namespace,
            ))
            .map_err(|e| deploy_error(e, &conn.server))?;
        let groups = pipeline::group_by_revision(&deployed);
        let mut head = None;
        let selected = pipeline::select_since(&groups, |rev| {
            let (_, report) = monoship::affected::analyze(&workspace_opts(cli, Some(rev.into())))
                .map_err(|e| e.to_string())?;
            head.get_or_insert_with(|| report.head.clone());
            Ok(report)
        })
        .map_err(CliError::usage)?;
        let head = head.unwrap_or_else(|| "WORKTREE".to_string());
        (ws, "deployed".to_string(), head, selected)
    } else {
        let (ws, report) = monoship::affected::analyze(&workspace_opts(cli, args.base.clone()))?;
        let selected = pipeline::select_from_report(&report, None);
        (ws, report.base.clone(), report.head.clone(), selected)
    };
    if selected.is_empty() {
        if cli.format == Format::Json {
            output::json(&serde_json::json!({"base": base, "head": head, "services": []}))?;
        } else if !cli.quiet {
            println!("no service is affected (base {base} → {head}): nothing to ship");
        }
        return Ok(exit::OK);
    }
    if !cli.quiet && cli.format == Format::Human {
        for s in &selected {
            eprintln!("    {:<14} ← {}", s.service, s.reason);
        }
    }
    let services: Vec<String> = selected.iter().map(|s| s.service.clone()).collect();
    let mut publish_opts = monoship::pipeline::publish_options(
        &ws.config,
        args.registry.as_ref(),
        &args.tags,
        args.insecure,
        services.clone(),
        std::path::PathBuf::new(),
    );
    if !args.cluster.dry_run {
        super::publish::validate(&publish_opts)?;
    }

    // 2. build
    stage(cli, &format!("build ({} services)", services.len()));
    let out = build(cli, &ws, &services)?;
    let digests: BTreeMap<String, String> = out
        .record
        .services
        .iter()
        .map(|s| (s.service.clone(), s.image_digest.clone()))
        .collect();

    // 3. publish (a dry run names the references a push would make)
    let mut artifacts: BTreeMap<String, Artifact> = BTreeMap::new();
    let mut pushed: BTreeMap<String, u64> = BTreeMap::new();
    if args.cluster.dry_run {
        stage(cli, "publish: skipped (--dry-run)");
        let naming = pipeline::naming(&ws.config, args.registry.as_deref());
        for s in &services {
            let a = pipeline::planned_artifact(&naming, s, &digests[s], &out.record.revision)
                .map_err(CliError::usage)?;
            artifacts.insert(s.clone(), a);
        }
    } else {
        stage(cli, "publish");
        publish_opts.from = out
            .layout
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        let published = monoship::publish::run(&publish_opts, &mut super::publish::reporter(cli))
            .map_err(super::publish::cli_error)?;
        for p in &published.record.services {
            pushed.insert(p.service.clone(), p.uploaded_bytes);
            artifacts.insert(
                p.service.clone(),
                Artifact {
                    reference: p.reference.clone(),
                    digest: p.digest.clone(),
                    revision: Some(published.record.revision.clone()),
                    source: monoship::publish::RECORD.into(),
                },
            );
        }
    }

    // 4. deploy
    stage(
        cli,
        if args.cluster.dry_run {
            "deploy (dry run)"
        } else {
            "deploy"
        },
    );
    let mut targets = Vec::new();
    for s in &services {
        let a = artifacts
            .get(s)
            .cloned()
            .ok_or_else(|| CliError::failed(format!("{s}: no image was published")))?;
        targets.push(
            pipeline::deploy_target(&ws, s, a, namespace_flag, &conn.namespace)
                .map_err(CliError::usage)?,
        );
    }
    let in_flight = InFlight::default();
    let stop = {
        let _runtime = rt.enter();
        signals::listen(in_flight.clone(), cli.quiet)?
    };
    let opts = Options {
        parallel: usize::try_from(args.parallel).unwrap_or(usize::MAX),
        no_rollback: args.no_rollback,
        fail_fast: args.fail_fast,
        stop: stop.clone(),
        ..super::deploy::options(&args.cluster)
    };
    let known = |s: &str| ws.service(s).is_some();
    let mut reporter = Reporter::new(cli);
    let results = rt.block_on(monoship::deploy::run::run(
        &conn.client,
        targets,
        &known,
        &opts,
        &mut |e| {
            in_flight.on(&e);
            reporter.on(e)
        },
    ));
    reporter.finish();
    let results = results.map_err(|e| deploy_error(e, &conn.server))?;

    let rows = rows(&selected, &digests, &pushed, &artifacts, &results);
    let ok = results.iter().all(|r| r.result.is_success());
    render(cli, &base, &head, &rows, &results, started)?;
    if let Some(why) = stop.reason() {
        return Err(signals::interrupted(why, &results));
    }
    Ok(if ok { exit::OK } else { exit::FAILED })
}

fn build(cli: &Cli, ws: &Workspace, services: &[String]) -> Result<builder::Output, CliError> {
    let (revision, commit_time) = super::build::head(ws)?;
    let epoch = super::build::source_date_epoch(commit_time)?;
    let opts = builder::Options {
        services: services.to_vec(),
        profile: "release".into(),
        target: "x86_64-unknown-linux-gnu".into(),
        static_link: None,
        offline: cli.offline,
        revision,
        epoch,
        out_dir: None,
    };
    let mut reporter = super::progress::BuildReporter::new(cli);
    let mut emit = |e: Event| reporter.on(e);
    let out = builder::run(ws, &opts, &mut emit).map_err(|e| match e {
        BuildError::UnknownService(_) | BuildError::Config(_) => CliError::usage(e.to_string()),
        other => CliError::failed(other.to_string()),
    })?;
    reporter.finish();
    Ok(out)
}

fn rows(
    selected: &[Selected],
    digests: &BTreeMap<String, String>,
    pushed: &BTreeMap<String, u64>,
    artifacts: &BTreeMap<String, Artifact>,
    results: &[ServiceResult],
) -> Vec<ShipRow> {
    selected
        .iter()
        .map(|s| {
            let r = results.iter().find(|r| r.service == s.service);
            ShipRow {
                service: s.service.clone(),
                reason: s.reason.clone(),
                digest: digests.get(&s.service).cloned().unwrap_or_default(),
                pushed_bytes: pushed.get(&s.service).copied().unwrap_or(0),
                result: r.map_or("error", |r| r.result.as_str()).to_string(),
                duration_ms: r.map_or(0, |r| r.duration_ms),
                report: r.and_then(|r| r.report.clone()),
                base: s.base.clone(),
                reference: artifacts
                    .get(&s.service)
                    .map(|a| a.reference.clone())
                    .unwrap_or_default(),
                failure: r.and_then(|r| r.reason.clone()),
            }
        })
        .collect()
}

fn render(
    cli: &Cli,
    base: &str,
    head: &str,
    rows: &[ShipRow],
    results: &[ServiceResult],
    started: Instant,
) -> Result<(), CliError> {
    if cli.format == Format::Json {
        return output::json(&serde_json::json!({"base": base, "head": head, "services": rows}));
    }
    let mut table = vec![[
        "SERVICE", "REASON", "DIGEST", "PUSHED", "RESULT", "DURATION",
    ]
    .map(String::from)
    .to_vec()];
    for r in rows {
        table.push(vec![
            r.service.clone(),
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
        super::deploy::print_changes(r);
        if let Some(reason) = &r.reason {
            println!("{}: {}: {reason}", r.service, r.result.as_str());
        }
        if let Some(report) = &r.report {
            super::deploy::print_report(&r.service, "rollout", report);
        }
        if let Some(report) = r.rollback.as_ref().and_then(|rb| rb.report.as_ref()) {
            super::deploy::print_report(&r.service, "rollback", report);
        }
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
