//! The integration tests of monoship, one test binary: the real binary against copies of
//! `examples/fleet` in throw-away git repositories, real cargo builds, and the test environment
//! of `scripts/testenv/up` (a Kubernetes control plane, OCI registries, podman).
//!
//! The tests run in parallel threads of this one process. What they share is in `support`;
//! the test cluster is shared too, but for the tests that take its API server away, which have
//! it alone (`support::cluster::alone`).

mod support;

mod affected;
mod affected_carried;
mod affected_errors;
mod affected_features;
mod affected_fixtures;
mod affected_inputs;
mod affected_output;
mod build;
mod build_base;
mod build_podman;
mod build_progress;
mod build_strip;
mod check;
mod clusters;
mod demo;
mod deploy;
mod deploy_access;
mod deploy_apiserver;
mod deploy_failures;
mod deploy_rollback;
mod deploy_sets;
mod deploy_sources;
mod deploy_verdicts;
mod environments;
mod faults_creds;
mod faults_deploy;
mod faults_files;
mod faults_signals;
mod generate;
mod generate_k8s;
mod generate_k8s_envs;
mod generate_workflow;
mod history_logs;
mod init;
mod promote;
mod publish;
mod publish_layout;
mod replay;
mod replay_truth;
mod services;
mod ship;
mod status;
mod testenv_k8s;
mod testenv_podman;
mod testenv_registry;
