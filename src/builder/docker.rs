//! Build service images with Docker (BuildKit through `docker buildx`) or Podman from the
//! generated `Dockerfile.monoship`: one build per service, a bounded number at a time, each
//! build's output in its own log file.
//!
//! The stage has three steps: [`plan`] (pure apart from looking for the Dockerfile and the cache:
//! the exact command lines), [`preflight`] (the program is on `PATH` and can reach its daemon or
//! storage) and [`run`] (the builds; progress is reported as [`Event`]s, nothing is printed).

use crate::generate::dockerfile::{self, DOCKERFILE};
use crate::workspace::Workspace;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// How many characters of the revision image tags carry.
pub const SHORT_REVISION: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Docker,
    Podman,
}

impl Engine {
    pub fn program(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DockerBuildError {
    /// Exit code 2.
    #[error("{path} not found: run `monoship generate dockerfile` first")]
    NoDockerfile { path: String },
    /// A service's `docker` settings are malformed (exit code 2).
    #[error(transparent)]
    Settings(crate::generate::GenerateError),
    /// Exit code 2.
    #[error(
        "service `{service}` is configured with cargo features, which {DOCKERFILE} does not pass to cargo: build it with --builder monoship"
    )]
    Features { service: String },
    #[error("`{program}` not found on PATH: install it, or pick another --builder")]
    NoProgram { program: &'static str },
    #[error("{program} is not usable: {detail}")]
    Unavailable {
        program: &'static str,
        detail: String,
    },
    /// Some builds failed (after every build ended).
    #[error("{program} build failed for {} (logs in {})", .services.join(", "), .logs.display())]
    Failed {
        program: &'static str,
        services: Vec<String>,
        logs: PathBuf,
    },
    /// The built image could not be exported into the OCI layout.
    #[error("{service}: exporting the image from {program}: {detail}")]
    Export {
        program: &'static str,
        service: String,
        detail: String,
    },
}

impl DockerBuildError {
    /// Bad input rather than a failed operation.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            DockerBuildError::NoDockerfile { .. }
                | DockerBuildError::Settings(_)
                | DockerBuildError::Features { .. }
        )
    }
}

/// The inputs of one service's command line.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub engine: Engine,
    /// The workspace root: the build context, holding the Dockerfile.
    pub root: &'a Path,
    pub service: &'a str,
    /// The full revision (a label); tags carry its first [`SHORT_REVISION`] characters.
    pub revision: &'a str,
    /// The time the image is dated (seconds since the epoch: the commit's, or
    /// `SOURCE_DATE_EPOCH`), so the same commit gives the same image.
    pub epoch: u64,
    /// `<target-dir>/monoship/docker-cache` (Docker only).
    pub cache_root: &'a Path,
    /// Whether a previous build left a cache to import (Docker only).
    pub import_cache: bool,
    /// `NAME=VALUE` build arguments after `SERVICE_NAME` ([`dockerfile::build_args`]).
    pub build_args: &'a [String],
}

/// `<service>:<short revision>`.
pub fn tag(service: &str, revision: &str) -> String {
    let short: String = revision.chars().take(SHORT_REVISION).collect();
    format!("{service}:{short}")
}

/// The cache of one service, and where a build exports the next one (moved over the old one
/// when the build succeeds, so the directory does not keep every old layer).
pub fn cache_dirs(cache_root: &Path, service: &str) -> (PathBuf, PathBuf) {
    (
        cache_root.join(service),
        cache_root.join(format!("{service}.new")),
    )
}

