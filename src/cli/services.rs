use super::{Cli, CliError, Format, output, require_format, workspace_options};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Target triple whose dependency graph is used (default: config, then the host).
    #[arg(long)]
    pub target: Option<String>,
}

#[derive(Serialize)]
struct Listing<'a> {
    services: Vec<Entry<'a>>,
}

#[derive(Serialize)]
struct Entry<'a> {
    name: &'a str,
    package: &'a str,
    binary: &'a str,
    /// The name as configured (or the package's) when `name` is its Kubernetes form.
    #[serde(skip_serializing_if = "Option::is_none")]
    mapped_from: Option<&'a str>,
    dir: &'a str,
    inputs: &'a [String],
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    require_format(
        cli,
        "services",
        &[Format::Human, Format::Json, Format::Names],
    )?;
    let opts = monoship::affected::Options {
        target: args.target.clone(),
        ..workspace_options(cli)
    };
    let ws = monoship::affected::load_workspace(&opts)?;
    let listing = Listing {
        services: ws
            .services
            .iter()
            .map(|s| Entry {
                name: &s.name,
                package: &s.package,
                binary: &s.binary,
                mapped_from: s.mapped_from.as_deref(),
                dir: &s.dir,
                inputs: &s.inputs,
            })
            .collect(),
    };
    match cli.format {
        Format::Json => output::json(&listing)?,
        Format::Names => listing.services.iter().for_each(|s| println!("{}", s.name)),
        _ => {
            let mut rows = vec![
                ["SERVICE", "PACKAGE", "BINARY", "DIR", "INPUTS"]
                    .map(String::from)
                    .to_vec(),
            ];
            for s in &listing.services {
                rows.push(vec![
                    s.name.to_string(),
                    s.package.to_string(),
                    s.binary.to_string(),
                    s.dir.to_string(),
                    if s.inputs.is_empty() {
                        "-".into()
                    } else {
                        s.inputs.join(", ")
                    },
                ]);
            }
            for line in output::table(&rows) {
                println!("{line}");
            }
            for s in &listing.services {
                if let Some(from) = s.mapped_from {
                    println!(
                        "note: service {}: `{from}` is not a Kubernetes name, so the service \
                         is named in lowercase with `-` for `_` (`name` chooses another)",
                        s.name
                    );
                }
            }
        }
    }
    Ok(super::exit::OK)
}
