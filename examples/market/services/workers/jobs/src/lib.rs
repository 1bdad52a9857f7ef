//! What the two workers share: the queue they poll.

/// The name of a worker's queue.
pub fn queue(worker: &str) -> String {
    format!("market.{worker}")
}