/// The arguments (after the program name) that build one service.
pub fn command_line(req: &Request<'_>) -> Vec<String> {
    let root = req.root.display().to_string();
    let dockerfile = req.root.join(DOCKERFILE).display().to_string();
    let mut args: Vec<String> = match req.engine {
        Engine::Docker => vec!["buildx".into(), "build".into()],
        Engine::Podman => vec!["build".into()],
    };
    args.extend([
        "--file".into(),
        dockerfile,
        "--build-arg".into(),
        format!("SERVICE_NAME={}", req.service),
    ]);
    for arg in req.build_args {
        args.extend(["--build-arg".into(), arg.clone()]);
    }
    args.extend([
        "--tag".into(),
        tag(req.service, req.revision),
        "--label".into(),
        format!("org.opencontainers.image.revision={}", req.revision),
    ]);
    match req.engine {
        Engine::Docker => {
            let (cache, next) = cache_dirs(req.cache_root, req.service);
            args.extend([
                "--build-arg".into(),
                format!("SOURCE_DATE_EPOCH={}", req.epoch),
                "--progress".into(),
                "plain".into(),
                "--load".into(),
            ]);
            if req.import_cache {
                args.extend([
                    "--cache-from".into(),
                    format!("type=local,src={}", cache.display()),
                ]);
            }
            args.extend([
                "--cache-to".into(),
                format!("type=local,dest={},mode=max", next.display()),
            ]);
        }
        Engine::Podman => args.extend([
            "--timestamp".into(),
            req.epoch.to_string(),
            "--layers".into(),
        ]),
    }
    args.push(root);
    args
}

/// One planned build.
#[derive(Debug, Clone)]
pub struct Job {
    pub service: String,
    pub tag: String,
    pub args: Vec<String>,
    pub log: PathBuf,
    /// `(cache, next)`: on success `next` replaces `cache` (Docker only).
    pub cache: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub engine: Engine,
    /// Services to build (validated names); empty means every service.
    pub services: Vec<String>,
    /// The full git revision of the build.
    pub revision: String,
    /// The time the images are dated ([`Request::epoch`]).
    pub epoch: u64,
}

/// The builds to run: fails when the Dockerfile is missing, a service's `docker` settings are
/// malformed, or a service is configured with features (the Dockerfile builds cargo's
/// defaults).
pub fn plan(ws: &Workspace, opts: &Options) -> Result<Vec<Job>, DockerBuildError> {
    let dockerfile = ws.root.join(DOCKERFILE);
    if !dockerfile.is_file() {
        return Err(DockerBuildError::NoDockerfile {
            path: dockerfile.display().to_string(),
        });
    }
    let selected: Vec<_> = ws
        .services
        .iter()
        .filter(|s| opts.services.is_empty() || opts.services.contains(&s.name))
        .collect();
    if let Some(s) = selected.iter().find(|s| !s.features.is_default()) {
        return Err(DockerBuildError::Features {
            service: s.name.clone(),
        });
    }
    let out = ws.target_dir.join("monoship");
    let cache_root = out.join("docker-cache");
    let logs = out.join("docker-logs");
    selected
        .into_iter()
        .map(|s| {
            let build_args =
                dockerfile::build_args(&ws.config, s).map_err(DockerBuildError::Settings)?;
            let (cache, next) = cache_dirs(&cache_root, &s.name);
            let req = Request {
                engine: opts.engine,
                root: &ws.root,
                service: &s.name,
                revision: &opts.revision,
                epoch: opts.epoch,
                cache_root: &cache_root,
                import_cache: cache.join("index.json").is_file(),
                build_args: &build_args,
            };
            Ok(Job {
                service: s.name.clone(),
                tag: tag(&s.name, &opts.revision),
                args: command_line(&req),
                log: logs.join(format!("{}.log", s.name)),
                cache: (opts.engine == Engine::Docker).then_some((cache, next)),
            })
        })
        .collect()
}

