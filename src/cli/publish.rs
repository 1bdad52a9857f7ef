//! `monoship publish` and the `--push` flags of `monoship build`.

use super::{Cli, CliError, Format, exit, output, require_format, workspace_options};
use monoship::publish::{self, BlobAction, Event, Outcome, PublishRecord, naming};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  monoship publish --registry ghcr.io/acme     every service in the build record
  monoship publish users orders --tag latest
  monoship publish --registry 127.0.0.1:5000 --insecure   a local registry over plain HTTP
  monoship publish --oci-layout dist/images    into an OCI layout (podman run oci:dist/images:users:TAG)
  monoship --format json publish               the result on stdout (schema: docs/publish.md)")]
pub struct Args {
    /// Services to publish (default: every service in the build record).
    pub services: Vec<String>,
    /// Registry to push to, HOST[/PREFIX] (default: `registry` in [workspace.metadata.monoship]).
    #[arg(long, value_name = "HOST[/PREFIX]")]
    pub registry: Option<String>,
    /// A tag besides the revision's short sha (repeatable; adds to the configured `tags`).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Plain HTTP, allowed only for a registry on this machine (127.0.0.1, localhost, [::1]).
    #[arg(long)]
    pub insecure: bool,
    /// Directory holding build.json and the OCI layout (default: <target-dir>/monoship).
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// Into the OCI image layout DIR instead of a registry (`oci:DIR:SERVICE:TAG` for podman,
    /// skopeo; created if missing, other images in it kept).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["registry", "insecure"])]
    pub oci_layout: Option<PathBuf>,
}

/// The flags `monoship build` takes to publish what it built.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// Publish the images after building them (as `monoship publish` does).
    #[arg(long)]
    pub push: bool,
    /// Registry for --push, HOST[/PREFIX] (default: `registry` in [workspace.metadata.monoship]).
    #[arg(long, value_name = "HOST[/PREFIX]", requires = "push")]
    pub registry: Option<String>,
    /// A tag for --push besides the revision's short sha (repeatable).
    #[arg(long = "tag", value_name = "TAG", requires = "push")]
    pub tags: Vec<String>,
    /// Plain HTTP for --push, only for a registry on this machine.
    #[arg(long, requires = "push")]
    pub insecure: bool,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    require_format(cli, "publish", &[Format::Human, Format::Json])?;
    if let Some(r) = &args.registry {
        naming::normalize_registry(r)?;
    }
    let located =
        monoship::workspace::locate_manifest(cli.dir.as_deref(), cli.manifest_path.as_deref());
    // With --from, a workspace is optional (publishing a build made elsewhere).
    let ws = match (&args.from, located) {
        (Some(_), Err(_)) => None,
        _ => Some(monoship::affected::load_workspace(&workspace_options(cli))?),
    };
    if let Some(ws) = &ws
        && let Some(unknown) = args.services.iter().find(|s| ws.service(s).is_none())
    {
        return Err(CliError::UnknownService(unknown.clone()));
    }
    let from = match (&args.from, &ws) {
        (Some(dir), _) => dir.clone(),
        (None, Some(ws)) => ws.target_dir.join("monoship"),
        (None, None) => unreachable!("a workspace is loaded unless --from is given"),
    };
    let config = ws.as_ref().map(|w| w.config.clone()).unwrap_or_default();
    let opts = monoship::pipeline::publish_options(
        &config,
        args.registry.as_ref(),
        &args.tags,
        args.insecure,
        args.services.clone(),
        from,
    );
    if let Some(dest) = &args.oci_layout {
        return export(cli, &opts, dest);
    }
    publish::validate(&opts)?;
    let out = super::runtime()?.block_on(publish::run(&opts, &mut reporter(cli)))?;
    render(cli, &out.record, &out.record_path)?;
    Ok(exit::OK)
}

