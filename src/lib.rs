pub mod changes;
pub mod config;
pub mod workspace;
pub mod manifest;
pub mod refs;
