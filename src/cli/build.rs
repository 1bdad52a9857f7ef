use super::{Cli, CliError, Format, exit, output, require_format, workspace_options};
use monoship::builder::docker::Engine;
use monoship::builder::{self, Event};
use monoship::pipeline::{BuildJob, Builder as _, ContainerBuilder};
use monoship::publish::PublishRecord;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  monoship build                         every service
  monoship build users orders
  monoship build --affected --base origin/main
  monoship --format json build           the build record on stdout")]
pub struct Args {
    /// Services to build (default: all, or the affected ones with --affected).
    pub services: Vec<String>,
    /// Build the services `monoship affected` reports.
    #[arg(long)]
    pub affected: bool,
    /// Base revision for --affected.
    #[arg(long, value_name = "REV", requires = "affected")]
    pub base: Option<String>,
    /// Cargo profile (default: `profile` in [workspace.metadata.monoship], else release).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Target triple of the binaries (default: `target` in [workspace.metadata.monoship], else
    /// x86_64-unknown-linux-gnu).
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,
    #[command(flatten)]
    pub push: super::publish::PushArgs,
    /// Where the OCI layout and build.json go (default: <target-dir>/monoship).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<std::path::PathBuf>,
    /// monoship's own builder, or `docker`/`podman` with Dockerfile.monoship (see
    /// `monoship generate dockerfile`).
    #[arg(long, value_enum, default_value_t = Builder::Monoship)]
    pub builder: Builder,
    /// Image builds at a time with --builder docker|podman.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: u32,
}

/// `monoship build --builder` (and `ship --builder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Builder {
    /// monoship's own: cargo, then reproducible OCI images without Docker.
    Monoship,
    /// `docker buildx build` with Dockerfile.monoship.
    Docker,
    /// `podman build` with Dockerfile.monoship.
    Podman,
}

impl Builder {
    /// The container engine, for the builders that use one.
    pub fn engine(self) -> Option<Engine> {
        match self {
            Builder::Monoship => None,
            Builder::Docker => Some(Engine::Docker),
            Builder::Podman => Some(Engine::Podman),
        }
    }
}

/// The container builder of `engine` for the build `head` describes (its revision and time).
pub fn container(
    engine: Engine,
    head: &builder::Options,
    jobs: u32,
    out_dir: Option<std::path::PathBuf>,
) -> ContainerBuilder {
    ContainerBuilder {
        options: builder::container::Options {
            plan: builder::docker::Options {
                engine,
                services: Vec::new(),
                revision: head.revision.clone(),
                epoch: head.epoch,
            },
            jobs: jobs as usize,
            out_dir,
        },
    }
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    require_format(cli, "build", &[Format::Human, Format::Json])?;
    let base_opts = monoship::affected::Options {
        base: args.base.clone(),
        ..workspace_options(cli)
    };
    let (ws, services) = if args.affected {
        let (ws, report) = monoship::affected::analyze(&base_opts)?;
        let names: Vec<String> = report.affected.iter().map(|a| a.service.clone()).collect();
        (ws, names)
    } else {
        // Named services need no dependency graph: the members are enough.
        (
            monoship::affected::load_members(&base_opts)?,
            args.services.clone(),
        )
    };
    if let Some(unknown) = services.iter().find(|s| ws.service(s).is_none()) {
        return Err(CliError::UnknownService(unknown.clone()));
    }
    let push = super::publish::prepare_push(&args.push, &ws)?;
    if args.affected && services.is_empty() {
        if cli.format == Format::Json {
            output::json(&serde_json::json!({"revision": null, "services": []}))?;
        } else if !cli.quiet {
            println!("no service is affected: nothing to build");
        }
        return Ok(exit::OK);
    }
    let at_head = builder::Options::at_head(
        &ws,
        args.profile.as_deref(),
        args.target.as_deref(),
        cli.offline,
    )?;
    let rt = super::runtime()?;
    let mut reporter = super::progress::BuildReporter::new(cli);
    let mut emit = |e: Event| reporter.on(e);
    let out = match args.builder.engine() {
        None => {
            let opts = builder::Options {
                services,
                out_dir: args.out_dir.clone(),
                runtime: Some(rt.handle().clone()),
                ..at_head
            };
            builder::run(&ws, &opts, &mut emit)?
        }
        Some(engine) => {
            container(engine, &at_head, args.jobs, args.out_dir.clone()).build(BuildJob {
                ws: &ws,
                services: &services,
                emit: &mut emit,
                runtime: Some(rt.handle()),
            })?
        }
    };
    reporter.finish();
    let published = match &push {
        Some(p) => Some(super::publish::push_built(cli, &rt, p, &out.record_path)?),
        None => None,
    };
    render(cli, &out, published.as_ref())?;
    Ok(exit::OK)
}

/// The build record (with the publish record after `--push`): JSON, or tables.
fn render(
    cli: &Cli,
    out: &builder::Output,
    published: Option<&PublishRecord>,
) -> Result<(), CliError> {
    if cli.format == Format::Json {
        return match published {
            Some(p) => output::json(&serde_json::json!({"build": &out.record, "publish": p})),
            None => output::json(&out.record),
        };
    }
    let mut rows = vec![
        ["SERVICE", "BINARY", "IMAGE", "SIZE", "CHANGED"]
            .map(String::from)
            .to_vec(),
    ];
    for s in &out.record.services {
        rows.push(vec![
            s.service.clone(),
            if s.binary_sha256.is_empty() {
                "-".into() // built inside the image (--builder docker|podman)
            } else {
                output::human_size(s.binary_size)
            },
            s.image_digest[..19].to_string(),
            output::human_size(s.image_size),
            if s.changed { "yes".into() } else { "no".into() },
        ]);
    }
    for line in output::table(&rows) {
        println!("{line}");
    }
    if !cli.quiet {
        println!("images: {} (OCI layout)", out.layout.display());
        println!("record: {}", out.record_path.display());
    }
    if let Some(p) = published {
        super::publish::print_table(cli, p);
    }
    Ok(())
}
