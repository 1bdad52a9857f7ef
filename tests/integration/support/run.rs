//! The one way the tests run the `monoship` binary: [`Monoship`], a command line with an
//! environment that does not depend on the shell the tests were started from, and [`Run`],
//! what one run did.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use tempfile::TempDir;

/// The binary cargo built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_monoship"))
}

/// A `monoship` command line. The environment is the tests' own minus what would change
/// monoship's output or reach outside the test: colour, CI, `GITHUB_OUTPUT`, `MONOSHIP_LOG`,
/// `KUBECONFIG`, a cargo target directory (each workspace builds into its own), registry
/// credentials, and the docker config (an empty one instead).
pub struct Monoship {
    cmd: Command,
    home: Option<TempDir>,
}

/// An empty docker config directory, for every run.
fn empty_docker_config() -> &'static Path {
    static DIR: OnceLock<TempDir> = OnceLock::new();
    DIR.get_or_init(|| TempDir::new().unwrap()).path()
}

impl Monoship {
    /// `monoship` with no arguments.
    pub fn new() -> Monoship {
        Monoship::of(&binary())
    }

    /// `program` (another build of monoship) in the same environment.
    pub fn of(program: &Path) -> Monoship {
        let mut cmd = Command::new(program);
        cmd.env("NO_COLOR", "1")
            .env("DOCKER_CONFIG", empty_docker_config())
            .env_remove("CI")
            .env_remove("GITHUB_OUTPUT")
            .env_remove("MONOSHIP_LOG")
            .env_remove("KUBECONFIG")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET_DIR")
            .env_remove("MONOSHIP_REGISTRY_USER")
            .env_remove("MONOSHIP_REGISTRY_PASSWORD");
        Monoship { cmd, home: None }
    }

    /// `monoship --offline -C DIR`.
    pub fn at(dir: &Path) -> Monoship {
        Monoship::new().arg("--offline").arg("-C").arg(dir)
    }

    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Monoship {
        self.cmd.arg(arg);
        self
    }

    pub fn args<S: AsRef<std::ffi::OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Monoship {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Monoship {
        self.cmd.env_remove(key);
        self
    }

    pub fn envs<K: AsRef<str>, V: AsRef<std::ffi::OsStr>>(mut self, env: &[(K, V)]) -> Self {
        for (k, v) in env {
            self.cmd.env(k.as_ref(), v);
        }
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Monoship {
        self.cmd.current_dir(dir);
        self
    }

    /// An empty home too (no `~/.kube/config`, no `~/.docker`) and no `SSL_CERT_*`; cargo and
    /// rustup keep their real homes.
    pub fn isolated(mut self) -> Monoship {
        let home = TempDir::new().unwrap();
        let real = std::env::var("HOME").unwrap_or_default();
        let cargo = std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{real}/.cargo"));
        let rustup = std::env::var("RUSTUP_HOME").unwrap_or_else(|_| format!("{real}/.rustup"));
        self.cmd
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .env("CARGO_HOME", cargo)
            .env("RUSTUP_HOME", rustup)
            .env("HOME", home.path())
            .env("DOCKER_CONFIG", home.path().join(".docker"));
        self.home = Some(home);
        self
    }

    /// Run it to the end.
    pub fn run(mut self) -> Run {
        let out = self.cmd.output().expect("running monoship");
        Run::from(out)
    }

    /// Start it with stdout and stderr piped (not [`Monoship::isolated`]: its home would be
    /// gone while it runs).
    pub fn spawn(mut self) -> Child {
        assert!(self.home.is_none(), "an isolated run cannot be spawned");
        self.cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting monoship")
    }

    /// Run it on a thread of its own.
    pub fn in_background(self) -> std::thread::JoinHandle<Run> {
        std::thread::spawn(move || self.run())
    }
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    /// The exit code; -1 when a signal ended it.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Exit code 0.
    pub fn ok(&self) -> &Run {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// Exit code 2 and exactly one line on stderr, starting with `error:`.
    pub fn usage_error(&self) -> &str {
        assert_eq!(
            self.code, 2,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        let line = self.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "stderr: {}", self.stderr);
        assert!(line.starts_with("error:"), "stderr: {}", self.stderr);
        line
    }

    /// Exit code 1 and the last line of stderr, which starts with `error:`.
    pub fn failure(&self) -> &str {
        assert_eq!(
            self.code, 1,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        let last = self.stderr.trim_end().lines().last().unwrap_or_default();
        assert!(last.starts_with("error:"), "stderr: {}", self.stderr);
        last
    }

    /// The one `error:` line on stderr.
    pub fn error_line(&self) -> String {
        let line = self
            .stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_else(|| panic!("no error line; stderr: {}", self.stderr));
        assert_eq!(
            self.stderr.matches("error:").count(),
            1,
            "stderr: {}",
            self.stderr
        );
        line.to_string()
    }

    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}
