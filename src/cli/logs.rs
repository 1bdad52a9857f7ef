//! `monoship logs SERVICE`: the logs of a service's pods, each line prefixed with its pod;
//! `--follow` follows all pods at once until Ctrl-C.

use super::cluster::{KubeArgs, connect_to, load};
use super::{Cli, CliError, CliResult, Format, exit, output, require_format, runtime};
use monoship::deploy::logs::{self, LogEvent, LogOptions, LogProblem};
use monoship::deploy::revisions;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  monoship logs users                    every pod's log, pod by pod
  monoship logs users -f --tail 20       the last 20 lines of each pod, then follow all of them
  monoship logs users --previous         the crashed instance of each container
  monoship --format json logs users      one JSON object per line: pod, container, line")]
pub struct Args {
    /// The service.
    pub service: String,
    /// Keep following the logs of all pods (pods that appear later too) until Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// The previous (terminated) instance of each container.
    #[arg(long, short = 'p')]
    pub previous: bool,
    /// Lines from the end of each pod's log (default: all).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(0..))]
    pub tail: Option<i64>,
    /// The container (default: `container` in the configuration, else the pod's default, else
    /// the one named like the service, else the first).
    #[arg(long, short = 'c', value_name = "C")]
    pub container: Option<String>,
    #[command(flatten)]
    pub kube: KubeArgs,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    require_format(cli, "logs", &[Format::Human, Format::Json])?;
    let (ws, _) = load(cli, std::slice::from_ref(&args.service))?;
    let opts = LogOptions {
        follow: args.follow,
        previous: args.previous,
        tail: args.tail,
        container: args.container.clone(),
        ..LogOptions::default()
    };
    let rt = runtime()?;
    rt.block_on(async {
        let (conn, t) = connect_to(&ws, &args.service, &args.kube).await?;
        let d = revisions::find_deployment(&conn.client, &t.namespace, &t.deployment)
            .await
            .at(&conn.server)
            .for_service(&args.service)?;
        if let Some(c) = &args.container {
            let template = d.spec.as_ref().and_then(|s| s.template.spec.as_ref());
            let names: Vec<&str> = template
                .map(|s| s.containers.iter().map(|c| c.name.as_str()).collect())
                .unwrap_or_default();
            let init = template.and_then(|s| s.init_containers.as_ref());
            let is_init = init.is_some_and(|i| i.iter().any(|x| &x.name == c));
            if !names.contains(&c.as_str()) && !is_init {
                return Err(CliError::NoContainer {
                    namespace: t.namespace.clone(),
                    deployment: t.deployment.clone(),
                    container: c.clone(),
                    known: names.iter().map(|n| n.to_string()).collect(),
                });
            }
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut printer = Printer::new(cli, args.follow);
        let work = logs::logs(
            &conn.client,
            &t.namespace,
            &d,
            &t.service,
            t.container.as_deref(),
            &opts,
            tx,
        );
        tokio::pin!(work);
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let result = loop {
            tokio::select! {
                biased;
                Some(e) = rx.recv() => printer.on(e),
                r = &mut work => break Some(r),
                _ = &mut ctrl_c => break None,
            }
        };
        while let Ok(e) = rx.try_recv() {
            printer.on(e);
        }
        let Some(result) = result else {
            // Ctrl-C ends following.
            return Ok(exit::OK);
        };
        let summary = result.at(&conn.server)?;
        if !summary.no_node_serves_logs() {
            printer.flush();
        }
        summary.verdict(&args.service, &t.namespace, &t.deployment)?;
        Ok(exit::OK)
    })
}

struct Printer {
    json: bool,
    quiet: bool,
    follow: bool,
    /// Without --follow, "the node does not serve logs" is said once at the end: as the error
    /// when no pod's log could be read, else as warnings.
    held: Vec<String>,
}

impl Printer {
    fn new(cli: &Cli, follow: bool) -> Self {
        Printer {
            json: cli.format == Format::Json,
            quiet: cli.quiet,
            follow,
            held: Vec::new(),
        }
    }

    fn flush(&mut self) {
        for w in self.held.drain(..) {
            output::warn(&w);
        }
    }

    fn on(&mut self, e: LogEvent) {
        match e {
            LogEvent::Line {
                pod,
                container,
                text,
            } => {
                if self.json {
                    let line =
                        serde_json::json!({"pod": pod, "container": container, "line": text});
                    println!("{line}");
                } else {
                    let name = output::NAME;
                    anstream::println!("{name}[{pod}]{name:#} {text}");
                }
            }
            LogEvent::Unavailable { pod, problem } => {
                let text = format!("pod {pod}: {problem}");
                match problem {
                    LogProblem::NodeServesNoLogs { .. } if !self.follow => self.held.push(text),
                    _ => output::warn(&text),
                }
            }
            LogEvent::Following { pod, container } if !self.quiet => {
                eprintln!("following pod {pod} (container {container})");
            }
            LogEvent::Ended { pod } if !self.quiet => eprintln!("pod {pod} is gone"),
            _ => {}
        }
    }
}
