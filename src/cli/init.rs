//! `monoship init`: write a commented `[workspace.metadata.monoship]` with the detected services
//! into the workspace's root `Cargo.toml`.

use super::{Cli, CliError, Format, error, exit, output, require_format};
use monoship::init::{self, InitError, propose};
use monoship::workspace::{self, Workspace};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  monoship init                   write [workspace.metadata.monoship] into the root Cargo.toml
  monoship init --force           replace the table that is there
  monoship init --dry-run         print the table and the proposal, write nothing
  monoship -C path/to/ws init")]
pub struct Args {
    /// Replace an existing [workspace.metadata.monoship] (the rest of the file is kept).
    #[arg(long)]
    pub force: bool,
    /// Print what init would write (and the proposal behind its `ignore`), write nothing.
    #[arg(long)]
    pub dry_run: bool,
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
    if replaced && !args.force && !args.dry_run {
        return Err(InitError::Exists {
            path: path.display().to_string(),
        }
        .into());
    }
    let mut detected = init::detect(&ws);
    // Outside a git repository there are no tracked files to propose for.
    let proposal = match propose::tracked_files(&ws.root)? {
        Some(files) => propose::propose(&ws, &files, &[init::default_ignore()])?,
        None => propose::Proposal::default(),
    };
    detected.ignore = proposal.ignore.clone();
    let table = init::table_text(&detected);
    let updated = init::apply(&text, &table, &path, args.force || args.dry_run)?;
    if !args.dry_run {
        monoship::atomic::write(&path, updated.as_bytes())
            .map_err(error::io(path.display().to_string()))?;
        write_inputs(&ws, &proposal, cli.quiet)?;
    }

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
            "dry_run": args.dry_run,
            "proposal": proposal,
        }))?;
    } else {
        print!("{table}");
        if !cli.quiet {
            if !proposal.is_clean() || !proposal.image_inputs.is_empty() {
                eprint!("{}", super::check::human(&proposal, cli.verbose > 0));
            }
            let done = match (args.dry_run, replaced) {
                (true, _) => "would write",
                (false, true) => "replaced",
                (false, false) => "wrote",
            };
            eprintln!(
                "{} [{}] in {} ({} services)",
                done,
                init::TABLE,
                path.display(),
                detected.services.len()
            );
        }
    }
    Ok(exit::OK)
}

/// The proposed `inputs` of services, each added to its own manifest (written whole or not at
/// all, like the root's).
fn write_inputs(ws: &Workspace, proposal: &propose::Proposal, quiet: bool) -> Result<(), CliError> {
    for i in &proposal.inputs {
        let path = ws.root.join(&i.manifest);
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(error::io(name.clone()))?;
        let updated = init::inputs::add_inputs(&text, &i.inputs, &path)?;
        monoship::atomic::write(&path, updated.as_bytes()).map_err(error::io(name))?;
        if !quiet {
            eprintln!("added the inputs of {} to {}", i.service, i.manifest);
        }
    }
    Ok(())
}
