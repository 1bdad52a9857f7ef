//! The command line: parse arguments, run a stage, render its result, map errors to exit codes.

mod affected;
mod build;
mod check;
mod cluster;
mod completions;
mod demo;
mod deploy;
mod drift;
mod error;
mod generate;
mod history;
mod init;
mod logs;
mod output;
mod progress;
mod promote;
mod publish;
mod rollback;
mod services;
mod ship;
mod signals;
mod status;

pub use error::{CliError, CliResult};

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes (documented in README.md).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The operation ran and failed (or, with `--strict`, the analysis failed closed; for
    /// `check`, a change to a tracked file would fail closed).
    pub const FAILED: u8 = 1;
    /// Bad usage or configuration: unknown flag, revision, service, config key, glob; not a
    /// git repository; not a Cargo workspace.
    pub const USAGE: u8 = 2;
    /// `deploy`, `ship`, `rollback`: another monoship run is deploying a service (it holds the
    /// service's lease), or a change monoship did not make is in progress; nothing was changed.
    pub const BUSY: u8 = 3;
    /// `deploy`, `ship`: a rollout failed, and every service it failed for is back on its
    /// previous revision and available (`rolled-back`; dependents `skipped`).
    pub const ROLLED_BACK: u8 = 4;
    /// `deploy`, `ship`, `rollback`: a rollout failed and a service was left so: its rollback
    /// failed too (`rollback-failed`), or `--no-rollback` (`failed`). Look at it now.
    pub const LEFT_FAILED: u8 = 5;
    /// The Kubernetes API server or a registry cannot be reached (nothing answers, DNS, TLS).
    pub const UNREACHABLE: u8 = 6;
    /// The Kubernetes API server or a registry refused the credentials or denied an operation
    /// (401, 403, RBAC), before anything was changed.
    pub const DENIED: u8 = 7;
    /// `promote`: a service was refused (not complete and available in FROM, or not deployed
    /// there by monoship); every other one was promoted.
    pub const REFUSED: u8 = 8;
    /// `deploy`, `ship`, `rollback` stopped by SIGINT (128 + 2): in-flight rollouts rolled back.
    pub const SIGINT: u8 = 130;
    /// `deploy`, `ship`, `rollback` stopped by SIGTERM (128 + 15): in-flight rollouts rolled back.
    pub const SIGTERM: u8 = 143;

    /// The code of a run whose rollouts ended with `outcomes`: 0 when every one succeeded;
    /// [`LEFT_FAILED`] when any service was left failed; 1 when any could not be deployed or
    /// followed (`error`); else [`ROLLED_BACK`].
    pub fn of_rollouts(outcomes: impl IntoIterator<Item = monoship::deploy::Outcome>) -> u8 {
        use monoship::deploy::Outcome;
        let outcomes: Vec<Outcome> = outcomes.into_iter().collect();
        if outcomes.iter().all(|o| o.is_success()) {
            OK
        } else if outcomes
            .iter()
            .any(|o| matches!(o, Outcome::RollbackFailed | Outcome::Failed))
        {
            LEFT_FAILED
        } else if outcomes.contains(&Outcome::Error) {
            FAILED
        } else {
            ROLLED_BACK
        }
    }

    /// The code of a run stopped by `signal` (`SIGINT` or `SIGTERM`).
    pub fn signal(signal: &str) -> u8 {
        if signal == "SIGTERM" { SIGTERM } else { SIGINT }
    }
}

const EXAMPLES: &str = "\
Examples:
  monoship affected                      services changed since the merge-base with main
  monoship affected --base v1.4.0 --format json
  monoship affected --format github-matrix --github-output
  monoship affected --explain users      every reason users is (or is not) affected
  monoship -C examples/fleet services    the services of a workspace";

#[derive(Debug, Parser)]
#[command(name = "monoship", version, about = "Ship a Cargo-workspace monorepo of services", after_help = EXAMPLES)]
pub struct Cli {
    /// Run as if started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Path to the workspace's Cargo.toml (default: the nearest one upward, like cargo).
    #[arg(long, global = true, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// When to use colours (NO_COLOR is honoured with `auto`).
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// More diagnostics on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only results, no headers or summaries.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Run cargo without network access.
    #[arg(long, global = true)]
    pub offline: bool,
    /// The environment (`environments` in [workspace.metadata.monoship]): its context,
    /// namespace, registry, replicas and resources.
    #[arg(long = "env", global = true, value_name = "NAME", env = "MONOSHIP_ENV")]
    pub environment: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    GithubMatrix,
    Names,
    Mermaid,
    Dot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Which services a change touches, and why.
    #[command(after_help = affected::EXAMPLES)]
    Affected(affected::Args),
    /// List the workspace's services.
    Services(services::Args),
    /// Compile services (one cargo build per feature-compatible group) and assemble OCI images.
    Build(build::Args),
    /// Write generated files (Dockerfile.monoship, Kubernetes manifests, a GitHub workflow), or
    /// check that they are up to date.
    #[command(after_help = generate::EXAMPLES)]
    Generate(generate::Args),
    /// Push the built images to a registry: only missing blobs, the manifest last.
    Publish(publish::Args),
    /// Write a commented [workspace.metadata.monoship] with the detected services into the
    /// workspace's root Cargo.toml.
    Init(init::Args),
    /// Read-only: whether a change to any tracked file would fail closed, and the `ignore`
    /// globs `init` would propose (exit code 1 when something would fail closed).
    Check(check::Args),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(completions::Args),
    /// Set services' images on their Deployments, follow each rollout, roll back failures.
    Deploy(deploy::Args),
    /// The bundled example: a shared-crate change, what it affects, its images and deploy.
    Demo(demo::Args),
    /// Affected → build → publish → deploy in one run, one table of the results.
    Ship(ship::Args),
    /// Roll a service's Deployment back to its previous (or a given) revision.
    Rollback(rollback::Args),
    /// Each service's Deployment: replicas, digest, revision, rollout state (`--watch`).
    Status(status::Args),
    /// A service's Deployment revisions: change-cause, digest, when, which is current.
    History(history::Args),
    /// The logs of a service's pods, each line prefixed with its pod (`--follow`).
    Logs(logs::Args),
    /// Copy the digests that run in one environment to the next one's registry and deploy them.
    Promote(promote::Args),
}

