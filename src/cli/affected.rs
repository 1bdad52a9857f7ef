use super::{Cli, CliError, Format, error, exit, output, workspace_options};
use monoship::affected::{self, AffectedService, Reason, ReasonKind, Report};
use monoship::workspace::Workspace;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;

pub const EXAMPLES: &str = "\
Examples:
  monoship affected
  monoship affected --base origin/main --head HEAD --format json
  monoship affected --format github-matrix --github-output
  monoship affected --format mermaid >> \"$GITHUB_STEP_SUMMARY\"
  monoship affected --explain users

Formats: human (default), json, github-matrix, names, mermaid, dot.";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base revision (default: merge-base of HEAD and the first of origin/main, main,
    /// origin/master, master that exists).
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Head revision (default: the working tree, with uncommitted and untracked files).
    #[arg(long, value_name = "REV")]
    pub head: Option<String>,
    /// Print every reason chain for one service, or why it is not affected.
    #[arg(long, value_name = "SERVICE")]
    pub explain: Option<String>,
    /// Exit with code 1 when the analysis fails closed.
    #[arg(long)]
    pub strict: bool,
    /// Append `services=<matrix json>` and `any=true|false` to the file named by $GITHUB_OUTPUT.
    #[arg(long)]
    pub github_output: bool,
    /// Target triple whose dependency graph counts (default: config, then the host).
    #[arg(long)]
    pub target: Option<String>,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let opts = affected::Options {
        base: args.base.clone(),
        head: args.head.clone(),
        target: args.target.clone(),
        ..workspace_options(cli)
    };
    let (ws, report) = affected::analyze(&opts)?;
    if let Some(name) = &args.explain {
        explain(cli, &ws, &report, name)?;
    } else {
        match cli.format {
            Format::Human => human(cli, &ws, &report),
            Format::Json => output::json(&report)?,
            Format::GithubMatrix => println!("{}", matrix(&report)),
            Format::Names => report
                .affected
                .iter()
                .for_each(|a| println!("{}", a.service)),
            Format::Mermaid => print!("{}", mermaid(&report)),
            Format::Dot => print!("{}", dot(&report)),
        }
    }
    if args.github_output {
        github_output(&report)?;
    }
    if let Some(why) = &report.fail_closed {
        if cli.format != Format::Human || args.explain.is_some() {
            tracing::warn!("analysis failed closed: {why}");
        }
        if args.strict {
            return Err(CliError::Strict(why.clone()));
        }
    }
    // A service failed closed alone (a Dockerfile that cannot be read).
    let one = report
        .affected
        .iter()
        .flat_map(|a| &a.reasons)
        .find(|r| r.kind == ReasonKind::FailClosed);
    if let (true, Some(r)) = (args.strict, one) {
        return Err(CliError::Strict(r.text.clone()));
    }
    Ok(exit::OK)
}

/// `{"include":[{"service": ...}]}`, ready for `strategy.matrix`.
pub fn matrix(report: &Report) -> String {
    let include: Vec<_> = report
        .affected
        .iter()
        .map(|a| serde_json::json!({"service": a.service}))
        .collect();
    serde_json::json!({ "include": include }).to_string()
}

fn github_output(report: &Report) -> Result<(), CliError> {
    let path = std::env::var_os("GITHUB_OUTPUT").ok_or(CliError::Arguments(
        "--github-output needs the GITHUB_OUTPUT environment variable",
    ))?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| {
            writeln!(file, "services={}", matrix(report))?;
            writeln!(file, "any={}", !report.affected.is_empty())
        })
        .map_err(error::io(format!(
            "cannot append to {}",
            path.to_string_lossy()
        )))
}

/// `users ← crates/db ← crates/db/src/pool.rs`
fn chain(ws: &Workspace, service: &str, r: &Reason) -> String {
    let mut parts = vec![service.to_string()];
    for pkg in r.via.iter().skip(1) {
        parts.push(
            ws.package(pkg)
                .map(|p| display_dir(&p.dir))
                .unwrap_or_else(|| pkg.clone()),
        );
    }
    let leaf = match (r.kind, &r.path) {
        (
            ReasonKind::File
            | ReasonKind::Include
            | ReasonKind::BuildInput
            | ReasonKind::Input
            | ReasonKind::ImageFile
            | ReasonKind::Dockerfile
            | ReasonKind::DockerfileCopy,
            Some(p),
        ) => p.clone(),
        _ => r.text.clone(),
    };
    parts.push(leaf);
    parts.join(" ← ")
}

