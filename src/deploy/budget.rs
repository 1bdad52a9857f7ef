//! How long a rollout may take, from the probes of the pod template: a container should be
//! started within its startup probe's window and Ready within its readiness probe's window
//! after that. Without probes there is nothing to go by, and a fixed deadline applies.

use k8s_openapi::api::core::v1::{Container, PodSpec, Probe};
use std::time::Duration;

/// The deadline when no container has a startup or readiness probe.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(120);
/// Added to the probe windows for the deadline: scheduling, pulling, the rolling steps.
pub const MARGIN: Duration = Duration::from_secs(30);
/// Added to a container's readiness window before a not-Ready container counts as failing.
pub const READY_GRACE: Duration = Duration::from_secs(5);

const DEFAULT_PERIOD: i32 = 10;
const DEFAULT_FAILURE_THRESHOLD: i32 = 3;

/// `initialDelaySeconds + periodSeconds × failureThreshold` (Kubernetes' defaults: 0, 10, 3).
pub fn probe_window(p: &Probe) -> Duration {
    let delay = p.initial_delay_seconds.unwrap_or(0).max(0);
    let period = p.period_seconds.unwrap_or(DEFAULT_PERIOD).max(1);
    let threshold = p
        .failure_threshold
        .unwrap_or(DEFAULT_FAILURE_THRESHOLD)
        .max(1);
    Duration::from_secs((delay + period * threshold) as u64)
}

/// The probe windows of one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContainerBudget {
    pub startup: Option<Duration>,
    pub readiness: Option<Duration>,
}

impl ContainerBudget {
    pub fn of(c: &Container) -> ContainerBudget {
        ContainerBudget {
            startup: c.startup_probe.as_ref().map(probe_window),
            readiness: c.readiness_probe.as_ref().map(probe_window),
        }
    }

    /// How long after it started a container with a readiness probe may stay not Ready:
    /// its startup window, its readiness window and [`READY_GRACE`]. `None` without a
    /// readiness probe.
    pub fn ready_within(&self) -> Option<Duration> {
        self.readiness
            .map(|r| self.startup.unwrap_or_default() + r + READY_GRACE)
    }

    fn total(&self) -> Option<Duration> {
        match (self.startup, self.readiness) {
            (None, None) => None,
            (s, r) => Some(s.unwrap_or_default() + r.unwrap_or_default()),
        }
    }
}

/// The rollout deadline for pods of `spec`: the largest startup + readiness window of its
/// containers plus [`MARGIN`], or [`DEFAULT_DEADLINE`] when no container has such probes.
pub fn deadline(spec: &PodSpec) -> Duration {
    spec.containers
        .iter()
        .filter_map(|c| ContainerBudget::of(c).total())
        .max()
        .map_or(DEFAULT_DEADLINE, |d| d + MARGIN)
}

/// How [`deadline`] came about, for messages.
pub fn explain(spec: &PodSpec) -> String {
    let parts: Vec<String> = spec
        .containers
        .iter()
        .filter_map(|c| {
            let b = ContainerBudget::of(c);
            b.total()?;
            let mut s = Vec::new();
            if let Some(p) = &c.startup_probe {
                s.push(format!("startup {}", window_text(p)));
            }
            if let Some(p) = &c.readiness_probe {
                s.push(format!("readiness {}", window_text(p)));
            }
            Some(format!("{}: {}", c.name, s.join(" + ")))
        })
        .collect();
    if parts.is_empty() {
        format!(
            "no startup or readiness probes: {} s",
            DEFAULT_DEADLINE.as_secs()
        )
    } else {
        format!("{} + {} s margin", parts.join(", "), MARGIN.as_secs())
    }
}

fn window_text(p: &Probe) -> String {
    format!(
        "{} s + {} × {} s",
        p.initial_delay_seconds.unwrap_or(0),
        p.failure_threshold.unwrap_or(DEFAULT_FAILURE_THRESHOLD),
        p.period_seconds.unwrap_or(DEFAULT_PERIOD)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(containers: serde_json::Value) -> PodSpec {
        serde_json::from_value(json!({ "containers": containers })).unwrap()
    }

    #[test]
    fn no_probes_is_the_default() {
        let s = spec(json!([{"name": "a", "image": "x"}]));
        assert_eq!(deadline(&s), DEFAULT_DEADLINE);
        assert!(explain(&s).contains("no startup or readiness probes"));
    }

    #[test]
    fn startup_and_readiness_windows_add_up_with_the_margin() {
        let s = spec(json!([{"name": "a", "image": "x",
            "startupProbe": {"initialDelaySeconds": 5, "periodSeconds": 2, "failureThreshold": 10,
                             "tcpSocket": {"port": 80}},
            "readinessProbe": {"periodSeconds": 1, "failureThreshold": 3,
                               "tcpSocket": {"port": 80}}}]));
        // 5 + 2×10 + 0 + 1×3 + 30
        assert_eq!(deadline(&s), Duration::from_secs(58));
        let b = ContainerBudget::of(&s.containers[0]);
        assert_eq!(b.ready_within(), Some(Duration::from_secs(25 + 3 + 5)));
    }

    #[test]
    fn kubernetes_defaults_and_the_slowest_container() {
        let s = spec(json!([
            {"name": "a", "image": "x", "readinessProbe": {"httpGet": {"port": 80}}},
            {"name": "b", "image": "y"}
        ]));
        // 0 + 10 × 3 + 30
        assert_eq!(deadline(&s), Duration::from_secs(60));
        assert_eq!(ContainerBudget::of(&s.containers[1]).ready_within(), None);
    }
}
