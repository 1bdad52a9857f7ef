//! `monoship deploy`: pick the services and their digest-pinned images, run the deploy stage,
//! render its events (a live line per service on a terminal, timestamped lines elsewhere) and
//! its results (a table with failure reports, or JSON).

use super::{exit, output, require_format, Cli, CliError, Format};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use monoship::cluster::{self, ConnectOptions};
use monoship::deploy::images::{self, Naming, Records};
use monoship::deploy::plan::{self, Target};
use monoship::deploy::report::Report;
use monoship::deploy::{DeployError, Event, Options, ServiceResult, Version};
use monoship::workspace::Workspace;
use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How to reach the cluster (shared with `rollback`).
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// Namespace of the Deployments (default: `namespace` in the configuration, else the
    /// kubeconfig context's).
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    /// The kubeconfig context to use.
    #[arg(long, value_name = "CTX")]
    pub context: Option<String>,
    /// The kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Time limit per rollout, e.g. 90s, 5m (default: derived from the probes).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Restarts of a new container tolerated before OOM kills, probe kills or exits fail it.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_restarts: i32,
    /// Show the exact change (server-side dry run), change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  monoship deploy                           what publish.json lists (else build.json)
  monoship deploy users orders --namespace shop
  monoship deploy --affected --base origin/main
  monoship deploy --image users=ghcr.io/acme/users@sha256:…
  monoship deploy --dry-run                 the exact change, nothing is changed
  monoship --format json deploy             results as JSON (schema: docs/deploy.md)")]
pub struct Args {
    /// Services to deploy (default: those of --image, else of the publish record, else of the
    /// build record).
    pub services: Vec<String>,
    /// Deploy the services `monoship affected` reports.
    #[arg(long, conflicts_with = "services")]
    pub affected: bool,
    /// Base revision for --affected.
    #[arg(long, value_name = "REV", requires = "affected")]
    pub base: Option<String>,
    /// Directory holding build.json and publish.json, or a build.json (default:
    /// <target-dir>/monoship).
    #[arg(long, value_name = "PATH")]
    pub from_build: Option<PathBuf>,
    /// The image of a service, pinned by digest: SERVICE=REPO@sha256:… (repeatable).
    #[arg(long = "image", value_name = "SERVICE=REF")]
    pub images: Vec<String>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Rollouts at a time.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel: u32,
    /// Leave a failed rollout as it is instead of rolling it back.
    #[arg(long)]
    pub no_rollback: bool,
    /// Start no more services after the first failure (they are `skipped`).
    #[arg(long)]
    pub fail_fast: bool,
}

/// `90`, `90s`, `1m30s`, `5m`, `500ms`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration (like 90s, 5m, 1m30s)");
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        total += match &rest[..unit] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return Err(bad()),
        };
        rest = &rest[unit..];
    }
    if total.is_zero() {
        return Err(bad());
    }
    Ok(total)
}

pub fn load(
    cli: &Cli,
    base: Option<&String>,
    affected: bool,
) -> Result<(Workspace, Vec<String>), CliError> {
    let opts = monoship::affected::Options {
        dir: cli.dir.clone(),
        manifest_path: cli.manifest_path.clone(),
        base: base.cloned(),
        offline: cli.offline,
        ..Default::default()
    };
    if affected {
        let (ws, report) = monoship::affected::analyze(&opts)?;
        let names = report.affected.iter().map(|a| a.service.clone()).collect();
        Ok((ws, names))
    } else {
        Ok((monoship::affected::load_workspace(&opts)?, Vec::new()))
    }
}

pub fn deploy_error(e: DeployError, server: &str) -> CliError {
    match e {
        DeployError::Usage(m) => CliError::usage(m),
        DeployError::Unreachable { message, .. } => CliError::failed(
            DeployError::Unreachable {
                server: Some(server.to_string()),
                message,
            }
            .to_string(),
        ),
        other => CliError::failed(other.to_string()),
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the async runtime: {e}")))
}

pub async fn connect(args: &ClusterArgs) -> Result<cluster::Connection, CliError> {
    cluster::connect(&ConnectOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
    })
    .await
    .map_err(|e| match e {
        cluster::ConnectError::Client(m) => CliError::failed(format!("Kubernetes client: {m}")),
        other => CliError::usage(other.to_string()),
    })
}