/// `--oci-layout`: the images into a layout directory; its `index.json` is the record.
fn export(cli: &Cli, opts: &publish::Options, dest: &Path) -> Result<u8, CliError> {
    let (build, build_path) = publish::layout::read_record(&opts.from)?;
    let services = publish::export::export(&build, &build_path, opts, dest, &mut reporter(cli))?;
    let record = PublishRecord {
        registry: format!("oci:{}", dest.display()),
        revision: build.revision,
        services,
    };
    render(cli, &record, &dest.join("index.json"))?;
    Ok(exit::OK)
}

/// For `build --push`: the publish options, checked before anything is built.
pub fn prepare_push(
    args: &PushArgs,
    ws: &monoship::workspace::Workspace,
) -> Result<Option<publish::Options>, CliError> {
    if !args.push {
        return Ok(None);
    }
    let opts = monoship::pipeline::publish_options(
        &ws.config,
        args.registry.as_ref(),
        &args.tags,
        args.insecure,
        Vec::new(),
        PathBuf::new(),
    );
    publish::validate(&opts)?;
    Ok(Some(opts))
}

/// For `build --push`: publish every image of the build record at `record_path`.
pub fn push_built(
    cli: &Cli,
    rt: &tokio::runtime::Runtime,
    opts: &publish::Options,
    record_path: &Path,
) -> Result<PublishRecord, CliError> {
    let opts = publish::Options {
        from: record_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        ..opts.clone()
    };
    let out = rt.block_on(publish::run(&opts, &mut reporter(cli)))?;
    Ok(out.record)
}

/// Progress lines on stderr (blob details with -v).
pub fn reporter(cli: &Cli) -> impl FnMut(Event) + use<> {
    let quiet = cli.quiet;
    let verbose = cli.verbose > 0;
    move |e: Event| match e {
        Event::Started {
            service,
            image,
            tags,
        } if !quiet => {
            eprintln!("publishing {service} → {image} (tags: {})", tags.join(", "));
        }
        Event::Blob {
            service,
            digest,
            size,
            action,
            from,
        } if verbose && !quiet => {
            let what = match action {
                BlobAction::Present => "already present".to_string(),
                BlobAction::Uploaded => "uploaded".to_string(),
                BlobAction::Mounted => format!("mounted from {}", from.unwrap_or_default()),
            };
            eprintln!(
                "  {service}: {digest} ({}) {what}",
                output::human_size(size)
            );
        }
        _ => {}
    }
}

/// The result: JSON, or a table.
pub fn render(cli: &Cli, record: &PublishRecord, record_path: &Path) -> Result<(), CliError> {
    if cli.format == Format::Json {
        return output::json(record);
    }
    print_table(cli, record);
    if !cli.quiet {
        println!("record: {}", record_path.display());
    }
    Ok(())
}

/// The human table of a publish result (also after `build --push`).
pub fn print_table(cli: &Cli, record: &PublishRecord) {
    let mut rows = vec![
        ["SERVICE", "RESULT", "UPLOADED", "BLOBS", "REFERENCE"]
            .map(String::from)
            .to_vec(),
    ];
    for s in &record.services {
        let result = match s.result {
            Outcome::Pushed => "pushed",
            Outcome::Unchanged => "unchanged",
        };
        rows.push(vec![
            s.service.clone(),
            result.to_string(),
            output::human_size(s.uploaded_bytes),
            format!(
                "{} uploaded, {} mounted, {} present",
                s.blobs.uploaded, s.blobs.mounted, s.blobs.present
            ),
            s.reference.clone(),
        ]);
    }
    for line in output::table(&rows) {
        println!("{line}");
    }
    if !cli.quiet {
        let tags = record
            .services
            .first()
            .map(|s| s.tags.join(", "))
            .unwrap_or_default();
        let pushed = record
            .services
            .iter()
            .filter(|s| s.result == Outcome::Pushed)
            .count();
        println!(
            "{pushed} of {} image(s) pushed to {}, tags: {tags}",
            record.services.len(),
            record.registry
        );
    }
}
