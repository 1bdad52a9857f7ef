//! The assertions every case of the fault suite makes about a command that must fail: its exit
//! code, one `error:` line naming the thing at fault, nothing on stdout, no panic, and no planted
//! secret in any output stream. The state after (files, tags, Deployments) is each case's own.

use super::run::Run;

/// Secrets planted by fault cases; none may appear in any output of any case.
pub const SECRETS: &[&str] = &[
    "monoship-planted-token-7f3a9c",
    "monoship-planted-password-51be",
    "monoship-planted-key-c0ffee",
];

/// One expected failure.
pub struct Expect<'a> {
    /// The case's name, for messages.
    pub case: &'a str,
    /// The exit code from README's table.
    pub code: i32,
    /// Words the error line must contain (the thing at fault).
    pub names: &'a [&'a str],
}

/// Checks `run` against `expect`; returns stderr for further checks.
pub fn assert_fails(run: &Run, expect: &Expect) -> String {
    let (stdout, stderr) = (&run.stdout, &run.stderr);
    let case = expect.case;
    let context = format!("case `{case}`:\nstdout: {stdout}\nstderr: {stderr}");
    assert_eq!(run.code, expect.code, "exit code of {context}");
    assert!(stdout.is_empty(), "stdout must be empty in {context}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "panic in {context}"
    );
    assert_no_secret(&[stdout, stderr], case);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one `error:` line in {context}");
    for name in expect.names {
        assert!(
            errors[0].contains(name),
            "the error line must name `{name}` in {context}"
        );
    }
    stderr.clone()
}

/// No planted secret in any of `streams`.
pub fn assert_no_secret(streams: &[&str], case: &str) {
    for s in streams {
        for secret in SECRETS {
            assert!(
                !s.contains(secret),
                "case `{case}` printed a planted secret:\n{s}"
            );
        }
    }
}