pub fn options(args: &ClusterArgs) -> Options {
    Options {
        timeout: args.timeout,
        max_restarts: args.max_restarts,
        dry_run: args.dry_run,
        ..Options::default()
    }
}

/// The services to deploy and the images given with --image.
fn select(
    ws: &Workspace,
    args: &Args,
    affected: Vec<String>,
    records: &Records,
) -> Result<(Vec<String>, BTreeMap<String, String>), CliError> {
    let mut flags = BTreeMap::new();
    for f in &args.images {
        let (service, reference) = images::parse_image_flag(f).map_err(CliError::usage)?;
        if flags.insert(service.clone(), reference).is_some() {
            return Err(CliError::usage(format!(
                "--image {service}=… is given twice"
            )));
        }
    }
    let unknown = |s: &String| ws.service(s).is_none();
    if let Some(s) = args
        .services
        .iter()
        .chain(flags.keys())
        .find(|s| unknown(s))
    {
        return Err(CliError::usage(format!(
            "unknown service `{s}` (see `monoship services`)"
        )));
    }
    let services: Vec<String> = if args.affected {
        affected
    } else if !args.services.is_empty() {
        if let Some(s) = flags.keys().find(|s| !args.services.contains(s)) {
            return Err(CliError::usage(format!(
                "--image names `{s}`, which is not among the services to deploy"
            )));
        }
        args.services.clone()
    } else if !flags.is_empty() {
        flags.keys().cloned().collect()
    } else if let Some(p) = &records.publish {
        p.services.iter().map(|s| s.service.clone()).collect()
    } else if let Some(b) = &records.build {
        b.services.iter().map(|s| s.service.clone()).collect()
    } else {
        return Err(CliError::usage(format!(
            "nothing to deploy: name services, pass --image SERVICE=REF, or build and publish \
             first (no records in {})",
            records.dir.display()
        )));
    };
    let mut seen = BTreeSet::new();
    Ok((
        services
            .into_iter()
            .filter(|s| seen.insert(s.clone()))
            .collect(),
        flags,
    ))
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    require_format(cli, "deploy", &[Format::Human, Format::Json])?;
    let (ws, affected) = load(cli, args.base.as_ref(), args.affected)?;
    let records_path = args
        .from_build
        .clone()
        .unwrap_or_else(|| ws.target_dir.join("monoship"));
    let records = images::read_records(&records_path).map_err(CliError::usage)?;
    let (services, flags) = select(&ws, args, affected, &records)?;
    if services.is_empty() {
        if cli.format == Format::Json {
            output::json(&serde_json::json!({"namespace": null, "services": []}))?;
        } else if !cli.quiet {
            println!("no service is affected: nothing to deploy");
        }
        return Ok(exit::OK);
    }
    let head = monoship::changes::Git::open(&ws.root)
        .ok()
        .and_then(|g| g.head_info().ok())
        .map(|(id, _)| id.to_string());
    let naming = Naming {
        registry: ws.config.registry.clone(),
        template: ws
            .config
            .image
            .clone()
            .unwrap_or_else(|| monoship::publish::naming::DEFAULT_TEMPLATE.to_string()),
        prefix: ws.config.prefix.clone().unwrap_or_default(),
    };
    let mut artifacts = BTreeMap::new();
    for s in &services {
        let a = images::resolve(s, &flags, &records, &naming, head.as_deref())
            .map_err(CliError::usage)?;
        artifacts.insert(s.clone(), a);
    }
    let rt = runtime()?;
    rt.block_on(async {
        let conn = connect(&args.cluster).await?;
        let mut targets = Vec::new();
        for s in &services {
            let svc = ws.service(s).expect("validated");
            let loc = plan::locate(
                s,
                &ws.config,
                &svc.config,
                args.cluster.namespace.as_deref(),
                &conn.namespace,
            )
            .map_err(CliError::usage)?;
            targets.push(Target {
                service: s.clone(),
                namespace: loc.namespace,
                deployment: loc.deployment,
                container: loc.container,
                depends_on: svc.config.depends_on.clone(),
                artifact: artifacts[s].clone(),
            });
        }
        let namespaces: BTreeSet<String> = targets.iter().map(|t| t.namespace.clone()).collect();
        let opts = Options {
            parallel: args.parallel as usize,
            no_rollback: args.no_rollback,
            fail_fast: args.fail_fast,
            ..options(&args.cluster)
        };
        let mut reporter = Reporter::new(cli);
        let known = |s: &str| ws.service(s).is_some();
        let results = monoship::deploy::run::run(&conn.client, targets, &known, &opts, &mut |e| {
            reporter.on(e)
        })
        .await;
        reporter.finish();
        let results = results.map_err(|e| deploy_error(e, &conn.server))?;
        let namespace = (namespaces.len() == 1).then(|| namespaces.into_iter().next().unwrap());
        render(cli, namespace.as_deref(), &results)?;
        Ok(if results.iter().all(|r| r.result.is_success()) {
            exit::OK
        } else {
            exit::FAILED
        })
    })
}

