//! Rendering a deploy or rollback: progress on stderr (a live line per service on a
//! terminal, timestamped lines elsewhere) and the results on stdout (a table with failure
//! reports, or JSON).

use crate::cli::{Cli, CliError, Format, output};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use monoship::deploy::report::Report;
use monoship::deploy::{Event, ServiceResult, Version};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Progress of a run on stderr: a live line per service on a terminal, else timestamped lines.
pub struct Reporter {
    multi: Option<MultiProgress>,
    bars: BTreeMap<String, ProgressBar>,
    quiet: bool,
    started: Instant,
    outage: Outage,
}

/// The services that lost the API server: an outage is told once when it starts and once when
/// it ends, however many services (and watches) it touches.
#[derive(Debug, Default)]
pub struct Outage(std::collections::BTreeSet<String>);

impl Outage {
    /// The line to print for this event, if any.
    pub fn on(&mut self, e: &Event) -> Option<String> {
        match e {
            Event::Disconnected { service, message } => {
                let first = self.0.is_empty();
                self.0.insert(service.clone());
                first.then(|| format!("lost the API server, reconnecting: {message}"))
            }
            Event::Reconnected { service } => (self.0.remove(service) && self.0.is_empty())
                .then(|| "reconnected to the API server".to_string()),
            _ => None,
        }
    }
}

impl Reporter {
    pub fn new(cli: &Cli) -> Reporter {
        let tty = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let multi = (tty && !cli.quiet && cli.format == Format::Human)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Reporter {
            multi,
            bars: BTreeMap::new(),
            quiet: cli.quiet,
            started: Instant::now(),
            outage: Outage::default(),
        }
    }

    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => eprintln!("[{:>6.1}s] {text}", self.started.elapsed().as_secs_f64()),
        }
    }

    /// The live line of a service (a plain line without a terminal).
    fn status(&mut self, service: &str, text: &str) {
        let Some(multi) = &self.multi else {
            self.line(&format!("{service}: {text}"));
            return;
        };
        let bar = self.bars.entry(service.to_string()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:<14} {elapsed:>4} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(service.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        bar.set_message(text.to_string());
    }

    pub fn on(&mut self, e: Event) {
        if let Some(line) = self.outage.on(&e) {
            self.line(&line);
        }
        match e {
            Event::Cluster { context, services } => {
                self.line(&format!(
                    "cluster {context}: {} service(s): {}",
                    services.len(),
                    services.join(" ")
                ));
            }
            Event::Planned { waves } if waves.len() > 1 => {
                let shown: Vec<String> = waves.iter().map(|w| w.join(" ")).collect();
                self.line(&format!("deploying in waves: {}", shown.join(" → ")));
            }
            Event::Started {
                service,
                deployment,
                from,
                to,
            } => self.status(
                &service,
                &format!("deployment/{deployment}: {} → {}", short(&from), short(&to)),
            ),
            Event::Patched {
                service,
                generation,
            } => self.status(&service, &format!("patched (generation {generation})")),
            Event::Progress { service, message } => self.status(&service, &message),
            Event::Disconnected { service, .. } if self.multi.is_some() => {
                self.status(&service, "reconnecting")
            }
            Event::RolloutFailed {
                service,
                code,
                message,
            } => self.line(&format!("{service}: rollout failed: {code}: {message}")),
            Event::RollingBack { service, revision } => self.status(
                &service,
                &match revision {
                    Some(r) => format!("rolling back to revision {r}"),
                    None => "rolling back".to_string(),
                },
            ),
            Event::Finished(r) => {
                let text = match &r.reason {
                    Some(reason) => format!("{}: {reason}", r.result.as_str()),
                    None => r.result.as_str().to_string(),
                };
                match self.bars.remove(&r.service) {
                    Some(bar) => bar.finish_with_message(text),
                    None => self.line(&format!("{}: {text}", r.service)),
                }
            }
            _ => {}
        }
    }

    pub fn finish(&mut self) {
        for (_, bar) in std::mem::take(&mut self.bars) {
            bar.finish();
        }
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }
}

/// `0123456789ab/1f3c5e9a` (revision, digest), `-` for what is unknown.
pub fn short(v: &Version) -> String {
    let rev: String = v
        .revision
        .as_deref()
        .unwrap_or("-")
        .chars()
        .take(12)
        .collect();
    let digest = match v.digest.as_deref() {
        Some(d) => d.trim_start_matches("sha256:").chars().take(12).collect(),
        None => v.image.clone().unwrap_or_else(|| "-".into()),
    };
    format!("{rev}/{digest}")
}

