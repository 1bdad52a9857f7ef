//! `sha256:` digests as OCI writes them (content addresses of blobs, layers' `diff_ids`).

use sha2::{Digest, Sha256};

/// `sha256:` and the lowercase hex SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// The hex part of a `sha256:` digest: the name of its blob file.
pub fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_and_hex() {
        let d = sha256(b"");
        assert_eq!(
            d,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(hex(&d), &d["sha256:".len()..]);
    }
}
