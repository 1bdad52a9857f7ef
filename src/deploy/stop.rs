//! A request to stop a run early (the first SIGINT or SIGTERM), seen by every task of it: no
//! rollout starts after it, the ones in flight are rolled back, and a rollback is followed for
//! at most [`GRACE`] more.

use std::time::Duration;
use tokio::sync::watch;

/// How long a rollback is still followed once a stop is requested.
pub const GRACE: Duration = Duration::from_secs(30);

/// The receiving side: cheap to clone, one per task.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<Option<&'static str>>);

/// The sending side, kept by whoever hears the signals.
#[derive(Debug)]
pub struct StopSender(watch::Sender<Option<&'static str>>);

impl StopSender {
    /// Request the stop, naming why (`"SIGINT"`); later requests keep the first reason.
    pub fn stop(&self, why: &'static str) {
        self.0.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(why);
                true
            } else {
                false
            }
        });
    }
}

impl Stop {
    /// A pair: the sender for the signal handler, the receiver for the run.
    pub fn channel() -> (StopSender, Stop) {
        let (tx, rx) = watch::channel(None);
        (StopSender(tx), Stop(rx))
    }

    /// A stop that never comes.
    pub fn never() -> Stop {
        Stop::channel().1
    }

    /// Why the run was asked to stop, once it was.
    pub fn reason(&self) -> Option<&'static str> {
        *self.0.borrow()
    }

    /// Wait until a stop is requested (forever if it never is).
    pub async fn requested(&mut self) -> &'static str {
        loop {
            if let Some(why) = *self.0.borrow_and_update() {
                return why;
            }
            if self.0.changed().await.is_err() {
                // The sender is gone without a request: none will ever come.
                std::future::pending::<()>().await;
            }
        }
    }
}

impl Default for Stop {
    fn default() -> Self {
        Stop::never()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_reason_is_kept_and_seen_by_every_clone() {
        let (tx, stop) = Stop::channel();
        let mut other = stop.clone();
        assert_eq!(stop.reason(), None);
        tx.stop("SIGTERM");
        tx.stop("SIGINT");
        assert_eq!(other.requested().await, "SIGTERM");
        assert_eq!(stop.reason(), Some("SIGTERM"));
    }

    #[tokio::test]
    async fn never_never_fires() {
        let mut stop = Stop::never();
        let waited = tokio::time::timeout(Duration::from_millis(50), stop.requested()).await;
        assert!(waited.is_err());
    }
}
