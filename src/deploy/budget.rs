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

/// The longest window a probe can give: the API server accepts any `i32` for its fields, and
/// a window this long is no deadline at all (about 136 years).
pub const MAX_WINDOW: Duration = Duration::from_secs(u32::MAX as u64);

/// `initialDelaySeconds + periodSeconds × failureThreshold` (Kubernetes' defaults: 0, 10, 3),
/// at most [`MAX_WINDOW`].
pub fn probe_window(p: &Probe) -> Duration {
    let field = |v: Option<i32>, default: i32, min: i32| {
        u64::from(v.unwrap_or(default).max(min).unsigned_abs())
    };
    let delay = field(p.initial_delay_seconds, 0, 0);
    let period = field(p.period_seconds, DEFAULT_PERIOD, 1);
    let threshold = field(p.failure_threshold, DEFAULT_FAILURE_THRESHOLD, 1);
    let secs = period.saturating_mul(threshold).saturating_add(delay);
    Duration::from_secs(secs).min(MAX_WINDOW)
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
        self.readiness.map(|r| {
            self.startup
                .unwrap_or_default()
                .saturating_add(r)
                .saturating_add(READY_GRACE)
        })
    }

    fn total(&self) -> Option<Duration> {
        match (self.startup, self.readiness) {
            (None, None) => None,
            (s, r) => Some(s.unwrap_or_default().saturating_add(r.unwrap_or_default())),
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
        .map_or(DEFAULT_DEADLINE, |d| d.saturating_add(MARGIN))
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

/// Far enough to be no deadline, near enough for any clock to represent.
const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `at + d`, saturating: a deadline too far away to be represented is [`FAR`] away (and one
/// that cannot even be that is `at` plus at most `d`).
pub fn later(at: tokio::time::Instant, d: Duration) -> tokio::time::Instant {
    at.checked_add(d)
        .or_else(|| at.checked_add(FAR.min(d)))
        .unwrap_or(at)
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

    #[test]
    fn deadlines_saturate() {
        let now = tokio::time::Instant::now();
        assert!(later(now, Duration::MAX) > now + Duration::from_secs(3600));
        assert_eq!(
            later(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
    }

    #[test]
    fn the_largest_probe_the_api_server_accepts_saturates() {
        let max = i32::MAX;
        let s = spec(json!([{"name": "a", "image": "x",
            "startupProbe": {"initialDelaySeconds": max, "periodSeconds": max,
                             "failureThreshold": max, "tcpSocket": {"port": 80}},
            "readinessProbe": {"initialDelaySeconds": max, "periodSeconds": max,
                               "failureThreshold": max, "tcpSocket": {"port": 80}}}]));
        let b = ContainerBudget::of(&s.containers[0]);
        assert_eq!(b.startup, Some(MAX_WINDOW));
        assert!(b.ready_within().unwrap() >= MAX_WINDOW);
        assert!(deadline(&s) >= MAX_WINDOW);
        let negative = spec(json!([{"name": "a", "image": "x",
            "readinessProbe": {"initialDelaySeconds": i32::MIN, "periodSeconds": i32::MIN,
                               "failureThreshold": i32::MIN, "tcpSocket": {"port": 80}}}]));
        assert_eq!(deadline(&negative), Duration::from_secs(1) + MARGIN);
    }
}
