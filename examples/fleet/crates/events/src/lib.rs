//! An in-process event bus. The events it accepts are those declared in
//! `schemas/events.json`, compiled in by `build.rs`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;

include!(concat!(env!("OUT_DIR"), "/events.rs"));

/// How many published events the bus remembers.
pub const HISTORY: usize = 256;

/// Whether `name` is declared in the schema.
pub fn is_known(name: &str) -> bool {
    EVENT_NAMES.contains(&name)
}

/// A published event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub seq: u64,
    pub name: String,
    pub source: String,
    pub payload: Value,
    pub at_ms: u64,
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishError {
    UnknownEvent(String),
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::UnknownEvent(name) => write!(f, "unknown event {name:?}"),
        }
    }
}

impl std::error::Error for PublishError {}

type Handler = Arc<dyn Fn(&Event) + Send + Sync>;

#[derive(Default)]
struct State {
    next_seq: u64,
    history: VecDeque<Event>,
    handlers: Vec<(String, Handler)>,
}

/// The bus of one service. Cheap to clone; clones share the bus.
#[derive(Clone)]
pub struct Bus {
    source: String,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// A bus whose events are stamped with `source` (the service name).
    pub fn new(source: &str) -> Self {
        Bus {
            source: source.to_owned(),
            state: Arc::default(),
        }
    }

    /// Calls `handler` for every later event whose name starts with `prefix`.
    pub fn subscribe(&self, prefix: &str, handler: impl Fn(&Event) + Send + Sync + 'static) {
        self.lock()
            .handlers
            .push((prefix.to_owned(), Arc::new(handler)));
    }

    /// Publishes `name` with `payload`; refuses names the schema does not declare.
    pub fn publish(&self, name: &str, payload: Value) -> Result<Event, PublishError> {
        if !is_known(name) {
            return Err(PublishError::UnknownEvent(name.to_owned()));
        }
        let (event, handlers) = {
            let mut state = self.lock();
            state.next_seq += 1;
            let event = Event {
                seq: state.next_seq,
                name: name.to_owned(),
                source: self.source.clone(),
                payload,
                at_ms: common::unix_millis(),
            };
            if state.history.len() == HISTORY {
                state.history.pop_front();
            }
            state.history.push_back(event.clone());
            let handlers: Vec<Handler> = state
                .handlers
                .iter()
                .filter(|(prefix, _)| name.starts_with(prefix.as_str()))
                .map(|(_, h)| h.clone())
                .collect();
            (event, handlers)
        };
        for handler in handlers {
            handler(&event);
        }
        Ok(event)
    }

    /// The remembered events whose name starts with `prefix`, oldest first.
    pub fn recent(&self, prefix: &str) -> Vec<Event> {
        self.lock()
            .history
            .iter()
            .filter(|e| e.name.starts_with(prefix))
            .cloned()
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("event bus lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn schema_is_compiled_in() {
        assert!(is_known("order.created"));
        assert!(!is_known("order.teleported"));
    }

    #[test]
    fn publish_reaches_subscribers_and_history() {
        let bus = Bus::new("orders");
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        bus.subscribe("order.", move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        bus.publish("order.created", serde_json::json!({"id": 1}))
            .unwrap();
        bus.publish("payment.captured", Value::Null).unwrap();
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        assert_eq!(bus.recent("").len(), 2);
        assert_eq!(bus.recent("order.")[0].source, "orders");
        assert!(bus.publish("nope", Value::Null).is_err());
    }
}
