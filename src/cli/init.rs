//! `monoship init`: write a commented `[workspace.metadata.monoship]` with the detected services
//! into the workspace's root `Cargo.toml`.

use super::{Cli, CliError, Format, error, exit, output, require_format};
use monoship::init::{self, InitError};
use monoship::workspace::{self, Workspace};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  monoship init                   write [workspace.metadata.monoship] into the root Cargo.toml
  monoship init --force           replace the table that is there
  monoship -C path/to/ws init")]
pub struct Args {
    /// Replace an existing [workspace.metadata.monoship] (the rest of the file is kept).
    #[arg(long)]
    pub force: bool,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    require_format(cli, "init", &[Format::Human, Format::Json])?;
    let manifest = workspace::locate_manifest(cli.dir.as_deref(), cli.manifest_path.as_deref())?;
    let target = workspace::host_target();
    let mut meta = workspace::cargo_metadata(&manifest, target, cli.offline)?;
    // Detect from scratch: the table being replaced (maybe broken) must not steer detection.
    if let Some(table) = meta.workspace_metadata.as_object_mut() {
        table.remove("monoship");
    }
    let ws = Workspace::detect(meta, target)?;
    let path = ws.manifest.clone();
    let text = std::fs::read_to_string(&path).map_err(error::io(path.display().to_string()))?;
    let replaced = init::has_table(&text, &path)?;
    if replaced && !args.force {
        return Err(InitError::Exists {
            path: path.display().to_string(),
        }
        .into());
    }
    let detected = init::detect(&ws);
    let table = init::table_text(&detected);
    let updated = init::apply(&text, &table, &path, args.force)?;
    monoship::atomic::write(&path, updated.as_bytes())
        .map_err(error::io(path.display().to_string()))?;

    if detected.services.is_empty() {
        output::warn(&format!(
            "found no services (no package under apps/*, none with a binary): edit `services` \
             in {}",
            path.display()
        ));
    }
    if cli.format == Format::Json {
        output::json(&serde_json::json!({
            "manifest": path,
            "replaced": replaced,
            "services": detected.services,
            "globs": detected.globs,
            "table": table,
        }))?;
    } else {
        print!("{table}");
        if !cli.quiet {
            eprintln!(
                "{} [{}] in {} ({} services)",
                if replaced { "replaced" } else { "wrote" },
                init::TABLE,
                path.display(),
                detected.services.len()
            );
        }
    }
    Ok(exit::OK)
}
