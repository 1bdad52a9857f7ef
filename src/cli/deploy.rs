//! `monoship deploy`: pick the services and their digest-pinned images, run the deploy stage,
//! render its events (a live line per service on a terminal, timestamped lines elsewhere) and
//! its results (a table with failure reports, or JSON).

mod render;

pub use render::{Reporter, print_details, render};

use super::cluster::{RolloutArgs, connect_all};
use super::signals::{self, InFlight};
use super::{Cli, CliError, CliResult, Format};
use super::{exit, output, require_format, runtime, workspace_options};
use monoship::deploy::images::{self, Records};
use monoship::deploy::manifests;
use monoship::deploy::plan::ServicePlan;
use monoship::pipeline::{Cluster, DeployJob};
use monoship::workspace::Workspace;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

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
    /// Apply the services' Deployments from the YAML/JSON files in DIR (server-side apply,
    /// creating missing ones) with the image set, instead of patching the existing ones.
    #[arg(long, value_name = "DIR")]
    pub manifests: Option<PathBuf>,
    #[command(flatten)]
    pub rollout: RolloutArgs,
}

/// The workspace, and with `affected` the services the change affects.
fn load(
    cli: &Cli,
    base: Option<&String>,
    affected: bool,
) -> Result<(Workspace, Vec<String>), CliError> {
    let opts = monoship::affected::Options {
        base: base.cloned(),
        ..workspace_options(cli)
    };
    if affected {
        let (ws, report) = monoship::affected::analyze(&opts)?;
        let names = report.affected.iter().map(|a| a.service.clone()).collect();
        Ok((ws, names))
    } else {
        Ok((monoship::affected::load_workspace(&opts)?, Vec::new()))
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
        let (service, reference) = images::parse_image_flag(f)?;
        if flags.insert(service.clone(), reference).is_some() {
            return Err(CliError::ImageTwice(service));
        }
    }
    let unknown = |s: &String| ws.service(s).is_none();
    if let Some(s) = args
        .services
        .iter()
        .chain(flags.keys())
        .find(|s| unknown(s))
    {
        return Err(CliError::UnknownService(s.clone()));
    }
    let services: Vec<String> = if args.affected {
        affected
    } else if !args.services.is_empty() {
        if let Some(s) = flags.keys().find(|s| !args.services.contains(s)) {
            return Err(CliError::ImageNotSelected(s.clone()));
        }
        args.services.clone()
    } else if !flags.is_empty() {
        flags.keys().cloned().collect()
    } else if let Some(p) = &records.publish {
        p.services.iter().map(|s| s.service.clone()).collect()
    } else if let Some(b) = &records.build {
        b.services.iter().map(|s| s.service.clone()).collect()
    } else {
        return Err(CliError::NothingToDeploy(records.dir.clone()));
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

/// `--manifests`: the service's Deployment from the files, with the image and annotations.
fn with_manifest(
    t: &mut ServicePlan,
    docs: &[manifests::Manifest],
    dir: &std::path::Path,
) -> Result<(), CliError> {
    let m = manifests::find(docs, &t.deployment, &t.namespace).ok_or_else(|| {
        CliError::NoDeploymentIn {
            service: t.service.clone(),
            deployment: t.deployment.clone(),
            dir: dir.to_path_buf(),
        }
    })?;
    let mut set = manifests::set_of(docs, m, dir);
    monoship::objects::config_hash(&mut set);
    monoship::pipeline::objects::set_objects(t, set).map_err(|e| e.of(&t.service))?;
    Ok(())
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    require_format(cli, "deploy", &[Format::Human, Format::Json])?;
    let (ws, affected) = load(cli, args.base.as_ref(), args.affected)?;
    let records_path = args
        .from_build
        .clone()
        .unwrap_or_else(|| ws.target_dir.join("monoship"));
    let records = images::read_records(&records_path)?;
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
    let naming = monoship::pipeline::naming(&ws.config, None);
    let mut artifacts = BTreeMap::new();
    for s in &services {
        let a = images::resolve(s, &flags, &records, &naming, head.as_deref())?;
        artifacts.insert(s.clone(), a);
    }
    let docs = match &args.manifests {
        Some(dir) => Some(manifests::load_dir(dir)?),
        None => None,
    };
    let rt = runtime()?;
    rt.block_on(async {
        let kube = &args.rollout.cluster.kube;
        let conn = connect_all(kube, &ws).await?;
        let mut targets = Vec::new();
        for s in &services {
            let mut target = monoship::pipeline::deploy_target(
                &ws,
                s,
                artifacts[s].clone(),
                kube.namespace.as_deref(),
                &conn.namespace,
            )?;
            if let (Some(docs), Some(dir)) = (&docs, &args.manifests) {
                with_manifest(&mut target, docs, dir)?;
            }
            targets.push(target);
        }
        let namespaces: BTreeSet<String> = targets.iter().map(|t| t.namespace.clone()).collect();
        let in_flight = InFlight::default();
        let stop = signals::listen(in_flight.clone(), cli.quiet)?;
        let opts = args.rollout.options(stop.clone());
        let mut reporter = Reporter::new(cli);
        let known = |s: &str| ws.service(s).is_some();
        let results = conn
            .clusters()
            .deploy(DeployJob {
                targets,
                known: &known,
                opts: &opts,
                emit: &mut |e| {
                    in_flight.on(&e);
                    reporter.on(e)
                },
            })
            .await;
        reporter.finish();
        let results = results.at(&conn.server)?;
        let namespace = match namespaces.len() {
            1 => namespaces.into_iter().next(),
            _ => None,
        };
        render(cli, namespace.as_deref(), &results)?;
        if let Some(why) = stop.reason() {
            return Err(signals::interrupted(why, &results));
        }
        Ok(exit::of_rollouts(results.iter().map(|r| r.result)))
    })
}