fn display_dir(dir: &str) -> String {
    if dir.is_empty() {
        ".".into()
    } else {
        dir.to_string()
    }
}

fn human(cli: &Cli, ws: &Workspace, report: &Report) {
    let (name, dim, warn) = (output::NAME, output::DIM, output::WARN);
    if !cli.quiet {
        anstream::println!(
            "{} of {} services affected {dim}(base {} → {}){dim:#}",
            report.affected.len(),
            report.affected.len() + report.unaffected.len(),
            short(&report.base),
            short(&report.head.to_string()),
        );
    }
    if let Some(why) = &report.fail_closed {
        // Every service is affected for the same reason: say it once.
        if report.unowned_paths.is_empty() {
            anstream::println!("  {warn}fail closed:{warn:#} {why}");
        } else {
            unowned(report, cli.verbose > 0);
        }
        let names: Vec<_> = report.affected.iter().map(|a| a.service.as_str()).collect();
        anstream::println!("  {name}{}{name:#}", names.join(" "));
        return;
    }
    let width = report
        .affected
        .iter()
        .map(|a| a.service.len())
        .max()
        .unwrap_or(0);
    for a in &report.affected {
        let first = a
            .reasons
            .first()
            .map(|r| chain(ws, &a.service, r))
            .unwrap_or_default();
        let rest = first.split_once(" ← ").map(|(_, r)| r).unwrap_or("");
        let more = if a.reasons.len() > 1 {
            format!(" {dim}(+{} more){dim:#}", a.reasons.len() - 1)
        } else {
            String::new()
        };
        anstream::println!("  {name}{:<width$}{name:#}  ← {rest}{more}", a.service);
    }
    for r in &report.removed {
        anstream::println!("  {warn}removed{warn:#} {r}");
    }
}

/// Why the analysis failed closed for unowned paths: how many, by top-level directory
/// (`scripts/ (12 files)`), each path of a group too with `verbose`, then what to do about them.
fn unowned(report: &Report, verbose: bool) {
    let (dim, warn) = (output::DIM, output::WARN);
    let heading = match report.unowned_paths.len() {
        1 => "1 changed path belongs to no package and is no build input:".to_string(),
        n => format!("{n} changed paths belong to no package and are no build input:"),
    };
    anstream::println!("  {warn}fail closed:{warn:#} {heading}");
    let groups = report.unowned_groups();
    for group in &groups {
        println!("    {group}");
        if verbose && group.paths.len() > 1 {
            group.paths.iter().for_each(|p| println!("      {p}"));
        }
    }
    let grouped = groups.iter().any(|g| g.paths.len() > 1);
    let more = if grouped && !verbose {
        "; -v lists every path"
    } else {
        ""
    };
    anstream::println!(
        "  {dim}(declare them in `ignore`, `global-inputs` or a service's `inputs`{more}){dim:#}"
    );
}

fn short(s: &str) -> &str {
    if s.len() == 40 { &s[..12] } else { s }
}

fn explain(cli: &Cli, ws: &Workspace, report: &Report, name: &str) -> Result<(), CliError> {
    let known = ws.service(name).is_some() || report.removed.iter().any(|r| r == name);
    if !known {
        let names: Vec<_> = ws.services.iter().map(|s| s.name.as_str()).collect();
        return Err(CliError::UnknownAmong {
            name: name.to_string(),
            known: names.iter().map(|n| n.to_string()).collect(),
        });
    }
    let found: Option<&AffectedService> = report.service(name);
    let removed = report.removed.iter().any(|r| r == name);
    if cli.format == Format::Json {
        let value = serde_json::json!({
            "service": name,
            "affected": found.is_some(),
            "removed": removed,
            "reasons": found.map(|a| a.reasons.clone()).unwrap_or_default(),
            "fail_closed": report.fail_closed,
            "unowned_paths": report.unowned_paths,
        });
        return output::json(&value);
    }
    match found {
        Some(a) => {
            anstream::println!("{} is affected ({} reasons):", a.service, a.reasons.len());
            for r in &a.reasons {
                println!("  {}", chain(ws, &a.service, r));
                println!("      {}", r.text);
            }
            if !report.unowned_paths.is_empty() {
                unowned(report, cli.verbose > 0);
            }
        }
        None if removed => println!("{name} was removed between base and head"),
        None => {
            let changed: BTreeSet<&str> = report
                .affected
                .iter()
                .flat_map(|a| a.reasons.iter())
                .filter_map(|r| r.via.last().map(String::as_str))
                .collect();
            println!(
                "{name} is not affected: no changed file, manifest entry or locked dependency is in its normal or build dependency closure"
            );
            if changed.is_empty() {
                println!("  changed packages: none");
            } else {
                println!(
                    "  changed packages: {}",
                    changed.into_iter().collect::<Vec<_>>().join(", ")
                );
            }
            println!("  changed paths: {}", report.changed_paths.len());
        }
    }
    Ok(())
}

