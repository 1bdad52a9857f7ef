//! What the tests share: the fleet in a throw-away repository, the `monoship` binary run
//! against it, the test environment (cluster, registries, podman) and the fault suite's
//! helpers.

pub mod apiserver;
pub mod cases;
pub mod cluster;
pub mod deploy_faults;
pub mod fault;
pub mod fleet;
pub mod git;
pub mod http;
pub mod market;
pub mod registry;
pub mod rollout;
pub mod run;
pub mod servers;
pub mod shaped;
pub mod snapshot;
pub mod testenv;
pub mod tiny;
