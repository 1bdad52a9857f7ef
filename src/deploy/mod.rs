//! `monoship deploy` and `monoship rollback`: change a service's image on its Deployment, follow
//! that one rollout to a verdict, and roll back what fails.

pub mod error;
pub mod history;
pub mod logs;
pub mod revisions;
pub mod status;

pub use error::DeployError;
