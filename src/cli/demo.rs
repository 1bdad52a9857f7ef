//! `monoship demo`: the bundled example fleet in a temporary git repository, a change to a shared
//! crate, and the stages run on it one after another — affected, build (an OCI layout, no
//! registry needed), and the deploy change (a server-side dry run when a cluster is reachable,
//! else the image each Deployment would get); `--deploy` rolls it out for real.

use super::{Cli, CliError, error, exit};
use monoship::builder::BuildRecord;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  monoship demo                  affected, build and the planned deploy of a shared-crate change
  monoship demo --deploy         and deploy it (MONOSHIP_TEST_KUBECONFIG or KUBECONFIG)
  monoship -C my/workspace demo  the same on a copy of another workspace")]
pub struct Args {
    /// Deploy for real when a cluster is reachable (Deployments created from
    /// `monoship generate k8s` with `deploy --manifests`).
    #[arg(long)]
    pub deploy: bool,
    /// Keep the temporary repository (and its images) instead of removing it.
    #[arg(long)]
    pub keep: bool,
}

/// The placeholder registry the images are named for when none is configured.
const DEMO_REGISTRY: &str = "registry.example/fleet";

/// The demo repository and where its stages build.
struct Tour {
    repo: PathBuf,
    target_dir: PathBuf,
}

/// Why the tour stops early: a stage's exit code, or an error of its own.
enum Halt {
    Code(u8),
    Error(CliError),
}

impl From<CliError> for Halt {
    fn from(e: CliError) -> Self {
        Halt::Error(e)
    }
}

impl Tour {
    /// Run this binary on the demo repository, showing the command; a failure halts the tour.
    fn stage(&self, title: &str, args: &[&str]) -> Result<(), Halt> {
        println!();
        println!("## {title}");
        println!("$ monoship {}", args.join(" "));
        let exe = std::env::current_exe().map_err(error::io("cannot find the monoship binary"))?;
        let status = Command::new(exe)
            .arg("-C")
            .arg(&self.repo)
            .args(args)
            .env("CARGO_TARGET_DIR", &self.target_dir)
            .status()
            .map_err(error::io("running monoship"))?;
        match status.code().unwrap_or(1) {
            0 => Ok(()),
            code => Err(Halt::Code(u8::try_from(code).unwrap_or(1))),
        }
    }
}

