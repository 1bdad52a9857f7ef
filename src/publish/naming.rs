//! Image names and tags: the `image` template (`{registry}`, `{prefix}`, `{service}`), the
//! registry host it starts with, repository and tag syntax.

/// The default `image` template.
use crate::invalid::Invalid;
pub const DEFAULT_TEMPLATE: &str = "{registry}/{service}";

/// Length of the revision tag.
pub const SHORT_SHA: usize = 12;

/// Where one service's image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// `name[:port]`
    pub host: String,
    /// The repository path inside the registry.
    pub repository: String,
}

impl std::fmt::Display for ImageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.host, self.repository)
    }
}

/// `--registry` / `registry`: `HOST[/PREFIX]`, without a scheme or trailing slash.
pub fn normalize_registry(registry: &str) -> Result<String, Invalid> {
    let r = registry.trim().trim_end_matches('/');
    if r.contains("://") {
        return Err(Invalid(format!(
            "registry `{registry}`: give HOST[/PREFIX] without a scheme \
             (plain HTTP is --insecure, for a registry on this machine only)"
        )));
    }
    if r.is_empty() {
        return Err("the registry is empty".into());
    }
    Ok(r.to_string())
}

/// A template with `{registry}` and no registry given.
const NO_REGISTRY: &str =
    "no registry: pass --registry HOST[/PREFIX] or set `registry` in [workspace.metadata.monoship]";

/// Expand `template` for `service`.
pub fn image_name(
    template: &str,
    registry: Option<&str>,
    prefix: &str,
    service: &str,
) -> Result<ImageName, Invalid> {
    let out = crate::placeholders::expand(
        "image template",
        template,
        &[
            ("registry", registry.ok_or(NO_REGISTRY)),
            ("prefix", Ok(prefix)),
            ("service", Ok(service)),
        ],
    )?;
    let (host, repository) = out.split_once('/').ok_or_else(|| {
        format!(
            "image `{out}` (from template `{template}`) has no repository after the registry host"
        )
    })?;
    if !looks_like_host(host) {
        return Err(Invalid(format!(
            "image `{out}` (from template `{template}`) does not start with a registry host \
             (HOST or HOST:PORT, e.g. ghcr.io or 127.0.0.1:5000)"
        )));
    }
    if let Err(why) = check_repository(repository) {
        return Err(Invalid(format!(
            "image `{out}`: repository `{repository}` {why}"
        )));
    }
    Ok(ImageName {
        host: host.to_string(),
        repository: repository.to_string(),
    })
}

fn looks_like_host(h: &str) -> bool {
    !h.is_empty()
        && (h.contains('.') || h.contains(':') || h == "localhost" || h.starts_with('['))
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

/// The distribution spec's repository grammar: `/`-separated components of lowercase letters
/// and digits joined by `.`, `_`, `__` or runs of `-`.
fn check_repository(repo: &str) -> Result<(), &'static str> {
    if repo.len() > 255 {
        return Err("is longer than 255 characters");
    }
    for component in repo.split('/') {
        let bytes = component.as_bytes();
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if bytes.is_empty() {
            return Err("has an empty path component");
        }
        if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
            return Err("must start and end each component with a lowercase letter or digit");
        }
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if alnum(b) {
                i += 1;
                continue;
            }
            let sep_start = i;
            while i < bytes.len() && !alnum(bytes[i]) {
                i += 1;
            }
            let sep = &component[sep_start..i];
            let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
            if !ok {
                return Err(
                    "may only contain lowercase letters, digits and single `.`, `_`, `__` or `-` separators",
                );
            }
        }
    }
    Ok(())
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), Invalid> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "invalid tag `{tag}`: up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
        )))
    }
}

/// The tags of an image of `revision`: its first 12 hex digits, then `extra` (deduplicated,
/// order kept).
pub fn tags(revision: &str, extra: &[String]) -> Result<Vec<String>, Invalid> {
    let short: String = revision.chars().take(SHORT_SHA).collect();
    let mut out = Vec::new();
    for t in std::iter::once(&short).chain(extra) {
        check_tag(t)?;
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_template() {
        let n = image_name(DEFAULT_TEMPLATE, Some("127.0.0.1:5000/team"), "", "users").unwrap();
        assert_eq!(n.host, "127.0.0.1:5000");
        assert_eq!(n.repository, "team/users");
        assert_eq!(n.to_string(), "127.0.0.1:5000/team/users");
    }

    #[test]
    fn prefix_and_fixed_host() {
        let n = image_name("ghcr.io/acme/{prefix}{service}", None, "shop-", "orders").unwrap();
        assert_eq!(n.to_string(), "ghcr.io/acme/shop-orders");
    }

    #[test]
    fn bad_templates() {
        let e = image_name("{registry}/{name}", Some("r.io"), "", "a")
            .unwrap_err()
            .0;
        assert!(e.contains("unknown placeholder `{name}`"), "{e}");
        let e = image_name("{registry}/{service}", None, "", "a")
            .unwrap_err()
            .0;
        assert!(e.contains("--registry"), "{e}");
        let e = image_name("acme/{service}", None, "", "a").unwrap_err().0;
        assert!(e.contains("registry host"), "{e}");
        let e = image_name("{registry}/{service}", Some("r.io"), "", "Users")
            .unwrap_err()
            .0;
        assert!(e.contains("lowercase"), "{e}");
        assert!(image_name("{registry}/{service}", Some("r.io"), "", "a--b__c.d").is_ok());
        assert!(image_name("{registry}/{service}", Some("r.io"), "", "a..b").is_err());
    }

    #[test]
    fn tag_rules() {
        assert_eq!(
            tags(
                &"0123456789abcdef".repeat(2),
                &["latest".into(), "0123456789ab".into()]
            )
            .unwrap(),
            vec!["0123456789ab", "latest"]
        );
        assert!(tags("abc", &["-x".into()]).is_err());
        assert!(tags("abc", &["a/b".into()]).is_err());
        assert!(check_tag(&"a".repeat(129)).is_err());
    }

    #[test]
    fn registry_syntax() {
        assert_eq!(normalize_registry("r.io/x/").unwrap(), "r.io/x");
        assert!(normalize_registry("http://r.io").is_err());
    }
}
