//! `monoship status --env a,b[,…]`: one table of what each environment runs, whether they
//! match, and how many commits each is behind the first (`pipeline::drift`).

use super::cluster::{KubeArgs, connect_all, load_with};
use super::{Cli, CliError, CliResult, Format, exit, output, runtime, workspace_options};
use monoship::deploy::status::{short_digest, short_revision};
use monoship::pipeline::Cluster;
use monoship::pipeline::drift::{self, DriftReport};

/// The environments of `--env a,b`, or `None` for one (or none).
pub fn environments(cli: &Cli) -> Option<Vec<String>> {
    let list = cli.environment.as_deref()?;
    list.contains(',')
        .then(|| list.split(',').map(|s| s.trim().to_string()).collect())
}

pub fn run(
    cli: &Cli,
    names: &[String],
    services: &[String],
    kube: &KubeArgs,
) -> Result<u8, CliError> {
    if kube.namespace.is_some() || kube.context.is_some() {
        return Err(CliError::Arguments(
            "status --env A,B reaches each environment with its own context and namespace: \
             --context and --namespace are not taken",
        ));
    }
    if names.iter().any(String::is_empty) {
        return Err(CliError::Arguments(
            "--env A,B: an environment name is empty",
        ));
    }
    let opts = monoship::affected::Options {
        environment: None,
        ..workspace_options(cli)
    };
    let (base, services) = load_with(&opts, services)?;
    let workspaces = names
        .iter()
        .map(|n| base.clone().in_environment(n))
        .collect::<Result<Vec<_>, _>>()?;
    let git = monoship::changes::Git::open(&base.root).ok();
    let rt = runtime()?;
    let envs = rt.block_on(async {
        let mut envs = Vec::new();
        for (name, ws) in names.iter().zip(&workspaces) {
            let conn = connect_all(kube, ws).await?;
            let statuses = conn
                .clusters()
                .statuses(ws, &services)
                .await
                .at(&conn.server)?;
            envs.push((name.clone(), statuses));
        }
        Ok::<_, CliError>(envs)
    })?;
    let report = drift::drift(&envs, |older, newer| {
        git.as_ref()?.commits_between(older, newer)
    });
    if cli.format == Format::Json {
        output::json(&report)?;
    } else {
        print_table(&report);
    }
    Ok(exit::OK)
}

fn print_table(report: &DriftReport) {
    let mut header = vec!["SERVICE".to_string()];
    for e in &report.environments {
        header.push(e.to_uppercase());
    }
    header.push("SAME".into());
    for e in report.environments.iter().skip(1) {
        header.push(format!("{} BEHIND", e.to_uppercase()));
    }
    let mut rows = vec![header];
    for r in &report.services {
        let mut row = vec![r.service.clone()];
        for e in &r.environments {
            row.push(match (&e.revision, &e.digest) {
                (_, None) => e.state.as_str().to_string(),
                (rev, Some(d)) => format!(
                    "{} {} {}",
                    rev.as_deref().map_or("-".into(), short_revision),
                    short_digest(d),
                    e.state.as_str()
                ),
            });
        }
        row.push(if r.same { "yes" } else { "no" }.into());
        for b in &r.behind {
            row.push(b.commits.map_or("?".into(), |n| n.to_string()));
        }
        rows.push(row);
    }
    for line in output::table(&rows) {
        println!("{line}");
    }
    let drifted = report.drifted().count();
    println!(
        "\n{drifted} of {} service(s) differ between {}",
        report.services.len(),
        report.environments.join(" and ")
    );
}
