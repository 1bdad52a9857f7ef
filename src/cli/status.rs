//! `monoship status`: one table of every service's Deployment — counts, digest, revision,
//! rollout state — once, or re-rendered on every change with `--watch`.

use super::cluster::{KubeArgs, connect, load};
use super::{Cli, CliError, CliResult, Format, exit, output, require_format, runtime};
use anstyle::{AnsiColor, Style};
use monoship::cluster;
use monoship::deploy::status::{self, ServiceRef, State, StatusReport, WatchEvent};
use std::io::IsTerminal;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  monoship status                        every service
  monoship status users orders -n shop
  monoship status --watch                re-rendered on every change, until Ctrl-C
  monoship status --env staging,production   what each runs, what differs, commits behind
  monoship --format json status          for scripts (schema: docs/status.md)")]
pub struct Args {
    /// Services to show (default: all).
    pub services: Vec<String>,
    /// Re-render on every change (watching the cluster, reconnecting) until Ctrl-C.
    #[arg(long, short = 'w')]
    pub watch: bool,
    #[command(flatten)]
    pub kube: KubeArgs,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    require_format(cli, "status", &[Format::Human, Format::Json])?;
    if let Some(names) = super::drift::environments(cli) {
        if args.watch {
            return Err(CliError::Arguments(
                "--watch shows one environment: give --env NAME",
            ));
        }
        return super::drift::run(cli, &names, &args.services, &args.kube);
    }
    let (ws, services) = load(cli, &args.services)?;
    let rt = runtime()?;
    rt.block_on(async {
        let conn = connect(&args.kube, &ws).await?;
        let namespace = args
            .kube
            .namespace
            .clone()
            .or_else(|| ws.config.namespace.clone())
            .unwrap_or_else(|| conn.namespace.clone());
        let targets = services
            .iter()
            .map(|s| {
                monoship::pipeline::locate(&ws, s, args.kube.namespace.as_deref(), &conn.namespace)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if args.watch {
            return watch(cli, &conn, &namespace, &targets).await;
        }
        let snaps = status::snapshots(&conn.client, &targets)
            .await
            .at(&conn.server)?;
        let now = k8s_openapi::jiff::Timestamp::now();
        let report = status::report(&namespace, &targets, &snaps, now);
        if report.services.iter().all(|s| s.state == State::Missing) && !cli.quiet {
            for ns in snaps.keys() {
                if status::namespace_exists(&conn.client, ns).await == Some(false) {
                    output::warn(&format!("namespace `{ns}` does not exist"));
                }
            }
        }
        if cli.format == Format::Json {
            output::json(&report)?;
        } else {
            print_table(&report);
        }
        Ok(exit::OK)
    })
}

async fn watch(
    cli: &Cli,
    conn: &cluster::Connection,
    namespace: &str,
    targets: &[ServiceRef],
) -> Result<u8, CliError> {
    let tty = std::io::stdout().is_terminal();
    let json = cli.format == Format::Json;
    let quiet = cli.quiet;
    let mut on = move |e: WatchEvent<'_>| match e {
        WatchEvent::Report(r) if json => {
            println!("{}", serde_json::to_string(r).unwrap_or_default());
        }
        WatchEvent::Report(r) => {
            if tty {
                // Clear the screen and draw the table at the top.
                print!("\x1b[2J\x1b[H");
            } else if !quiet {
                let now = k8s_openapi::jiff::Timestamp::now();
                println!("--- {}", now.strftime("%Y-%m-%dT%H:%M:%SZ"));
            }
            print_table(r);
            if tty && !quiet {
                println!("\nwatching namespace {namespace}; Ctrl-C to stop");
            }
        }
        WatchEvent::Disconnected(m) => output::warn(&format!("lost the watch ({m}); reconnecting")),
        WatchEvent::Reconnected => {
            if !quiet {
                eprintln!("reconnected");
            }
        }
    };
    tokio::select! {
        r = status::watch(&conn.client, namespace, targets, &mut on) => {
            r.at(&conn.server)?;
            Ok(exit::OK)
        }
        _ = tokio::signal::ctrl_c() => Ok(exit::OK),
    }
}

fn state_style(state: State) -> Style {
    match state {
        State::Complete => AnsiColor::Green.on_default(),
        State::Progressing => AnsiColor::Yellow.on_default(),
        State::Failed => AnsiColor::Red.on_default().bold(),
        State::Missing => Style::new().dimmed(),
    }
}

fn print_table(report: &StatusReport) {
    let services = &report.services;
    let namespaces = services
        .iter()
        .map(|s| s.namespace.as_str())
        .collect::<std::collections::BTreeSet<_>>();
    let show_ns = namespaces.len() > 1;
    let show_deployment = services.iter().any(|s| s.deployment != s.service);
    let mut header = vec!["SERVICE"];
    if show_ns {
        header.push("NAMESPACE");
    }
    if show_deployment {
        header.push("DEPLOYMENT");
    }
    header.extend([
        "DESIRED",
        "UPDATED",
        "READY",
        "AVAILABLE",
        "DIGEST",
        "REVISION",
        "AGE",
        "STATE",
    ]);
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    let count = |n: Option<i32>| n.map_or("-".to_string(), |n| n.to_string());
    for s in services {
        let mut row = vec![s.service.clone()];
        if show_ns {
            row.push(s.namespace.clone());
        }
        if show_deployment {
            row.push(s.deployment.clone());
        }
        row.extend([
            count(s.desired),
            count(s.updated),
            count(s.ready),
            count(s.available),
            s.digest.as_deref().map_or("-".into(), status::short_digest),
            s.revision
                .as_deref()
                .map_or("-".into(), status::short_revision),
            s.age_seconds.map_or("-".into(), status::human_age),
            state_text(s),
        ]);
        rows.push(row);
    }
    // The state is the last column (not padded), so colouring it keeps the alignment.
    for (i, line) in output::table(&rows).into_iter().enumerate() {
        let Some(s) = i.checked_sub(1).map(|i| &services[i]) else {
            println!("{line}");
            continue;
        };
        let state = state_text(s);
        let (before, _) = line.split_at(line.len() - state.len());
        let style = state_style(s.state);
        anstream::println!("{before}{style}{state}{style:#}");
    }
}

fn state_text(s: &status::ServiceStatus) -> String {
    match &s.reason {
        Some(r) => format!("{}: {r}", s.state.as_str()),
        None => s.state.as_str().to_string(),
    }
}