/// The first executable `name` on the search path `path` (`$PATH`).
pub fn find_program(name: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// The engine's program, once it is known to work: on `PATH`, and (Docker) the daemon answers
/// and buildx is installed, or (Podman) its storage can be read.
pub fn preflight(engine: Engine) -> Result<PathBuf, DockerBuildError> {
    let program = engine.program();
    let path = find_program(program, std::env::var_os("PATH").as_deref())
        .ok_or(DockerBuildError::NoProgram { program })?;
    let probes: &[&[&str]] = match engine {
        Engine::Docker => &[
            &["version", "--format", "{{.Server.Version}}"],
            &["buildx", "version"],
        ],
        Engine::Podman => &[&["info", "--format", "{{.Host.Arch}}"]],
    };
    for args in probes {
        let out = Command::new(&path)
            .args(*args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| DockerBuildError::Unavailable {
                program,
                detail: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(DockerBuildError::Unavailable {
                program,
                detail: first_line(&out.stderr)
                    .or_else(|| first_line(&out.stdout))
                    .unwrap_or_else(|| format!("`{program} {}` failed", args.join(" "))),
            });
        }
    }
    Ok(path)
}

fn first_line(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// What one build did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub service: String,
    pub tag: String,
    pub ok: bool,
    pub seconds: f64,
    pub log: PathBuf,
    /// Why it failed, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Event {
    Started {
        service: String,
        index: usize,
        total: usize,
        log: PathBuf,
    },
    Finished(Outcome),
}

/// Run `jobs` with `program`, at most `parallel` at a time. Returns the outcomes in job order.
pub fn run(
    program: &Path,
    jobs: &[Job],
    parallel: usize,
    emit: &mut dyn FnMut(Event),
) -> Vec<Outcome> {
    let total = jobs.len();
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Event)>();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; total];
    std::thread::scope(|scope| {
        for _ in 0..parallel.clamp(1, total.max(1)) {
            let (tx, next) = (tx.clone(), &next);
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = jobs.get(index) else { break };
                    let started = Event::Started {
                        service: job.service.clone(),
                        index: index + 1,
                        total,
                        log: job.log.clone(),
                    };
                    if tx.send((index, started)).is_err() {
                        break;
                    }
                    let outcome = run_one(program, job);
                    if tx.send((index, Event::Finished(outcome))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (index, event) in rx {
            if let Event::Finished(o) = &event {
                outcomes[index] = Some(o.clone());
            }
            emit(event);
        }
    });
    outcomes.into_iter().flatten().collect()
}

fn run_one(program: &Path, job: &Job) -> Outcome {
    let start = Instant::now();
    let result = spawn_logged(program, job).and_then(|()| match &job.cache {
        Some((cache, next)) if next.is_dir() => rotate(cache, next),
        _ => Ok(()),
    });
    Outcome {
        service: job.service.clone(),
        tag: job.tag.clone(),
        ok: result.is_ok(),
        seconds: start.elapsed().as_secs_f64(),
        log: job.log.clone(),
        error: result.err(),
    }
}

fn spawn_logged(program: &Path, job: &Job) -> Result<(), String> {
    if let Some(dir) = job.log.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let log = File::create(&job.log).map_err(|e| format!("{}: {e}", job.log.display()))?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("{}: {e}", job.log.display()))?;
    let status = Command::new(program)
        .args(&job.args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .status()
        .map_err(|e| format!("running {}: {e}", program.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} build exited with {status}", program.display()))
    }
}

fn rotate(cache: &Path, next: &Path) -> Result<(), String> {
    if cache.exists() {
        std::fs::remove_dir_all(cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    }
    std::fs::rename(next, cache).map_err(|e| format!("{}: {e}", cache.display()))
}

/// The last `n` lines of a log file (empty when it cannot be read).
pub fn log_tail(path: &Path, n: usize) -> Vec<String> {
    let Ok(file) = File::open(path) else {
        return Vec::new();
    };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REV: &str = "0123456789abcdef0123456789abcdef01234567";

    fn request(engine: Engine, import_cache: bool) -> Vec<String> {
        command_line(&Request {
            engine,
            root: Path::new("/ws"),
            service: "users",
            revision: REV,
            epoch: 1_700_000_000,
            cache_root: Path::new("/ws/target/monoship/docker-cache"),
            import_cache,
            build_args: &["BINARY=users-server".to_string()],
        })
    }

    /// The arguments both engines get, after the command.
    const BOTH: [&str; 10] = [
        "--file",
        "/ws/Dockerfile.monoship",
        "--build-arg",
        "SERVICE_NAME=users",
        "--build-arg",
        "BINARY=users-server",
        "--tag",
        "users:0123456789ab",
        "--label",
        "org.opencontainers.image.revision=0123456789abcdef0123456789abcdef01234567",
    ];

    #[test]
    fn docker_command_line() {
        let expected: Vec<&str> = ["buildx", "build"]
            .into_iter()
            .chain(BOTH)
            .chain([
                "--build-arg",
                "SOURCE_DATE_EPOCH=1700000000",
                "--progress",
                "plain",
                "--load",
                "--cache-from",
                "type=local,src=/ws/target/monoship/docker-cache/users",
                "--cache-to",
                "type=local,dest=/ws/target/monoship/docker-cache/users.new,mode=max",
                "/ws",
            ])
            .collect();
        assert_eq!(request(Engine::Docker, true), expected);
        // Without a previous cache there is nothing to import.
        let first: Vec<String> = request(Engine::Docker, false);
        let mut without: Vec<&str> = expected.to_vec();
        without.drain(17..19);
        assert_eq!(first, without);
    }

    #[test]
    fn podman_command_line() {
        let expected: Vec<&str> = ["build"]
            .into_iter()
            .chain(BOTH)
            .chain(["--timestamp", "1700000000", "--layers", "/ws"])
            .collect();
        assert_eq!(request(Engine::Podman, true), expected);
    }

    #[test]
    fn finds_only_executables_on_the_path() {
        use std::os::unix::fs::PermissionsExt;
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("docker"), "").unwrap();
        let exe = b.path().join("docker");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([a.path(), b.path()]).unwrap();
        assert_eq!(find_program("docker", Some(&path)), Some(exe));
        assert_eq!(find_program("podman", Some(&path)), None);
        assert_eq!(find_program("docker", None), None);
    }

    #[test]
    fn runs_jobs_in_parallel_and_reports_each() {
        let dir = tempfile::tempdir().unwrap();
        let job = |service: &str, script: &str| Job {
            service: service.into(),
            tag: tag(service, REV),
            args: vec!["-c".into(), script.into()],
            log: dir.path().join("logs").join(format!("{service}.log")),
            cache: None,
        };
        let jobs = vec![
            job("a", "echo building a"),
            job("b", "echo broken >&2; exit 3"),
            job("c", "echo building c"),
        ];
        let mut started = 0;
        let outcomes = run(Path::new("/bin/sh"), &jobs, 2, &mut |e| {
            if let Event::Started { total, .. } = e {
                assert_eq!(total, 3);
                started += 1;
            }
        });
        assert_eq!(started, 3);
        let summary: Vec<(&str, bool)> = outcomes
            .iter()
            .map(|o| (o.service.as_str(), o.ok))
            .collect();
        assert_eq!(summary, [("a", true), ("b", false), ("c", true)]);
        assert!(outcomes[1].error.as_deref().unwrap().contains("exit"));
        assert_eq!(log_tail(&jobs[1].log, 5), ["broken"]);
        assert_eq!(log_tail(&jobs[0].log, 5), ["building a"]);
    }

    #[test]
    fn a_successful_build_replaces_the_cache_with_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, next) = cache_dirs(dir.path(), "users");
        std::fs::create_dir_all(cache.join("blobs")).unwrap();
        std::fs::create_dir_all(&next).unwrap();
        std::fs::write(next.join("index.json"), "{}").unwrap();
        let job = Job {
            service: "users".into(),
            tag: tag("users", REV),
            args: vec!["-c".into(), "true".into()],
            log: dir.path().join("users.log"),
            cache: Some((cache.clone(), next.clone())),
        };
        let outcomes = run(Path::new("/bin/sh"), &[job], 2, &mut |_| {});
        assert!(outcomes[0].ok, "{:?}", outcomes[0]);
        assert!(cache.join("index.json").is_file() && !cache.join("blobs").exists());
        assert!(!next.exists());
    }
}
