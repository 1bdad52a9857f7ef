//! Verifies the fleet's bearer tokens.
//!
//! A token is `<issuer>.<subject>.<issued_at_ms>.<signature>`, the signature
//! being a keyed FNV-1a hash of the first three parts. It is a demo scheme, not
//! cryptography.

use std::fmt;

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub issuer: String,
    pub subject: String,
    pub issued_at_ms: u64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    Malformed,
    WrongIssuer,
    BadSignature,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthError::Missing => "no bearer token",
            AuthError::Malformed => "malformed token",
            AuthError::WrongIssuer => "token from another issuer",
            AuthError::BadSignature => "bad token signature",
        })
    }
}

impl std::error::Error for AuthError {}

/// Issues and verifies tokens with one issuer and secret.
#[derive(Debug, Clone)]
pub struct Verifier {
    issuer: String,
    secret: String,
}

impl Verifier {
    pub fn from_settings(settings: &config::Settings) -> Self {
        Verifier {
            issuer: settings.auth_issuer.clone(),
            secret: settings.auth_secret.clone(),
        }
    }

    /// A fresh token for `subject` (which must not contain `.`).
    pub fn issue(&self, subject: &str) -> String {
        let body = format!("{}.{}.{}", self.issuer, subject, common::unix_millis());
        format!("{body}.{:016x}", self.sign(&body))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let (body, sig) = token.rsplit_once('.').ok_or(AuthError::Malformed)?;
        let mut parts = body.split('.');
        let (Some(issuer), Some(subject), Some(at), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };
        let issued_at_ms = at.parse().map_err(|_| AuthError::Malformed)?;
        if subject.is_empty() {
            return Err(AuthError::Malformed);
        }
        if issuer != self.issuer {
            return Err(AuthError::WrongIssuer);
        }
        if sig != format!("{:016x}", self.sign(body)) {
            return Err(AuthError::BadSignature);
        }
        Ok(Claims {
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            issued_at_ms,
        })
    }

    /// Verifies the token of an `Authorization: Bearer <token>` header value.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Claims, AuthError> {
        let token = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        self.verify(token)
    }

    fn sign(&self, body: &str) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.secret.bytes().chain([0]).chain(body.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> Verifier {
        Verifier::from_settings(&config::Settings::for_tests("auth-client"))
    }

    #[test]
    fn issued_tokens_verify() {
        let v = verifier();
        let token = v.issue("ada");
        let claims = v.verify(&token).unwrap();
        assert_eq!(claims.subject, "ada");
        let header = format!("Bearer {token}");
        assert_eq!(v.verify_header(Some(&header)).unwrap(), claims);
    }

    #[test]
    fn tampered_and_missing_tokens_fail() {
        let v = verifier();
        let token = v.issue("ada").replace(".ada.", ".eve.");
        assert_eq!(v.verify(&token), Err(AuthError::BadSignature));
        assert_eq!(v.verify("junk"), Err(AuthError::Malformed));
        assert_eq!(v.verify_header(None), Err(AuthError::Missing));
    }
}
