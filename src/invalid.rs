//! [`Invalid`]: input that does not pass one of the library's checks (an image reference or
//! name, a registry, a tag, a record, a manifest, a Kubernetes name, a template).

/// Input that does not pass a check; the one line says what is wrong and with which value.
/// Always bad input: every stage error that carries one is a usage error (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl From<String> for Invalid {
    fn from(message: String) -> Self {
        Invalid(message)
    }
}

impl From<&str> for Invalid {
    fn from(message: &str) -> Self {
        Invalid(message.to_string())
    }
}

impl Invalid {
    /// The same error, said of `what` (`"users: …"`).
    pub fn of(self, what: &str) -> Self {
        Invalid(format!("{what}: {}", self.0))
    }
}
