//! `monoship rollback`: `rollout undo` for one service, followed like a deploy.

use super::cluster::{ClusterArgs, connect_to, load};
use super::deploy::{self, Reporter};
use super::signals::{self, InFlight};
use super::{Cli, CliError, CliResult, Format, exit, require_format, runtime};
use monoship::deploy::{Outcome, rollback};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  monoship rollback users                   back to the previous revision
  monoship rollback users --to-revision 3   back to revision 3 (see `kubectl rollout history`)
  monoship rollback users --dry-run         the exact change, nothing is changed")]
pub struct Args {
    /// The service to roll back.
    pub service: String,
    /// The revision to go back to (default: the previous one).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
    pub to_revision: Option<i64>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    require_format(cli, "rollback", &[Format::Human, Format::Json])?;
    let (ws, _) = load(cli, std::slice::from_ref(&args.service))?;
    let rt = runtime()?;
    rt.block_on(async {
        let (conn, loc) = connect_to(&ws, &args.service, &args.cluster.kube).await?;
        let in_flight = InFlight::default();
        let stop = signals::listen(in_flight.clone(), cli.quiet)?;
        let opts = args.cluster.options(stop.clone());
        let mut reporter = Reporter::new(cli);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut send = move |e| {
            let _ = tx.send(e);
        };
        let work = rollback::rollback(
            &conn.client,
            &loc.namespace,
            &loc.deployment,
            loc.container.as_deref(),
            &args.service,
            args.to_revision,
            &opts,
            &mut send,
        );
        tokio::pin!(work);
        let result = loop {
            tokio::select! {
                Some(e) = rx.recv() => {
                    in_flight.on(&e);
                    reporter.on(e)
                }
                r = &mut work => break r,
            }
        };
        while let Ok(e) = rx.try_recv() {
            reporter.on(e);
        }
        reporter.finish();
        let result = result.at(&conn.server)?;
        deploy::render(cli, Some(&loc.namespace), std::slice::from_ref(&result))?;
        if let Some(why) = stop.reason() {
            return Err(signals::interrupted(why, std::slice::from_ref(&result)));
        }
        Ok(match result.result {
            Outcome::RolledBack | Outcome::Unchanged | Outcome::WouldDeploy => exit::OK,
            Outcome::RollbackFailed | Outcome::Failed => exit::LEFT_FAILED,
            _ => exit::FAILED,
        })
    })
}