/// A kubeconfig whose cluster answers, if there is one.
fn reachable_cluster() -> Option<PathBuf> {
    let path = std::env::var_os("MONOSHIP_TEST_KUBECONFIG")
        .or_else(|| std::env::var_os("KUBECONFIG"))
        .map(PathBuf::from)?;
    let rt = super::runtime().ok()?;
    let within = std::time::Duration::from_secs(5);
    rt.block_on(monoship::cluster::answers(&path, within))
        .then_some(path)
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let source = cli
        .dir
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fleet"));
    let work = std::env::temp_dir().join(format!(
        "monoship-demo.{}.{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    ));
    let result = demo(args, &source, &work);
    if args.keep {
        println!();
        println!("The demo repository stays in {}.", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}

fn demo(args: &Args, source: &Path, work: &Path) -> Result<u8, CliError> {
    let repo = monoship::demo::prepare(source, work)?.path;
    // The images and build record go to the demo directory; compiled dependencies are shared
    // with the source's target directory (unless CARGO_TARGET_DIR says otherwise), so a second
    // demo compiles only the workspace's own crates.
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| source.join("target"));
    println!(
        "The workspace {} copied to {}.",
        source.display(),
        repo.display()
    );
    println!(
        "A change to the shared crate crates/db ({}), committed.",
        monoship::demo::CHANGED
    );
    let tour = Tour { repo, target_dir };
    match stages(&tour, args, work) {
        Ok(()) | Err(Halt::Code(0)) => Ok(exit::OK),
        Err(Halt::Code(code)) => Ok(code),
        Err(Halt::Error(e)) => Err(e),
    }
}

/// affected, build, then the deploy: planned, or on a reachable cluster.
fn stages(tour: &Tour, args: &Args, work: &Path) -> Result<(), Halt> {
    let base = ["--base", "HEAD~1"];
    tour.stage(
        "affected: what the change touches, and why",
        &[&["affected"][..], &base].concat(),
    )?;
    tour.stage(
        "build: one cargo build, one OCI image per affected service",
        &[&["build", "--affected"][..], &base].concat(),
    )?;
    let out_dir = tour.target_dir.join("monoship");
    let record: BuildRecord = std::fs::read(out_dir.join("build.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| CliError::NoBuildRecord("build.json".into()))?;
    println!(
        "The images are in {} (OCI layout; e.g. skopeo copy oci:{}:{} …).",
        out_dir.join("oci").display(),
        out_dir.join("oci").display(),
        record
            .services
            .first()
            .map(|s| s.service.as_str())
            .unwrap_or("SERVICE")
    );
    let registry = std::env::var("MONOSHIP_TEST_REGISTRY")
        .ok()
        .filter(|_| args.deploy)
        .map(|r| format!("{r}/monoship-demo"));
    let planned = monoship::pipeline::DryRunPublisher {
        naming: monoship::pipeline::naming(
            &Default::default(),
            Some(registry.as_deref().unwrap_or(DEMO_REGISTRY)),
        ),
    };
    let mut images = Vec::new();
    for s in &record.services {
        let a = planned
            .reference(&s.service, &s.image_digest, &record.revision)
            .map_err(CliError::from)?;
        images.push((s.service.clone(), a.reference));
    }
    let Some(kubeconfig) = reachable_cluster() else {
        println!();
        println!("## deploy (planned)");
        println!(
            "No cluster is reachable (MONOSHIP_TEST_KUBECONFIG, KUBECONFIG), and deploy's dry \
             run is the API server's: the image each service's Deployment would get:"
        );
        for (service, reference) in &images {
            println!("  {service:<14} {reference}");
        }
        if args.deploy {
            println!("--deploy: no reachable cluster, nothing deployed.");
        }
        return Ok(());
    };
    deploy_stages(tour, args, work, &kubeconfig, registry.as_deref(), &images)
}

/// The Deployments generated, the images published (`--deploy` with a test registry), the
/// deploy's dry run, and with `--deploy` the deploy.
fn deploy_stages(
    tour: &Tour,
    args: &Args,
    work: &Path,
    kubeconfig: &Path,
    registry: Option<&str>,
    images: &[(String, String)],
) -> Result<(), Halt> {
    let k8s_arg = work.join("k8s").display().to_string();
    tour.stage(
        "the Deployments: monoship generate k8s",
        &["generate", "k8s", "--out", &k8s_arg],
    )?;
    let kube = kubeconfig.display().to_string();
    let mut deploy: Vec<String> = [
        "deploy",
        "--affected",
        "--base",
        "HEAD~1",
        "--manifests",
        &k8s_arg,
        "--kubeconfig",
        &kube,
    ]
    .map(String::from)
    .to_vec();
    match (args.deploy, registry) {
        (true, Some(r)) => {
            tour.stage("publish", &["publish", "--registry", r, "--insecure"])?;
        }
        _ => {
            for (service, reference) in images {
                deploy.push("--image".into());
                deploy.push(format!("{service}={reference}"));
            }
        }
    }
    let mut dry = deploy.clone();
    dry.push("--dry-run".into());
    let dry: Vec<&str> = dry.iter().map(String::as_str).collect();
    tour.stage("deploy --dry-run: the exact change, nothing changed", &dry)?;
    if !args.deploy {
        return Ok(());
    }
    let deploy: Vec<&str> = deploy.iter().map(String::as_str).collect();
    tour.stage("deploy", &deploy)
}