/// The results: JSON, or a table and the failure reports.
pub fn render(
    cli: &Cli,
    namespace: Option<&str>,
    results: &[ServiceResult],
) -> Result<(), CliError> {
    if cli.format == Format::Json {
        return output::json(&serde_json::json!({"namespace": namespace, "services": results}));
    }
    let mut rows = vec![
        ["SERVICE", "CHANGE", "RESULT", "DURATION", "REASON"]
            .map(String::from)
            .to_vec(),
    ];
    let clusters = results.iter().any(|r| r.cluster.is_some());
    if clusters {
        rows[0].insert(1, "CLUSTER".into());
    }
    for r in results {
        let mut row = vec![r.service.clone()];
        if clusters {
            row.push(r.cluster.clone().unwrap_or_default());
        }
        rows.push(row);
        rows.last_mut().expect("pushed").extend([
            format!("{} → {}", short(&r.from), short(&r.to)),
            r.result.as_str().to_string(),
            format!("{:.1}s", r.duration_ms as f64 / 1000.0),
            r.reason.clone().unwrap_or_default(),
        ]);
    }
    for line in output::table(&rows) {
        println!("{line}");
    }
    for r in results {
        print_details(r);
    }
    Ok(())
}

/// Below the table: a result's changes (dry run) and its rollout's and rollback's reports.
pub fn print_details(r: &ServiceResult) {
    print_changes(r);
    if let Some(report) = &r.report {
        print_report(&r.service, "rollout", report);
    }
    if let Some(report) = r.rollback.as_ref().and_then(|rb| rb.report.as_ref()) {
        print_report(&r.service, "rollback", report);
    }
}

pub fn print_report(service: &str, what: &str, r: &Report) {
    println!();
    println!("{service}: {what} failed: {}: {}", r.code, r.message);
    if let Some(rs) = &r.replica_set {
        let rev = r
            .revision
            .map(|n| format!(" (revision {n})"))
            .unwrap_or_default();
        println!("  replica set {rs}{rev}");
    }
    for p in &r.pods {
        println!(
            "  pod {} ({}, {}{})",
            p.pod,
            p.phase.as_deref().unwrap_or("unknown phase"),
            if p.ready { "ready" } else { "not ready" },
            p.node
                .as_deref()
                .map(|n| format!(", node {n}"))
                .unwrap_or_default()
        );
        for c in &p.containers {
            let last = c
                .last_state
                .as_deref()
                .map(|l| format!("; last: {l}"))
                .unwrap_or_default();
            println!("    {} restarts={} {}{last}", c.name, c.restarts, c.state);
        }
    }
    if !r.events.is_empty() {
        println!("  events:");
        for e in &r.events {
            println!(
                "    {} {} {} {}: {}",
                e.time.as_deref().unwrap_or("-"),
                e.type_.as_deref().unwrap_or("-"),
                e.reason.as_deref().unwrap_or("-"),
                e.object,
                e.message.as_deref().unwrap_or("").trim_end()
            );
        }
    }
    let l = &r.logs;
    let whose = format!(
        "{}/{}{}",
        l.pod.as_deref().unwrap_or("-"),
        l.container.as_deref().unwrap_or("-"),
        if l.previous {
            ", previous instance"
        } else {
            ""
        }
    );
    match &l.unavailable {
        Some(why) if l.lines.is_empty() => println!("  logs ({whose}): {why}"),
        _ => {
            println!("  logs ({whose}):");
            for line in &l.lines {
                println!("    {line}");
            }
        }
    }
}

/// The fields a dry run would change, one line each.
pub fn print_changes(r: &ServiceResult) {
    for c in &r.changes {
        println!(
            "{} ({}/{}): {}: {} → {}",
            r.service,
            r.namespace,
            r.deployment,
            c.field,
            c.from.as_deref().unwrap_or("(none)"),
            c.to.as_deref().unwrap_or("(none)")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_told_once() {
        let mut o = Outage::default();
        let down = |s: &str| Event::Disconnected {
            service: s.into(),
            message: "connection refused".into(),
        };
        let up = |s: &str| Event::Reconnected { service: s.into() };
        assert_eq!(
            o.on(&down("users")).as_deref(),
            Some("lost the API server, reconnecting: connection refused")
        );
        assert_eq!(o.on(&down("orders")), None);
        assert_eq!(o.on(&down("users")), None);
        assert_eq!(o.on(&up("users")), None);
        assert_eq!(
            o.on(&up("orders")).as_deref(),
            Some("reconnected to the API server")
        );
        assert_eq!(o.on(&up("orders")), None);
    }
}
