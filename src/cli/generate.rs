//! `monoship generate …`: write generated files, or `--check` them; and `monoship build
//! --builder docker|podman`, which builds with the generated Dockerfile.

use super::output::{self, warn};
use super::{Cli, CliError, Format, exit, require_format, workspace_options};
use monoship::builder::docker::{self as docker_builder, Engine, Event};
use monoship::generate::{self, CheckStatus, Context, Generator, WriteStatus};
use monoship::workspace::Workspace;
use std::path::{Path, PathBuf};

pub const EXAMPLES: &str = "\
Examples:
  monoship generate dockerfile            write Dockerfile.monoship and .dockerignore
  monoship generate dockerfile --check    exit 1 and print a diff when they are out of date
  monoship generate dockerfile --out /tmp/gen
  monoship generate k8s                   deploy/k8s/<service>.yaml: Deployment and Service
  monoship generate workflow              .github/workflows/deploy-changed.yml";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Dockerfile.monoship (cargo-chef, BuildKit cache mounts, distroless non-root runtime) and
    /// .dockerignore, for building images with Docker or Podman.
    #[command(after_help = EXAMPLES)]
    Dockerfile(FileArgs),
    /// A Deployment and a Service per service (rolling updates that never drop below the desired
    /// pods, startup/readiness/liveness probes, non-root, resources), one file each; default
    /// directory deploy/k8s.
    #[command(after_help = EXAMPLES)]
    K8s(FileArgs),
    /// A GitHub Actions workflow that builds and deploys the services a push to main affected,
    /// one deploy job per service; default directory .github/workflows of the repository.
    #[command(after_help = EXAMPLES)]
    Workflow(FileArgs),
}

impl What {
    fn parts(&self) -> (Generator, &FileArgs) {
        match self {
            What::Dockerfile(a) => (Generator::Dockerfile, a),
            What::K8s(a) => (Generator::K8s, a),
            What::Workflow(a) => (Generator::Workflow, a),
        }
    }
}

/// Flags every generator takes.
#[derive(Debug, clap::Args)]
pub struct FileArgs {
    /// Directory to write into (default: the workspace root for dockerfile, deploy/k8s in it
    /// for k8s, .github/workflows of the git repository for workflow).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write nothing: compare with the files on disk, print a unified diff and exit 1 when they
    /// differ (for CI).
    #[arg(long)]
    pub check: bool,
    /// Overwrite existing files that monoship did not generate.
    #[arg(long, conflicts_with = "check")]
    pub force: bool,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    require_format(cli, "generate", &[Format::Human, Format::Json])?;
    let (generator, flags) = args.what.parts();
    let ws = monoship::affected::load_workspace(&workspace_options(cli))?;
    let ctx = Context::from_workspace(&ws)?;
    let files = generator.render(&ctx)?;
    let out = match &flags.out {
        // Relative to -C, like every other path.
        Some(dir) => cli.dir.as_deref().unwrap_or(Path::new(".")).join(dir),
        None => generator.default_out(&ctx),
    };
    // Only k8s writes one file per service into a directory of its own: there, a file it wrote
    // for a service that is gone is removed (and flagged by --check).
    let leftovers = match generator {
        Generator::K8s => generate::leftovers(&files, &out, generator.name())?,
        _ => Vec::new(),
    };
    if flags.check {
        return check(cli, generator, flags, &files, &leftovers, &out);
    }
    match generator {
        Generator::Dockerfile => warn_binary_names(&ws),
        Generator::Workflow => warn_workflow(&ctx),
        Generator::K8s => {}
    }
    let mut written = generate::write(&files, &out, flags.force)?;
    let removed = generate::remove_leftovers(&leftovers, &out)?;
    for w in removed.iter().filter(|w| w.status == WriteStatus::Kept) {
        warn(&kept_message(&out, &w.path, generator));
    }
    written.extend(removed);
    if cli.format == Format::Json {
        output::json(&serde_json::json!({
            "generator": generator.name(),
            "out": out,
            "files": written,
        }))?;
    } else if !cli.quiet {
        for w in &written {
            let status = match w.status {
                WriteStatus::Created => "created",
                WriteStatus::Updated => "updated",
                WriteStatus::Unchanged => "unchanged",
                WriteStatus::Removed => "removed",
                WriteStatus::Kept => "kept",
            };
            println!("{status:<9}  {}", out.join(&w.path).display());
        }
    }
    Ok(exit::OK)
}

