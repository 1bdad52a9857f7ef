//! `monoship history SERVICE`: the revisions of a service's Deployment, which one is current.

use super::cluster::{KubeArgs, connect_to, load};
use super::{Cli, CliError, CliResult, Format, exit, output, require_format, runtime};
use monoship::deploy::history::{self, History};
use monoship::deploy::status::{short_digest, short_revision};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  monoship history users                 revisions, the current one marked with *
  monoship --format json history users   for scripts (schema: docs/status.md)
  monoship rollback users --to-revision N   go back to one of them")]
pub struct Args {
    /// The service.
    pub service: String,
    #[command(flatten)]
    pub kube: KubeArgs,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    require_format(cli, "history", &[Format::Human, Format::Json])?;
    let (ws, _) = load(cli, std::slice::from_ref(&args.service))?;
    let rt = runtime()?;
    let h = rt.block_on(async {
        let (conn, t) = connect_to(&ws, &args.service, &args.kube).await?;
        history::read(
            &conn.client,
            &t.namespace,
            &t.deployment,
            &t.service,
            t.container.as_deref(),
        )
        .await
        .at(&conn.server)
        .for_service(&args.service)
    })?;
    if cli.format == Format::Json {
        output::json(&h)?;
    } else {
        print_table(cli, &h);
    }
    Ok(exit::OK)
}

fn print_table(cli: &Cli, h: &History) {
    if !cli.quiet {
        println!(
            "{} (deployment {}/{}), current revision {}",
            h.service,
            h.namespace,
            h.deployment,
            h.current_revision
                .map_or("unknown".to_string(), |r| r.to_string())
        );
    }
    let mut rows = vec![
        [
            "",
            "REVISION",
            "CREATED",
            "REPLICAS",
            "IMAGE",
            "GIT",
            "CHANGE-CAUSE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in &h.revisions {
        let mut number = r.revision.map_or("-".to_string(), |n| n.to_string());
        if !r.earlier_revisions.is_empty() {
            let earlier: Vec<String> = r.earlier_revisions.iter().map(i64::to_string).collect();
            number.push_str(&format!(" (was {})", earlier.join(", ")));
        }
        rows.push(vec![
            if r.current { "*".into() } else { String::new() },
            number,
            r.created
                .as_deref()
                .map_or("-".into(), |c| c.replace('T', " ")),
            r.replicas.to_string(),
            match (&r.digest, &r.image) {
                (Some(d), _) => short_digest(d),
                (None, Some(i)) => i.clone(),
                (None, None) => "-".into(),
            },
            r.git_revision.as_deref().map_or("-".into(), short_revision),
            r.change_cause.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    for line in output::table(&rows) {
        println!("{line}");
    }
}
