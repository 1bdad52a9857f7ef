//! `monoship promote FROM TO [SERVICE...]`: the digests that run in one environment, copied to
//! the next one's registry and deployed there (`pipeline::promote`); one table (or JSON).

use super::cluster::{RolloutArgs, connect_all};
use super::deploy::{Reporter, print_details};
use super::signals::{self, InFlight};
use super::{Cli, CliError, Format};
use super::{exit, output, require_format, runtime};
use monoship::pipeline::promote::{self, Event, PromoteJob, PromoteReport, RegistryMirror};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  monoship promote staging production           every service that runs complete in staging
  monoship promote staging production users     only users
  monoship promote staging production --dry-run what would be copied and changed
  monoship --format json promote staging production   (schema: docs/environments.md)")]
pub struct Args {
    /// The environment whose running images are promoted.
    pub from: String,
    /// The environment they are copied to and deployed in.
    pub to: String,
    /// Services to promote (default: every service; those not complete in FROM are refused).
    pub services: Vec<String>,
    /// Allow plain HTTP to registries on this machine (127.0.0.1, localhost).
    #[arg(long)]
    pub insecure: bool,
    #[command(flatten)]
    pub rollout: RolloutArgs,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    require_format(cli, "promote", &[Format::Human, Format::Json])?;
    let kube = &args.rollout.cluster.kube;
    if kube.namespace.is_some() || kube.context.is_some() {
        return Err(CliError::Arguments(
            "promote reaches each environment with its own context and namespace: \
             --context and --namespace are not taken (set them in the environments)",
        ));
    }
    if cli.environment.is_some() {
        return Err(CliError::Arguments(
            "promote names its two environments itself: drop --env (or MONOSHIP_ENV)",
        ));
    }
    let (ws, services) = super::cluster::load(cli, &args.services)?;
    let from = ws.clone().in_environment(&args.from)?;
    let to = ws.in_environment(&args.to)?;
    let rt = runtime()?;
    rt.block_on(async {
        let source = connect_all(kube, &from).await?;
        let target = connect_all(kube, &to).await?;
        let in_flight = InFlight::default();
        let stop = signals::listen(in_flight.clone(), cli.quiet)?;
        let opts = args.rollout.options(stop.clone());
        let mut reporter = Reporter::new(cli);
        let quiet = cli.quiet || cli.format == Format::Json;
        let dry_run = args.rollout.cluster.dry_run;
        let (source_server, target_server) = (source.server.clone(), target.server.clone());
        let (source, target) = (source.clusters(), target.clusters());
        let report = promote::promote(PromoteJob {
            from: &from,
            to: &to,
            services: &services,
            source: &source,
            target: &target,
            mirror: &RegistryMirror {
                insecure: args.insecure,
                ..RegistryMirror::default()
            },
            deploy: &opts,
            emit: &mut |e| match e {
                Event::Deploy(e) => {
                    in_flight.on(&e);
                    reporter.on(e)
                }
                e if !quiet => progress(&e, dry_run),
                _ => {}
            },
        })
        .await;
        reporter.finish();
        let report = match report {
            Err(e @ promote::PromoteError::Source(_)) => {
                return Err(CliError::from(e).at(&source_server));
            }
            Err(e @ promote::PromoteError::Deploy(_)) => {
                return Err(CliError::from(e).at(&target_server));
            }
            r => r?,
        };
        render(cli, &report)?;
        if let Some(why) = stop.reason() {
            let results: Vec<_> = report.promoted.iter().map(|p| p.deploy.clone()).collect();
            return Err(signals::interrupted(why, &results));
        }
        Ok(code(&report))
    })
}

/// 0 when everything asked for was promoted; the rollouts' code when one failed; else
/// [`exit::REFUSED`] when a service was refused.
fn code(report: &PromoteReport) -> u8 {
    let rollouts = exit::of_rollouts(report.promoted.iter().map(|p| p.deploy.result));
    if rollouts != exit::OK || report.refused.is_empty() {
        rollouts
    } else {
        exit::REFUSED
    }
}

/// The lines before the table: what is refused, what was copied.
fn progress(e: &Event, dry_run: bool) {
    match e {
        Event::Planned {
            candidates,
            refused,
        } => {
            eprintln!(
                "promoting {} service(s); {} refused",
                candidates.len(),
                refused.len()
            );
        }
        Event::Copied {
            service,
            target,
            copied,
        } => eprintln!("{service}: {target} ({})", copy_text(copied, dry_run)),
        Event::Deploy(_) => {}
    }
}

fn copy_text(c: &monoship::registry::copy::Copied, dry_run: bool) -> String {
    if c.is_noop() {
        return "already there".to_string();
    }
    if dry_run {
        let done = copy_text(c, false);
        return format!("would be: {done}");
    }
    let mut parts = Vec::new();
    if c.copied > 0 {
        parts.push(format!(
            "{} blob(s) copied, {}",
            c.copied,
            output::human_size(c.bytes)
        ));
    }
    if c.mounted > 0 {
        parts.push(format!("{} mounted", c.mounted));
    }
    if c.present > 0 {
        parts.push(format!("{} present", c.present));
    }
    if !c.tagged.is_empty() {
        parts.push(format!("tagged {}", c.tagged.join(", ")));
    }
    parts.join(", ")
}

fn render(cli: &Cli, report: &PromoteReport) -> Result<(), CliError> {
    if cli.format == Format::Json {
        return output::json(report);
    }
    println!(
        "{} → {}: {} promoted, {} refused{}",
        report.from,
        report.to,
        report.promoted.len(),
        report.refused.len(),
        if report.dry_run { " (dry run)" } else { "" }
    );
    let mut rows = vec![
        ["SERVICE", "REVISION", "DIGEST", "COPY", "RESULT", "REASON"]
            .map(String::from)
            .to_vec(),
    ];
    for p in &report.promoted {
        rows.push(vec![
            p.service.clone(),
            monoship::deploy::status::short_revision(&p.revision),
            monoship::deploy::status::short_digest(&p.digest),
            copy_text(&p.copy, report.dry_run),
            p.deploy.result.as_str().to_string(),
            p.deploy.reason.clone().unwrap_or_default(),
        ]);
    }
    for r in &report.refused {
        rows.push(vec![
            r.service.clone(),
            "-".into(),
            "-".into(),
            "-".into(),
            "refused".into(),
            r.reason.clone(),
        ]);
    }
    for line in output::table(&rows) {
        println!("{line}");
    }
    for p in &report.promoted {
        print_details(&p.deploy);
    }
    Ok(())
}
