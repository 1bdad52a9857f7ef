//! `monoship generate …`: write generated files, or `--check` them; and `monoship build
//! --builder docker|podman`, which builds with the generated Dockerfile.

use super::output::{self, warn};
use super::{Cli, CliError, Format, exit, require_format, workspace_options};
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
    // The files of the base configuration: an environment's values are not generated.
    let base = monoship::affected::Options {
        environment: None,
        ..workspace_options(cli)
    };
    let ws = monoship::affected::load_workspace(&base)?;
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
