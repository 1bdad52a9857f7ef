//! Request counters and log-line formatting.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Named monotonic counters of one service.
#[derive(Debug)]
pub struct Metrics {
    service: String,
    counters: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    pub fn new(service: &str) -> Self {
        Metrics {
            service: service.to_owned(),
            counters: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds one to `name` and returns the new value.
    pub fn incr(&self, name: &str) -> u64 {
        let mut counters = self.counters.lock().expect("metrics lock");
        let n = counters.entry(name.to_owned()).or_insert(0);
        *n += 1;
        *n
    }

    pub fn get(&self, name: &str) -> u64 {
        self.counters
            .lock()
            .expect("metrics lock")
            .get(name)
            .copied()
            .unwrap_or(0)
    }

    /// The counters in the Prometheus text format.
    pub fn render(&self) -> String {
        let counters = self.counters.lock().expect("metrics lock");
        let mut out = String::from("# TYPE fleet_requests_total counter\n");
        for (name, value) in counters.iter() {
            let _ = writeln!(
                out,
                "fleet_requests_total{{service=\"{}\",name=\"{}\"}} {}",
                self.service, name, value
            );
        }
        out
    }
}

/// One structured log line: `ts=<ms> service=<s> method=<m> path=<p> status=<n>`.
pub fn log_line(service: &str, method: &str, path: &str, status: u16) -> String {
    format!(
        "ts={} service={service} method={method} path={path} status={status}",
        common::unix_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_renders() {
        let m = Metrics::new("search");
        m.incr("search");
        assert_eq!(m.incr("search"), 2);
        assert_eq!(m.get("other"), 0);
        assert!(m
            .render()
            .contains("fleet_requests_total{service=\"search\",name=\"search\"} 2"));
    }

    #[test]
    fn log_line_has_fields() {
        let line = log_line("media", "GET", "/media/a.png", 200);
        assert!(line.starts_with("ts="));
        assert!(line.ends_with("service=media method=GET path=/media/a.png status=200"));
    }
}
