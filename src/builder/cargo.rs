//! One `cargo build` per group of services: the command line (static linking, paths remapped
//! for reproducible binaries), its JSON messages turned into events, and a failure summed up.

use super::{BuildError, Event, Options};
use crate::workspace::{Service, Workspace};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};

pub(super) fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"))
}

/// One cargo invocation for `group`; returns service → executable.
pub(super) fn compile(
    ws: &Workspace,
    opts: &Options,
    group: &[&Service],
    static_link: bool,
    emit: &mut dyn FnMut(Event),
) -> Result<BTreeMap<String, PathBuf>, BuildError> {
    let names = group
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let failed = |summary: String| BuildError::Compile {
        services: names.clone(),
        summary,
    };
    let mut child = command(ws, opts, group, static_link)
        .spawn()
        .map_err(|e| failed(format!("cannot run cargo: {e}")))?;
    let stderr = child.stderr.take().expect("piped");
    let stderr_tail = std::thread::spawn(move || {
        let mut tail: Vec<String> = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            tail.push(line);
            if tail.len() > 20 {
                tail.remove(0);
            }
        }
        tail
    });
    let stdout = BufReader::new(child.stdout.take().expect("piped"));
    let (out, errors) = read_messages(ws, group, stdout, emit);
    let status = child.wait().map_err(|e| failed(e.to_string()))?;
    let tail = stderr_tail.join().unwrap_or_default();
    if !status.success() {
        return Err(failed(summary(&errors, &tail, status)));
    }
    Ok(out)
}

/// `cargo build --locked --message-format json-render-diagnostics -p … --bin …` for `group`.
fn command(ws: &Workspace, opts: &Options, group: &[&Service], static_link: bool) -> Command {
    let mut rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
    if static_link {
        rustflags.push_str(" -C target-feature=+crt-static");
    }
    rustflags.push_str(&format!(
        " --remap-path-prefix={}=/build --remap-path-prefix={}=/cargo",
        ws.root.display(),
        cargo_home().display()
    ));
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args([
        "build",
        "--locked",
        "--message-format",
        "json-render-diagnostics",
        "--manifest-path",
    ])
    .arg(&ws.manifest)
    .args(["--profile", &opts.profile, "--target", &opts.target]);
    for s in group {
        cmd.args(["-p", &s.package, "--bin", &s.binary]);
    }
    // The services of a group share their feature settings (see `plan_groups`).
    if let Some(first) = group.first() {
        cmd.args(
            first
                .features
                .cargo_args(group.iter().map(|s| s.package.as_str())),
        );
    }
    if opts.offline {
        cmd.arg("--offline");
    }
    cmd.env("RUSTFLAGS", rustflags.trim())
        .env("SOURCE_DATE_EPOCH", opts.epoch.to_string())
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    cmd
}

/// Cargo's messages as events: the executables of `group`'s services, and the errors.
fn read_messages(
    ws: &Workspace,
    group: &[&Service],
    stdout: impl BufRead,
    emit: &mut dyn FnMut(Event),
) -> (BTreeMap<String, PathBuf>, Vec<String>) {
    let mut out = BTreeMap::new();
    let mut errors: Vec<String> = Vec::new();
    for msg in cargo_metadata::Message::parse_stream(stdout) {
        let Ok(msg) = msg else { continue };
        match msg {
            cargo_metadata::Message::CompilerArtifact(a) => {
                emit(Event::Unit {
                    name: a.target.name.clone(),
                    fresh: a.fresh,
                });
                let Some(exe) = a.executable else { continue };
                // Every service of the group that runs this binary (of this package).
                for s in group.iter().filter(|s| {
                    s.binary == a.target.name
                        && ws
                            .package(&s.package)
                            .is_some_and(|p| p.manifest_path == a.manifest_path.as_std_path())
                }) {
                    out.insert(s.name.clone(), exe.clone().into_std_path_buf());
                }
            }
            cargo_metadata::Message::CompilerMessage(m) => {
                let level = format!("{:?}", m.message.level).to_lowercase();
                let package = m.target.name.clone();
                if level.starts_with("error") {
                    errors.push(format!("{package}: {}", m.message.message));
                }
                emit(Event::Diagnostic {
                    package,
                    level,
                    rendered: m.message.rendered.unwrap_or(m.message.message),
                });
            }
            _ => {}
        }
    }
    (out, errors)
}

/// A failed build in one line: the first compiler error, else cargo's last `error` line.
fn summary(errors: &[String], stderr_tail: &[String], status: ExitStatus) -> String {
    match errors.first() {
        Some(first) => format!("{} error(s); first: {first}", errors.len()),
        None => stderr_tail
            .iter()
            .rev()
            .find(|l| l.starts_with("error"))
            .cloned()
            .unwrap_or_else(|| format!("cargo exited with {status}")),
    }
}