pub fn main() -> ExitCode {
    let mut cli = Cli::parse();
    quiet_broken_pipe(&cli.command);
    let color = match cli.color {
        Color::Always => anstream::ColorChoice::Always,
        Color::Never => anstream::ColorChoice::Never,
        Color::Auto => anstream::ColorChoice::Auto,
    };
    color.write_global();
    // The log lines on stderr follow --color (and NO_COLOR, and whether stderr is a terminal)
    // like everything else.
    let ansi = anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never;
    init_tracing(cli.verbose, cli.quiet, ansi);
    // `-C DIR`: as if started in DIR (like `cargo -C` and `git -C`), so relative paths in
    // other arguments (--manifests, --out, --kubeconfig, …) are relative to DIR too.
    if let Some(dir) = cli.dir.take() {
        match std::env::set_current_dir(&dir).and_then(|_| std::env::current_dir()) {
            Ok(abs) => cli.dir = Some(abs),
            Err(e) => {
                return report(CliError::ChangeDir { dir, source: e });
            }
        }
    }
    let result = match &cli.command {
        Command::Affected(args) => affected::run(&cli, args),
        Command::Services(args) => services::run(&cli, args),
        Command::Build(args) => build::run(&cli, args),
        Command::Generate(args) => generate::run(&cli, args),
        Command::Publish(args) => publish::run(&cli, args),
        Command::Init(args) => init::run(&cli, args),
        Command::Check(args) => check::run(&cli, args),
        Command::Completions(args) => completions::run(args),
        Command::Deploy(args) => deploy::run(&cli, args),
        Command::Promote(args) => promote::run(&cli, args),
        Command::Ship(args) => ship::run(&cli, args),
        Command::Demo(args) => demo::run(&cli, args),
        Command::Rollback(args) => rollback::run(&cli, args),
        Command::Status(args) => status::run(&cli, args),
        Command::History(args) => history::run(&cli, args),
        Command::Logs(args) => logs::run(&cli, args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => report(e),
    }
}

fn report(e: CliError) -> ExitCode {
    anstream::eprintln!(
        "{}error:{} {}",
        output::ERROR.render(),
        output::ERROR.render_reset(),
        e
    );
    ExitCode::from(e.exit_code())
}

/// Like other command-line tools, end quietly when the reader of stdout goes away
/// (`monoship affected | head`).
///
/// Commands that only read local files get the default SIGPIPE disposition. Commands that talk
/// to a registry or a cluster keep it ignored (as Rust sets it): a peer closing a connection
/// must be an error to handle, never a silent death; for them a write to a closed stdout ends
/// the process with status 141, without a panic message.
fn quiet_broken_pipe(command: &Command) {
    let local = matches!(
        command,
        Command::Affected(_)
            | Command::Services(_)
            | Command::Generate(_)
            | Command::Init(_)
            | Command::Check(_)
            | Command::Completions(_)
    );
    if local {
        // SAFETY: setting a signal disposition before any other thread starts.
        #[allow(unsafe_code)]
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
        return;
    }
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info)
    }));
}

fn init_tracing(verbose: u8, quiet: bool, ansi: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MONOSHIP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("monoship={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Where the workspace is and how cargo runs, from the global flags (`-C`, `--manifest-path`,
/// `--offline`); a command adds its own (`base`, `head`, `target`).
pub fn workspace_options(cli: &Cli) -> monoship::affected::Options {
    monoship::affected::Options {
        dir: cli.dir.clone(),
        manifest_path: cli.manifest_path.clone(),
        offline: cli.offline,
        environment: cli.environment.clone(),
        ..Default::default()
    }
}

/// The async runtime the command line owns: stages that talk to a cluster or a registry are
/// driven on it.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(error::io("cannot start the async runtime"))
}

/// Reject a `--format` a command does not render.
pub fn require_format(cli: &Cli, command: &str, allowed: &[Format]) -> Result<(), CliError> {
    if allowed.contains(&cli.format) {
        Ok(())
    } else {
        let name = cli
            .format
            .to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default();
        Err(CliError::Format {
            command: command.to_string(),
            format: name,
        })
    }
}