/// `--check`: compare, report, and fail when anything is out of date.
fn check(
    cli: &Cli,
    generator: Generator,
    flags: &FileArgs,
    files: &[generate::GeneratedFile],
    leftovers: &[generate::Leftover],
    out: &Path,
) -> Result<u8, CliError> {
    let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut checked = generate::check(files, out)?;
    checked.extend(generate::check_leftovers(leftovers));
    let stale: Vec<&str> = checked
        .iter()
        .filter(|c| c.status.is_stale())
        .map(|c| c.path.as_str())
        .collect();
    if cli.format == Format::Json {
        output::json(&serde_json::json!({
            "generator": generator.name(),
            "out": out,
            "up_to_date": stale.is_empty(),
            "files": checked,
        }))?;
    } else {
        for c in &checked {
            print!("{}", c.diff);
            if c.status == CheckStatus::Edited {
                warn(&format!(
                    "{} was changed by hand since monoship generated it",
                    out.join(&c.path).display()
                ));
            }
            if c.status == CheckStatus::Kept {
                warn(&kept_message(out, &c.path, generator));
            }
        }
        if stale.is_empty() && !cli.quiet {
            println!("up to date: {}", names.join(", "));
        }
    }
    if stale.is_empty() {
        return Ok(exit::OK);
    }
    Err(CliError::OutOfDate {
        stale: stale.iter().map(|s| s.to_string()).collect(),
        rerun: format!(
            "monoship generate {}{}",
            generator.name(),
            flags
                .out
                .as_ref()
                .map(|d| format!(" --out {}", d.display()))
                .unwrap_or_default()
        ),
    })
}

fn kept_message(out: &Path, path: &str, generator: Generator) -> String {
    format!(
        "{} has the header of `monoship generate {}` but is not as monoship wrote it (edited, \
         or copied by hand): kept",
        out.join(path).display(),
        generator.name()
    )
}

fn warn_binary_names(ws: &Workspace) {
    for s in generate::dockerfile::binary_mismatches(&ws.services) {
        warn(&format!(
            "service `{}` has binary `{}`: {} builds the binary named like the service, so it \
             cannot build this one",
            s.name,
            s.binary,
            generate::dockerfile::DOCKERFILE
        ));
    }
}

fn warn_workflow(ctx: &Context) {
    let ordered = generate::workflow::ordered_services(ctx);
    if !ordered.is_empty() {
        warn(&format!(
            "{} set `depends-on`, but the workflow deploys every service in its own job, in \
             parallel: their order is not kept",
            ordered.join(", ")
        ));
    }
    if ctx.config.registry.is_none() {
        warn(
            "no `registry` in [workspace.metadata.monoship]: the workflow pushes to the \
             repository variable MONOSHIP_REGISTRY",
        );
    }
}

/// `monoship build --builder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Builder {
    /// monoship's own: cargo, then reproducible OCI images without Docker.
    Monoship,
    /// `docker buildx build` with Dockerfile.monoship.
    Docker,
    /// `podman build` with Dockerfile.monoship.
    Podman,
}

/// Build `services` (empty: all) of `ws` at `revision` with Docker or Podman, `jobs` at a time.
pub fn container_build(
    cli: &Cli,
    builder: Builder,
    ws: &Workspace,
    services: &[String],
    revision: &str,
    jobs: usize,
) -> Result<u8, CliError> {
    let engine = match builder {
        Builder::Docker => Engine::Docker,
        Builder::Podman => Engine::Podman,
        Builder::Monoship => {
            return Err(CliError::Arguments("not a container builder: monoship"));
        }
    };
    let opts = docker_builder::Options {
        engine,
        services: services.to_vec(),
        revision: revision.to_string(),
    };
    let planned = docker_builder::plan(ws, &opts)?;
    let program = docker_builder::preflight(engine)?;
    let quiet = cli.quiet;
    let outcomes = docker_builder::run(&program, &planned, jobs, &mut |e| match e {
        Event::Started {
            service,
            index,
            total,
            log,
        } if !quiet => eprintln!(
            "building {service} ({index}/{total}) with {}, log: {}",
            engine.program(),
            log.display()
        ),
        Event::Finished(o) if !quiet => {
            if o.ok {
                eprintln!("built {} in {:.1}s", o.tag, o.seconds);
            } else {
                eprintln!("{} failed after {:.1}s", o.service, o.seconds);
            }
        }
        _ => {}
    });
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.ok).collect();
    for o in &failed {
        eprintln!("--- last lines of {}", o.log.display());
        for line in docker_builder::log_tail(&o.log, 20) {
            eprintln!("{}| {line}", o.service);
        }
    }
    if cli.format == Format::Json {
        output::json(&serde_json::json!({
            "builder": engine.program(),
            "revision": revision,
            "services": outcomes,
        }))?;
    } else {
        print_outcomes(&outcomes);
    }
    if failed.is_empty() {
        Ok(exit::OK)
    } else {
        Err(CliError::ContainerBuild {
            program: engine.program().to_string(),
            services: failed.iter().map(|o| o.service.clone()).collect(),
            logs: failed[0]
                .log
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        })
    }
}

/// The table of a container build.
fn print_outcomes(outcomes: &[docker_builder::Outcome]) {
    let mut rows = vec![
        ["SERVICE", "TAG", "RESULT", "TIME"]
            .map(String::from)
            .to_vec(),
    ];
    for o in outcomes {
        rows.push(vec![
            o.service.clone(),
            o.tag.clone(),
            if o.ok { "built" } else { "failed" }.to_string(),
            format!("{:.1}s", o.seconds),
        ]);
    }
    for line in output::table(&rows) {
        println!("{line}");
    }
}
