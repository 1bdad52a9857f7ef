//! `monoship deploy` and `monoship rollback`: change a service's image on its Deployment, follow
//! that one rollout to a verdict, and roll back what fails.

pub mod error;
pub mod revisions;

pub use error::DeployError;