/// Progress of a run on stderr: a live line per service on a terminal, else timestamped lines.
pub struct Reporter {
    multi: Option<MultiProgress>,
    bars: BTreeMap<String, ProgressBar>,
    quiet: bool,
    started: Instant,
}

impl Reporter {
    pub fn new(cli: &Cli) -> Reporter {
        let tty = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let multi = (tty && !cli.quiet && cli.format == Format::Human)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Reporter {
            multi,
            bars: BTreeMap::new(),
            quiet: cli.quiet,
            started: Instant::now(),
        }
    }

    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => eprintln!("[{:>6.1}s] {text}", self.started.elapsed().as_secs_f64()),
        }
    }

    /// The live line of a service (a plain line without a terminal).
    fn status(&mut self, service: &str, text: &str) {
        let Some(multi) = &self.multi else {
            self.line(&format!("{service}: {text}"));
            return;
        };
        let bar = self.bars.entry(service.to_string()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:<14} {elapsed:>4} {wide_msg}")
                    .expect("template"),
            );
            bar.set_prefix(service.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        bar.set_message(text.to_string());
    }

    pub fn on(&mut self, e: Event) {
        match e {
            Event::Planned { waves } if waves.len() > 1 => {
                let shown: Vec<String> = waves.iter().map(|w| w.join(" ")).collect();
                self.line(&format!("deploying in waves: {}", shown.join(" → ")));
            }
            Event::Started {
                service,
                deployment,
                from,
                to,
            } => self.status(
                &service,
                &format!("deployment/{deployment}: {} → {}", short(&from), short(&to)),
            ),
            Event::Patched {
                service,
                generation,
            } => self.status(&service, &format!("patched (generation {generation})")),
            Event::Progress { service, message } => self.status(&service, &message),
            Event::Disconnected { service, message } => self.status(
                &service,
                &format!("lost the API server, reconnecting: {message}"),
            ),
            Event::Reconnected { service } => self.status(&service, "reconnected"),
            Event::RolloutFailed {
                service,
                code,
                message,
            } => self.line(&format!("{service}: rollout failed: {code}: {message}")),
            Event::RollingBack { service, revision } => self.status(
                &service,
                &match revision {
                    Some(r) => format!("rolling back to revision {r}"),
                    None => "rolling back".to_string(),
                },
            ),
            Event::Finished(r) => {
                let text = match &r.reason {
                    Some(reason) => format!("{}: {reason}", r.result.as_str()),
                    None => r.result.as_str().to_string(),
                };
                match self.bars.remove(&r.service) {
                    Some(bar) => bar.finish_with_message(text),
                    None => self.line(&format!("{}: {text}", r.service)),
                }
            }
            _ => {}
        }
    }

    pub fn finish(&mut self) {
        for (_, bar) in std::mem::take(&mut self.bars) {
            bar.finish();
        }
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }
}

