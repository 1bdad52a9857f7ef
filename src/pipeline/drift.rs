//! `monoship status --env staging,production`: per service, what each environment runs
//! (revision, digest, rollout state), whether they all run the same digest, and how many
//! commits each later environment is behind the first.

use crate::deploy::status::{ServiceStatus, State};
use serde::Serialize;

/// A service in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InEnvironment {
    pub environment: String,
    pub namespace: String,
    pub state: State,
    pub revision: Option<String>,
    pub digest: Option<String>,
    /// Why the rollout is progressing or failed.
    pub reason: Option<String>,
}

/// How far an environment is behind the first one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Behind {
    pub environment: String,
    /// Commits of the first environment's revision that this one's lacks (0: the same
    /// revision); `None` when a revision is unknown or not in this repository.
    pub commits: Option<u64>,
}

/// One service across the environments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftRow {
    pub service: String,
    /// In the order the environments were named.
    pub environments: Vec<InEnvironment>,
    /// Every environment runs the same digest.
    pub same: bool,
    /// Each environment after the first, against the first.
    pub behind: Vec<Behind>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftReport {
    pub environments: Vec<String>,
    pub services: Vec<DriftRow>,
}

impl DriftReport {
    /// The services whose environments run different digests (or one runs none).
    pub fn drifted(&self) -> impl Iterator<Item = &DriftRow> {
        self.services.iter().filter(|r| !r.same)
    }
}

/// The report of `envs` (each environment's name and its services' statuses, services in the
/// same order); `commits_between(older, newer)` counts the commits `newer` has that `older`
/// has not.
pub fn drift(
    envs: &[(String, Vec<ServiceStatus>)],
    commits_between: impl Fn(&str, &str) -> Option<u64>,
) -> DriftReport {
    let Some((_, first)) = envs.first() else {
        return DriftReport {
            environments: Vec::new(),
            services: Vec::new(),
        };
    };
    let services = first
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let environments: Vec<InEnvironment> = envs
                .iter()
                .filter_map(|(name, statuses)| {
                    let st = statuses.get(i)?;
                    Some(InEnvironment {
                        environment: name.clone(),
                        namespace: st.namespace.clone(),
                        state: st.state,
                        revision: st.revision.clone(),
                        digest: st.digest.clone(),
                        reason: st.reason.clone(),
                    })
                })
                .collect();
            let lead = &environments[0];
            let same =
                lead.digest.is_some() && environments.iter().all(|e| e.digest == lead.digest);
            let behind = environments[1..]
                .iter()
                .map(|e| Behind {
                    environment: e.environment.clone(),
                    commits: match (&e.revision, &lead.revision) {
                        (Some(a), Some(b)) if a == b => Some(0),
                        (Some(older), Some(newer)) => commits_between(older, newer),
                        _ => None,
                    },
                })
                .collect();
            DriftRow {
                service: s.service.clone(),
                environments,
                same,
                behind,
            }
        })
        .collect();
    DriftReport {
        environments: envs.iter().map(|(n, _)| n.clone()).collect(),
        services,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(service: &str, digest: Option<&str>, revision: Option<&str>) -> ServiceStatus {
        ServiceStatus {
            service: service.into(),
            namespace: "ns".into(),
            deployment: service.into(),
            desired: Some(1),
            updated: Some(1),
            ready: Some(1),
            available: Some(1),
            image: None,
            digest: digest.map(str::to_string),
            revision: revision.map(str::to_string),
            state: if digest.is_some() {
                State::Complete
            } else {
                State::Missing
            },
            reason: None,
            age_seconds: None,
        }
    }

    #[test]
    fn same_digests_differing_ones_and_commits_behind() {
        let staging = vec![
            st("users", Some("sha256:a"), Some("r2")),
            st("orders", Some("sha256:b"), Some("r3")),
            st("email", Some("sha256:c"), Some("r3")),
        ];
        let production = vec![
            st("users", Some("sha256:a"), Some("r2")),
            st("orders", Some("sha256:x"), Some("r1")),
            st("email", None, None),
        ];
        let report = drift(
            &[
                ("staging".into(), staging),
                ("production".into(), production),
            ],
            |older, newer| (older == "r1" && newer == "r3").then_some(2),
        );
        assert_eq!(report.environments, ["staging", "production"]);
        let rows: Vec<(&str, bool, Option<u64>)> = report
            .services
            .iter()
            .map(|r| (r.service.as_str(), r.same, r.behind[0].commits))
            .collect();
        assert_eq!(
            rows,
            [
                ("users", true, Some(0)),
                ("orders", false, Some(2)),
                ("email", false, None)
            ]
        );
        let drifted: Vec<&str> = report.drifted().map(|r| r.service.as_str()).collect();
        assert_eq!(drifted, ["orders", "email"]);
        assert_eq!(report.services[2].environments[1].state, State::Missing);
    }
}
