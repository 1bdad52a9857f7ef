use super::*;
use std::collections::HashMap;

fn states(list: &[(&str, State)]) -> Vec<(String, State)> {
    list.iter().map(|(p, s)| (p.to_string(), *s)).collect()
}

#[test]
fn whole_directories_of_files_no_build_reads() {
    use State::*;
    let s = states(&[
        (".circleci/config.yml", Unowned),
        (".circleci/scripts/x.sh", Unowned),
        ("tools/py/pyproject.toml", Unowned),
        ("tools/py/poetry.lock", Unowned),
        ("tools/py/gen/main.py", Unowned),
        ("web/package.json", Unowned),
        ("web/src/index.js", Unowned),
        ("web/README.md", Ignored),
        ("docs/guide.md", Ignored),
        ("scripts/release.sh", Unowned),
        ("config/users.toml", Owned),
        ("config/orders.toml", Unowned),
        ("apps/users/src/main.rs", InPackage),
        ("Cargo.toml", Owned),
        (".dockerignore", Unowned),
        ("rustfmt.toml", Unowned),
    ]);
    let (globs, remaining) = classify(&s, &HashMap::new());
    let got: Vec<(&str, &str, usize)> = globs
        .iter()
        .map(|g| (g.glob.as_str(), g.group.as_str(), g.files))
        .collect();
    assert_eq!(
        got,
        [
            (".circleci/**", ".circleci/", 2),
            ("rustfmt.toml", "rustfmt.toml", 1),
            ("scripts/**", "scripts/", 1),
            ("tools/py/**", "tools/", 3),
            ("web/**", "web/", 2),
        ]
    );
    assert!(globs[3].why.contains("Python project ("), "{globs:?}");
    let rest: Vec<&str> = remaining.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(rest, [".dockerignore", "config/orders.toml"]);
    assert!(remaining[0].why.contains("Docker"), "{remaining:?}");
    assert!(
        remaining[1].why.contains("no rule recognizes"),
        "{remaining:?}"
    );
}

#[test]
fn what_a_build_could_read_stays_out_of_the_globs() {
    use State::*;
    // A file of the tool that a Dockerfile copies, and a Dockerfile of its own.
    let s = states(&[
        ("tools/py/pyproject.toml", Unowned),
        ("tools/py/schema.json", Owned),
        ("tools/py/Dockerfile", Unowned),
        ("tools/py/src/a.py", Unowned),
        ("odd[1]/x.example", Unowned),
    ]);
    let (globs, remaining) = classify(&s, &HashMap::new());
    let got: Vec<&str> = globs.iter().map(|g| g.glob.as_str()).collect();
    assert_eq!(
        got,
        [
            "odd\\[1\\]/x.example",
            "tools/py/**",
            "!tools/py/schema.json",
            "!tools/py/Dockerfile",
        ]
    );
    assert_eq!(remaining.len(), 1);
    assert_eq!(remaining[0].path, "tools/py/Dockerfile");
    // The globs mean what they say.
    let list = crate::globs::GlobList::new(
        &[],
        got.iter().copied(),
        std::path::Path::new("Cargo.toml"),
        "ignore",
    )
    .unwrap();
    assert!(list.is_match("tools/py/src/a.py") && list.is_match("odd[1]/x.example"));
    assert!(!list.is_match("tools/py/schema.json") && !list.is_match("tools/py/Dockerfile"));
}

#[test]
fn a_directory_holding_package_files_gets_a_glob_per_file() {
    use State::*;
    let s = states(&[
        ("web/package.json", Unowned),
        ("web/index.js", Unowned),
        ("web/wasm/src/lib.rs", InPackage),
    ]);
    let (globs, remaining) = classify(&s, &HashMap::new());
    let got: Vec<&str> = globs.iter().map(|g| g.glob.as_str()).collect();
    assert_eq!(got, ["web/package.json", "web/index.js"]);
    assert!(remaining.is_empty());
}

#[test]
fn a_dockerfile_outside_packages_is_named_after_its_service() {
    let ws = crate::workspace::fake(&["users", "orders"]);
    let named = |p: &str| named_service(&ws, p).map(|i| ws.services[i].name.as_str());
    assert_eq!(named("docker/users.Dockerfile"), Some("users"));
    assert_eq!(named("docker/orders/Dockerfile"), Some("orders"));
    assert_eq!(named("ops/Dockerfile.users"), Some("users"));
    assert_eq!(named("ops/Dockerfile-orders"), Some("orders"));
    assert_eq!(named("docker/Dockerfile"), None);
    assert_eq!(named("docker/base.Dockerfile"), None);
}

#[test]
fn a_nested_project_needs_no_exceptions_in_its_parent() {
    use State::*;
    let s = states(&[
        ("web/package.json", Unowned),
        ("web/index.js", Unowned),
        ("web/admin/package.json", Unowned),
        ("web/admin/a.js", Unowned),
    ]);
    let (globs, remaining) = classify(&s, &HashMap::new());
    let got: Vec<&str> = globs.iter().map(|g| g.glob.as_str()).collect();
    assert_eq!(got, ["web/**", "web/admin/**"]);
    assert!(remaining.is_empty());
}

#[test]
fn what_another_dockerfile_copies_is_kept_out_of_the_globs() {
    use State::*;
    let s = states(&[
        ("scripts/check-deps.sh", Unowned),
        ("scripts/release.sh", Unowned),
    ]);
    let keep = HashMap::from([(
        "scripts/check-deps.sh".to_string(),
        "copied into an image by Dockerfile:87".to_string(),
    )]);
    let (globs, remaining) = classify(&s, &keep);
    let got: Vec<&str> = globs.iter().map(|g| g.glob.as_str()).collect();
    assert_eq!(got, ["scripts/**", "!scripts/check-deps.sh"]);
    assert_eq!(remaining.len(), 1);
    assert_eq!(remaining[0].why, "copied into an image by Dockerfile:87");
}