/// `0123456789ab/1f3c5e9a` (revision, digest), `-` for what is unknown.
pub fn short(v: &Version) -> String {
    let rev: String = v
        .revision
        .as_deref()
        .unwrap_or("-")
        .chars()
        .take(12)
        .collect();
    let digest = match v.digest.as_deref() {
        Some(d) => d.trim_start_matches("sha256:").chars().take(12).collect(),
        None => v.image.clone().unwrap_or_else(|| "-".into()),
    };
    format!("{rev}/{digest}")
}

/// The results: JSON, or a table and the failure reports.
pub fn render(
    cli: &Cli,
    namespace: Option<&str>,
    results: &[ServiceResult],
) -> Result<(), CliError> {
    if cli.format == Format::Json {
        return output::json(&serde_json::json!({"namespace": namespace, "services": results}));
    }
    let mut rows = vec![["SERVICE", "CHANGE", "RESULT", "DURATION", "REASON"]
        .map(String::from)
        .to_vec()];
    for r in results {
        rows.push(vec![
            r.service.clone(),
            format!("{} → {}", short(&r.from), short(&r.to)),
            r.result.as_str().to_string(),
            format!("{:.1}s", r.duration_ms as f64 / 1000.0),
            r.reason.clone().unwrap_or_default(),
        ]);
    }
    for line in output::table(&rows) {
        println!("{line}");
    }
    for r in results {
        for c in &r.changes {
            println!(
                "{} ({}/{}): {}: {} → {}",
                r.service,
                r.namespace,
                r.deployment,
                c.field,
                c.from.as_deref().unwrap_or("(none)"),
                c.to.as_deref().unwrap_or("(none)")
            );
        }
        if let Some(report) = &r.report {
            print_report(&r.service, "rollout", report);
        }
        if let Some(report) = r.rollback.as_ref().and_then(|rb| rb.report.as_ref()) {
            print_report(&r.service, "rollback", report);
        }
    }
    Ok(())
}

fn print_report(service: &str, what: &str, r: &Report) {
    println!();
    println!("{service}: {what} failed: {}: {}", r.code, r.message);
    if let Some(rs) = &r.replica_set {
        let rev = r
            .revision
            .map(|n| format!(" (revision {n})"))
            .unwrap_or_default();
        println!("  replica set {rs}{rev}");
    }
    for p in &r.pods {
        println!(
            "  pod {} ({}, {}{})",
            p.pod,
            p.phase.as_deref().unwrap_or("unknown phase"),
            if p.ready { "ready" } else { "not ready" },
            p.node
                .as_deref()
                .map(|n| format!(", node {n}"))
                .unwrap_or_default()
        );
        for c in &p.containers {
            let last = c
                .last_state
                .as_deref()
                .map(|l| format!("; last: {l}"))
                .unwrap_or_default();
            println!("    {} restarts={} {}{last}", c.name, c.restarts, c.state);
        }
    }
    if !r.events.is_empty() {
        println!("  events:");
        for e in &r.events {
            println!(
                "    {} {} {} {}: {}",
                e.time.as_deref().unwrap_or("-"),
                e.type_.as_deref().unwrap_or("-"),
                e.reason.as_deref().unwrap_or("-"),
                e.object,
                e.message.as_deref().unwrap_or("").trim_end()
            );
        }
    }
    let l = &r.logs;
    let whose = format!(
        "{}/{}{}",
        l.pod.as_deref().unwrap_or("-"),
        l.container.as_deref().unwrap_or("-"),
        if l.previous {
            ", previous instance"
        } else {
            ""
        }
    );
    match &l.unavailable {
        Some(why) if l.lines.is_empty() => println!("  logs ({whose}): {why}"),
        _ => {
            println!("  logs ({whose}):");
            for line in &l.lines {
                println!("    {line}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("").is_err());
    }
}
