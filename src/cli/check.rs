//! `monoship check`: read-only, whether a change to any tracked file would fail closed with the
//! configuration as it is, and the `ignore` globs `monoship init` would write for them.

use super::{Cli, CliError, Format, exit, output, require_format, workspace_options};
use monoship::affected::PathGroup;
use monoship::init::propose::{self, Proposal};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  monoship check                  what would fail closed, and the proposed ignore globs
  monoship check --format json    the same for scripts
  monoship init --dry-run         the table init would write, with the proposal applied

Exit code 0 when no change to a tracked file fails closed, 1 when one would.")]
pub struct Args {}

pub fn run(cli: &Cli, _args: &Args) -> Result<u8, CliError> {
    require_format(cli, "check", &[Format::Human, Format::Json])?;
    let ws = monoship::affected::load_members(&workspace_options(cli))?;
    let Some(files) = propose::tracked_files(&ws.root)? else {
        return Err(monoship::affected::AffectedError::Usage(format!(
            "{} is not in a git repository: `check` looks at the files git tracks",
            ws.root.display()
        ))
        .into());
    };
    let proposal = propose::propose(&ws, &files, &[])?;
    if cli.format == Format::Json {
        output::json(&serde_json::json!({
            "clean": proposal.is_clean(),
            "proposal": proposal,
        }))?;
    } else {
        print!("{}", human(&proposal, cli.verbose > 0));
    }
    if proposal.is_clean() {
        return Ok(exit::OK);
    }
    Err(CliError::WouldFailClosed {
        files: proposal.unowned.len(),
        dockerfiles: proposal.unreadable_dockerfiles.len(),
    })
}

/// The proposal for people: what fails closed now, the globs (grouped by top directory, with
/// counts), the files the Dockerfiles copy, and what would still fail closed.
pub fn human(p: &Proposal, verbose: bool) -> String {
    let mut t = String::new();
    if p.is_clean() {
        t.push_str(
            "nothing fails closed: every tracked file outside the packages is ignored, an input \
             or read by a build\n",
        );
    } else if !p.unowned.is_empty() {
        t.push_str(&format!(
            "{} tracked file(s) belong to no package and are no build input: a change to one \
             fails closed (every service)\n",
            p.unowned.len()
        ));
    }
    if !p.ignore.is_empty() {
        let taken: usize = p.ignore.iter().map(|g| g.files).sum();
        t.push_str(&format!("proposed `ignore` globs ({taken} files):\n"));
        let rows: Vec<Vec<String>> = p
            .ignore
            .iter()
            .map(|g| {
                let files = match g.files {
                    0 => String::new(),
                    1 => "1 file".into(),
                    n => format!("{n} files"),
                };
                vec![format!("  {}", g.glob), files, g.why.clone()]
            })
            .collect();
        push_table(&mut t, &rows);
    }
    t.push_str(&dockerfiles(p));
    if !p.remaining.is_empty() {
        t.push_str(&remaining(p, verbose));
    } else if !p.unowned.is_empty() {
        t.push_str("with the proposal applied, nothing would fail closed\n");
    }
    t
}

/// What the services' Dockerfiles copy, the `inputs` proposed for those outside their
/// directories, and those that cannot be read.
fn dockerfiles(p: &Proposal) -> String {
    let mut t = String::new();
    if !p.image_inputs.is_empty() {
        t.push_str("copied into images by the services' Dockerfiles (inputs of those services):\n");
        let rows: Vec<Vec<String>> = p
            .image_inputs
            .iter()
            .map(|i| {
                vec![
                    format!("  {}", i.service),
                    i.path.clone(),
                    format!("{}:{}", i.dockerfile, i.line),
                ]
            })
            .collect();
        push_table(&mut t, &rows);
    }
    if !p.inputs.is_empty() {
        t.push_str(
            "proposed `inputs` for Dockerfiles outside the services' directories (`init` adds \
             them to each service's [package.metadata.monoship]):\n",
        );
        for i in &p.inputs {
            let list: Vec<String> = i.inputs.iter().map(|g| format!("{g:?}")).collect();
            t.push_str(&format!(
                "  {}  {}: inputs = [{}]\n",
                i.service,
                i.manifest,
                list.join(", ")
            ));
        }
    }
    for d in &p.unreadable_dockerfiles {
        t.push_str(&format!(
            "cannot read a Dockerfile of {}: {} (every change counts for {})\n",
            d.service, d.why, d.service
        ));
    }
    t
}

fn push_table(t: &mut String, rows: &[Vec<String>]) {
    for line in output::table(rows) {
        t.push_str(line.trim_end());
        t.push('\n');
    }
}

/// What would still fail closed, by top-level directory; each path with why when there are
/// few (or with `-v`).
fn remaining(p: &Proposal, verbose: bool) -> String {
    let mut t = format!(
        "would still fail closed with the proposal applied ({} files; declare them in `ignore`, \
         `global-inputs` or a service's `inputs`):\n",
        p.remaining.len()
    );
    let mut groups: Vec<PathGroup> = Vec::new();
    for r in &p.remaining {
        let name = match r.path.split_once('/') {
            Some((top, _)) => format!("{top}/"),
            None => r.path.clone(),
        };
        match groups.last_mut() {
            Some(g) if g.name == name => g.paths.push(r.path.clone()),
            _ => groups.push(PathGroup {
                name,
                paths: vec![r.path.clone()],
            }),
        }
    }
    let each = verbose || p.remaining.len() <= 10;
    for g in groups {
        if g.paths.len() > 1 || !each {
            t.push_str(&format!("  {g}\n"));
        }
        if !each {
            continue;
        }
        let indent = if g.paths.len() > 1 { "    " } else { "  " };
        for path in &g.paths {
            let why = p
                .remaining
                .iter()
                .find(|r| &r.path == path)
                .map_or("", |r| r.why.as_str());
            t.push_str(&format!("{indent}{path}: {why}\n"));
        }
    }
    t
}
