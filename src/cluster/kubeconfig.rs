//! Checks of the kubeconfig files before kube reads them, so that errors name the file, line and
//! column but never repeat the content (a kubeconfig holds tokens, passwords and keys), and a
//! client certificate rustls cannot use gets a reason instead of a TLS library message.

use super::ConnectError;
use base64::Engine;
use kube::config::{AuthInfo, KubeconfigError};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::{Path, PathBuf};

/// The files kubectl would read without `--kubeconfig`: each of `$KUBECONFIG`, else
/// `~/.kube/config`; only the ones that exist.
pub fn default_files() -> Vec<PathBuf> {
    let files: Vec<PathBuf> = match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(list) => std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        None => std::env::var_os("HOME")
            .map(|h| vec![PathBuf::from(h).join(".kube/config")])
            .unwrap_or_default(),
    };
    files.into_iter().filter(|p| p.is_file()).collect()
}

/// Parse `path` as kube does; a parse error becomes its file, line and column.
pub fn check_file(path: &Path) -> Result<(), ConnectError> {
    kube::config::Kubeconfig::read_from(path)
        .map(|_| ())
        .map_err(|e| error(path, e))
}

/// A kubeconfig error for the user: never the parser's message or excerpt, which quote the
/// file (and so maybe a token).
pub fn error(path: &Path, e: KubeconfigError) -> ConnectError {
    let message = match e {
        KubeconfigError::Parse(p) => match p.location().filter(|l| l.line() > 0) {
            Some(l) => format!(
                "not a valid kubeconfig at line {}, column {} (the content is not shown: it may \
                 hold credentials)",
                l.line(),
                l.column()
            ),
            None => "not a valid kubeconfig (the content is not shown: it may hold credentials)"
                .to_string(),
        },
        other => other.to_string(),
    };
    ConnectError::Kubeconfig {
        path: path.display().to_string(),
        message,
    }
}

/// A client error for the user. An exec credential plugin's output (a token, when it works) and
/// the parser's excerpt of it are never repeated; the plugin is named instead.
pub fn client_error(e: kube::Error, plugin: Option<String>) -> ConnectError {
    use kube::client::AuthError;
    let plugin = plugin.unwrap_or_else(|| "exec".to_string());
    let not_shown = "its output is not shown: it may hold credentials";
    let message = match &e {
        kube::Error::Auth(AuthError::AuthExecRun { out, .. }) => format!(
            "auth error: the credential plugin `{plugin}` of the kubeconfig failed ({}; \
             {not_shown})",
            out.status
        ),
        kube::Error::Auth(AuthError::AuthExecParse(p)) => {
            let at = p
                .location()
                .filter(|l| l.line() > 0)
                .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
                .unwrap_or_default();
            format!(
                "auth error: the credential plugin `{plugin}` of the kubeconfig did not print an \
                 ExecCredential{at} ({not_shown})"
            )
        }
        kube::Error::Auth(AuthError::ParseTokenKey(_)) => {
            format!("auth error: the token of the kubeconfig does not parse ({not_shown})")
        }
        other => other.to_string(),
    };
    ConnectError::Client(message)
}

/// A client certificate that rustls refuses (X.509 v1: rustls and webpki accept only v3) is
/// reported with what to do about it.
pub fn check_client_certificate(auth: &AuthInfo) -> Result<(), ConnectError> {
    let (pem, origin) = if let Some(data) = &auth.client_certificate_data {
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data.trim()) else {
            return Ok(()); // kube reports undecodable data itself
        };
        (bytes, "client-certificate-data".to_string())
    } else if let Some(file) = &auth.client_certificate {
        let Ok(bytes) = std::fs::read(file) else {
            return Ok(());
        };
        (bytes, format!("client-certificate {file}"))
    } else {
        return Ok(());
    };
    let Some(Ok(first)) = CertificateDer::pem_slice_iter(&pem).next() else {
        return Ok(());
    };
    match x509_version(&first) {
        Some(v) if v < 3 => Err(ConnectError::ClientCertificate(format!(
            "the kubeconfig's client certificate ({origin}) is X.509 v{v}; monoship's TLS \
             library (rustls) accepts only v3 certificates: reissue it as v3 (for example \
             `openssl x509 -req … -extfile <(echo extendedKeyUsage=clientAuth)`)"
        ))),
        _ => Ok(()),
    }
}

/// The version (1, 2 or 3) of a DER X.509 certificate; `None` when it does not parse.
pub fn x509_version(der: &[u8]) -> Option<u8> {
    let (tag, cert, _) = der_item(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, tbs, _) = der_item(cert)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, first, _) = der_item(tbs)?;
    // `version [0] EXPLICIT Version DEFAULT v1`: absent means v1.
    if tag != 0xa0 {
        return Some(1);
    }
    match der_item(first)? {
        (0x02, [v], _) if *v < 3 => Some(v + 1),
        _ => None,
    }
}

/// One DER item: its tag, contents and what follows it.
fn der_item(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((tag, b.get(header..end)?, b.get(end..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_of_a_certificate() {
        // SEQUENCE { SEQUENCE { [0] { INTEGER 2 } … } … }
        let v3 = [0x30, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x02, 0x01, 0x02];
        assert_eq!(x509_version(&v3), Some(3));
        // No [0] version: v1 (the serial number comes first).
        let v1 = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x07];
        assert_eq!(x509_version(&v1), Some(1));
        assert_eq!(x509_version(&[0x30, 0x09, 0x30]), None);
        assert_eq!(x509_version(b"not der"), None);
    }

    #[test]
    fn a_parse_error_names_the_line_but_never_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let secret = "monoship-unit-secret-token";
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: {secret}\n   \
                 bad: [\n"
            ),
        )
        .unwrap();
        let text = check_file(&path).unwrap_err().to_string();
        assert!(!text.contains(secret), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("line "), "{text}");
    }
}
