pub mod affected;
pub mod build;
pub mod changes;
pub mod config;
pub mod image;
pub mod manifest;
pub mod refs;
pub mod workspace;
