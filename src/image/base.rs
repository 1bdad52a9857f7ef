//! The built-in base for static binaries: a `scratch`-like root with a CA bundle, a `nonroot`
//! user and group (65532), `/tmp` and `/app`, made by monoship itself so it is the same
//! everywhere and needs no registry.

use super::layer::Entry;
use base64::Engine as _;

pub const NONROOT: u32 = 65532;

/// The CA certificates (Mozilla's root store, as shipped by `webpki-root-certs`) in PEM.
pub fn ca_bundle() -> Vec<u8> {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut out = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let b64 = engine.encode(cert.as_ref());
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out.into_bytes()
}

pub fn entries() -> Vec<Entry> {
    let file = |path: &str, mode: u32, data: Vec<u8>| Entry::File {
        path: path.into(),
        mode,
        data,
    };
    let dir = |path: &str, mode: u32| Entry::Dir {
        path: path.into(),
        mode,
    };
    vec![
        dir("app", 0o755),
        dir("etc", 0o755),
        dir("etc/ssl", 0o755),
        dir("etc/ssl/certs", 0o755),
        dir("tmp", 0o1777),
        file("etc/ssl/certs/ca-certificates.crt", 0o444, ca_bundle()),
        file(
            "etc/passwd",
            0o444,
            format!("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n").into_bytes(),
        ),
        file("etc/group", 0o444, format!("root:x:0:\nnonroot:x:{NONROOT}:\n").into_bytes()),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn bundle_has_many_certificates() {
        let pem = String::from_utf8(super::ca_bundle()).unwrap();
        assert!(pem.matches("BEGIN CERTIFICATE").count() > 50);
    }
}
