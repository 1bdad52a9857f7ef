//! monoship's stages (affected, builder, publish, deploy, generate, init) and the pipeline that
//! composes them ([`pipeline`]). The library never prints: stages return data and emit events,
//! and the command line renders them.
#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod affected;
pub mod atomic;
pub mod builder;
pub mod changes;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod deploy;
pub mod dockerfile;
pub mod generate;
pub mod globs;
pub mod image;
pub mod init;
pub mod invalid;
pub mod objects;
pub mod parallel;
pub mod pipeline;
pub mod placeholders;
pub mod publish;
pub mod registry;
pub mod workspace;

/// Every TLS connection (registries, the Kubernetes API) uses rustls with ring, the one crypto
/// provider monoship is built with; this makes it the process default before a client is built.
pub(crate) fn use_ring() {
    // An error only says a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
