//! `{name}` placeholders in the name templates of the configuration (`deployment`, `image`).

/// Replace each `{name}` in `template` by its value in `values`, whose names, in order, are
/// the known ones. A value given as `Err(why)` is not available: a template that uses it fails
/// with `why`. An unknown name or a `{` without its `}` is an error naming `what` (e.g.
/// `image template`) and the template.
use crate::invalid::Invalid;
pub fn expand(
    what: &str,
    template: &str,
    values: &[(&str, Result<&str, &str>)],
) -> Result<String, Invalid> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| Invalid(format!("{what} `{template}`: unclosed `{{`")))?;
        let name = &after[..end];
        match values.iter().find(|(n, _)| *n == name) {
            Some((_, Ok(value))) => out.push_str(value),
            Some((_, Err(why))) => return Err(Invalid::from(*why)),
            None => {
                let known: Vec<String> = values.iter().map(|(n, _)| format!("{{{n}}}")).collect();
                return Err(Invalid(format!(
                    "{what} `{template}`: unknown placeholder `{{{name}}}` (known: {})",
                    known.join(", ")
                )));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: &[(&str, Result<&str, &str>)] = &[
        ("service", Ok("users")),
        ("prefix", Ok("acme-")),
        ("registry", Err("no registry")),
    ];

    #[test]
    fn placeholders_are_replaced() {
        assert_eq!(
            expand("t", "{prefix}{service}-api", VALUES).unwrap(),
            "acme-users-api"
        );
        assert_eq!(expand("t", "plain", VALUES).unwrap(), "plain");
        assert_eq!(expand("t", "", VALUES).unwrap(), "");
        assert_eq!(expand("t", "x}{service}}", VALUES).unwrap(), "x}users}");
    }

    #[test]
    fn unknown_unclosed_and_unavailable_placeholders_are_errors() {
        let cases = [
            (
                "deployment template",
                "{service}-{nope}",
                "deployment template `{service}-{nope}`: unknown placeholder `{nope}` \
                 (known: {service}, {prefix}, {registry})",
            ),
            (
                "image template",
                "{service",
                "image template `{service`: unclosed `{`",
            ),
            (
                "image template",
                "a/{service}/{",
                "image template `a/{service}/{`: unclosed `{`",
            ),
            (
                "t",
                "{}",
                "t `{}`: unknown placeholder `{}` (known: {service}, {prefix}, {registry})",
            ),
            ("t", "{registry}/{service}", "no registry"),
        ];
        for (what, template, error) in cases {
            assert_eq!(
                expand(what, template, VALUES).unwrap_err().0,
                error,
                "{template}"
            );
        }
    }
}