/// Nodes and edges of the blast radius: changed files → changed packages → services.
fn edges(report: &Report) -> (Vec<(String, String)>, BTreeSet<String>) {
    let mut edges = BTreeSet::new();
    let mut files = BTreeSet::new();
    for a in &report.affected {
        for r in &a.reasons {
            let leaf = match (&r.path, r.kind) {
                (_, ReasonKind::FailClosed) => format!("fail closed: {}", r.text),
                (Some(p), _) => p.clone(),
                (None, _) => r.text.clone(),
            };
            files.insert(leaf.clone());
            let mut prev = leaf;
            for pkg in r.via.iter().rev() {
                edges.insert((prev.clone(), format!("pkg:{pkg}")));
                prev = format!("pkg:{pkg}");
            }
            if prev != format!("pkg:{}", a.package) {
                edges.insert((prev, format!("pkg:{}", a.package)));
            }
        }
        if a.service != a.package {
            edges.insert((format!("pkg:{}", a.package), format!("svc:{}", a.service)));
        }
    }
    (edges.into_iter().collect(), files)
}

/// The nodes that are services: a package's node for a service named like it, else a node of
/// the service's own after its package's.
fn service_nodes(report: &Report) -> BTreeSet<String> {
    report
        .affected
        .iter()
        .map(|a| match a.service == a.package {
            true => format!("pkg:{}", a.package),
            false => format!("svc:{}", a.service),
        })
        .collect()
}

fn node_label(node: &str) -> &str {
    node.strip_prefix("pkg:")
        .or_else(|| node.strip_prefix("svc:"))
        .unwrap_or(node)
}

pub fn mermaid(report: &Report) -> String {
    let (edges, files) = edges(report);
    let services = service_nodes(report);
    let mut ids = std::collections::BTreeMap::new();
    let mut out = String::from("flowchart LR\n");
    let mut id = |name: &str, out: &mut String| -> String {
        let next = ids.len();
        ids.entry(name.to_string())
            .or_insert_with(|| {
                let id = format!("n{next}");
                let label = node_label(name).replace('"', "'");
                let shape = if files.contains(name) {
                    format!("{id}[\"{label}\"]")
                } else if services.contains(name) {
                    format!("{id}([\"{label}\"])")
                } else {
                    format!("{id}{{{{\"{label}\"}}}}")
                };
                let _ = writeln!(out, "  {shape}");
                id
            })
            .clone()
    };
    let mut lines = Vec::new();
    for (from, to) in &edges {
        let (a, b) = (id(from, &mut out), id(to, &mut out));
        lines.push(format!("  {a} --> {b}"));
    }
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

pub fn dot(report: &Report) -> String {
    let (edges, files) = edges(report);
    let services = service_nodes(report);
    let mut out = String::from("digraph affected {\n  rankdir=LR;\n");
    let mut nodes = BTreeSet::new();
    for (a, b) in &edges {
        nodes.insert(a.clone());
        nodes.insert(b.clone());
    }
    for n in &nodes {
        let label = node_label(n);
        let shape = if files.contains(n) {
            "note"
        } else if services.contains(n) {
            "box"
        } else {
            "ellipse"
        };
        let _ = writeln!(out, "  {:?} [label={:?}, shape={shape}];", n, label);
    }
    for (a, b) in &edges {
        let _ = writeln!(out, "  {a:?} -> {b:?};");
    }
    out.push_str("}\n");
    out
}
