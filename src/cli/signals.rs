//! SIGINT and SIGTERM during `deploy`, `ship` and `rollback`: the first asks the run to stop
//! (no new rollouts, the ones in flight rolled back within 30 s, the table with `interrupted`
//! rows, exit code 130 or 143); a second ends the process at once, naming what is left
//! unfinished.

use super::{CliError, error, exit, output};
use monoship::deploy::stop::{self, StopSender};
use monoship::deploy::{Event, Stop};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::signal::unix::{SignalKind, signal};

/// What each service is doing, as far as the events tell, for the second signal's message.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<Mutex<BTreeMap<String, String>>>);

impl InFlight {
    /// Follow an event of the run.
    pub fn on(&self, e: &Event) {
        let Ok(mut map) = self.0.lock() else {
            return;
        };
        match e {
            Event::Started { service, .. } => {
                map.insert(service.clone(), "about to change its deployment".into());
            }
            Event::Patched {
                service,
                generation,
            } => {
                map.insert(
                    service.clone(),
                    format!("its rollout (generation {generation}) is not finished"),
                );
            }
            Event::RollingBack { service, revision } => {
                let to = revision.map_or(String::new(), |r| format!(" to revision {r}"));
                map.insert(service.clone(), format!("its rollback{to} is not finished"));
            }
            Event::Finished(r) => {
                map.remove(&r.service);
            }
            _ => {}
        }
    }

    /// `users: its rollout (generation 4) is not finished; orders: …`, or `nothing`.
    pub fn describe(&self) -> String {
        let Ok(map) = self.0.lock() else {
            return "unknown".into();
        };
        if map.is_empty() {
            return "nothing".into();
        }
        map.iter()
            .map(|(s, what)| format!("{s}: {what}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Listen for SIGINT and SIGTERM (inside the runtime). The first stops `Stop`; the second
/// exits at once.
pub fn listen(in_flight: InFlight, quiet: bool) -> Result<Stop, CliError> {
    let what = "cannot listen for signals";
    let mut int = signal(SignalKind::interrupt()).map_err(error::io(what))?;
    let mut term = signal(SignalKind::terminate()).map_err(error::io(what))?;
    let (tx, stop) = Stop::channel();
    tokio::spawn(async move {
        let first = next(&mut int, &mut term).await;
        first_signal(&tx, first, quiet);
        let second = next(&mut int, &mut term).await;
        anstream::eprintln!(
            "{}error:{} {second} again: stopped at once; left unfinished: {}",
            output::ERROR.render(),
            output::ERROR.render_reset(),
            in_flight.describe()
        );
        std::process::exit(i32::from(exit::signal(second)));
    });
    Ok(stop)
}

async fn next(
    int: &mut tokio::signal::unix::Signal,
    term: &mut tokio::signal::unix::Signal,
) -> &'static str {
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

fn first_signal(tx: &StopSender, why: &'static str, quiet: bool) {
    tx.stop(why);
    if !quiet {
        eprintln!(
            "{why}: stopping: no new rollouts; rolling back the ones in flight (following each \
             for at most {} s); a second signal stops at once",
            stop::GRACE.as_secs()
        );
    }
}

/// The error that ends an interrupted run, after its results are shown.
pub fn interrupted(why: &str, results: &[monoship::deploy::ServiceResult]) -> CliError {
    use monoship::deploy::Outcome;
    let count = |o: Outcome| results.iter().filter(|r| r.result == o).count();
    let rolled = results
        .iter()
        .filter(|r| r.result == Outcome::Interrupted && r.rollback.as_ref().is_some_and(|b| b.ok))
        .count();
    let unfinished = results
        .iter()
        .filter(|r| r.result == Outcome::Interrupted && r.rollback.as_ref().is_some_and(|b| !b.ok))
        .map(|r| r.service.as_str())
        .collect::<Vec<_>>();
    let not_started = count(Outcome::Interrupted)
        .saturating_sub(rolled)
        .saturating_sub(unfinished.len());
    let mut summary = format!("{rolled} rollout(s) rolled back, {not_started} not started");
    if !unfinished.is_empty() {
        summary.push_str(&format!(
            ", rollback not finished for {}",
            unfinished.join(", ")
        ));
    }
    CliError::Interrupted {
        signal: why.to_string(),
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monoship::deploy::{Outcome, ServiceResult};

    #[test]
    fn in_flight_follows_the_events() {
        let f = InFlight::default();
        assert_eq!(f.describe(), "nothing");
        f.on(&Event::Patched {
            service: "users".into(),
            generation: 4,
        });
        f.on(&Event::RollingBack {
            service: "orders".into(),
            revision: Some(2),
        });
        assert_eq!(
            f.describe(),
            "orders: its rollback to revision 2 is not finished; users: its rollout \
             (generation 4) is not finished"
        );
    }

    #[test]
    fn codes_and_the_final_line() {
        assert_eq!(exit::signal("SIGINT"), 130);
        assert_eq!(exit::signal("SIGTERM"), 143);
        let r = |service: &str, ok: Option<bool>| ServiceResult {
            service: service.into(),
            namespace: String::new(),
            deployment: String::new(),
            from: Default::default(),
            to: Default::default(),
            result: Outcome::Interrupted,
            duration_ms: 0,
            reason: None,
            report: None,
            rollback: ok.map(|ok| monoship::deploy::RollbackResult {
                revision: None,
                ok,
                reason: None,
                report: None,
                note: None,
            }),
            changes: Vec::new(),
            cluster: None,
        };
        let e = interrupted(
            "SIGTERM",
            &[r("a", Some(true)), r("b", None), r("c", Some(false))],
        );
        assert_eq!(e.exit_code(), 143);
        assert_eq!(
            e.to_string(),
            "interrupted by SIGTERM: 1 rollout(s) rolled back, 1 not started, rollback not \
             finished for c"
        );
    }
}
