//! One test environment: a temporary directory with a SQLite database, a POK simulator on its
//! own runtime, and the binary run with the settings pointing at both.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use pok_sim::{RunningSim, SimConfig, Simulator};
use serde_json::Value;

/// A course every test may link.
pub const COURSE: &str = "course-v1:OrgX+CS101+2026";

/// What a run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: &Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts the exit code and that stderr mentions each of `words`.
    #[track_caller]
    pub fn fails(self, code: i32, words: &[&str]) -> Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        for w in words {
            assert!(
                self.stderr.contains(w),
                "stderr should mention {w:?}:\n{}",
                self.stderr
            );
        }
        self
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// A database, a simulator and the settings that point at them. The simulator stops when the
/// environment is dropped.
pub struct Env {
    pub sim: RunningSim,
    _runtime: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    db: PathBuf,
    extra: Vec<(String, String)>,
}

impl Env {
    /// A fresh environment with the default simulator.
    pub fn new() -> Self {
        Self::with_sim(SimConfig::default())
    }

    /// A fresh environment with a simulator configured by `config`.
    pub fn with_sim(config: SimConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let sim = runtime.block_on(Simulator::start(config)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("cli.sqlite3");
        Self {
            sim,
            _runtime: runtime,
            dir,
            db,
            extra: Vec::new(),
        }
    }

    /// Adds (or overrides) a setting for every later run.
    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.extra.retain(|(k, _)| k != key);
        self.extra.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The command with the environment's settings and nothing else from ours.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_openedx-pok"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("USER", "tester")
            .env("DATABASE_URL", format!("sqlite://{}", self.db.display()))
            .env("POK_API_URL", self.sim.base_url())
            .env("POK_API_KEY", self.sim.api_key())
            .env("POK_TIMEOUT", "3")
            .env("OPENEDX_POK_RETRY_BASE_SECONDS", "1")
            .env("OPENEDX_POK_RETRY_CAP_SECONDS", "1")
            .env("OPENEDX_POK_POLL_FIRST_SECONDS", "1")
            .env("OPENEDX_POK_POLL_CAP_SECONDS", "1")
            .env("OPENEDX_POK_WORKER_IDLE_MS", "20")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs the binary to the end.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(&self.command(args).output().unwrap())
    }

    /// Writes a file in the environment's directory and returns its path.
    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// Links [`COURSE`] to the simulator's template without parameters.
    pub fn link_simple(&self) {
        self.run(&["courses", "link", COURSE, "tpl-simple"]).ok();
    }

    /// Records a certificate for `user` in [`COURSE`] and issues it now; returns its id.
    pub fn issued(&self, user: u32, extra: &[&str]) -> String {
        let user = user.to_string();
        let email = format!("learner{user}@example.org");
        let mut args = vec![
            "certificates",
            "issue",
            &user,
            COURSE,
            "--email",
            &email,
            "--name",
            "Ada Lovelace",
            "--issue-now",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let run = self.run(&args);
        run.json()["id"].as_str().unwrap().to_owned()
    }

    /// `certificates show ID --format json`.
    pub fn show(&self, id: &str) -> Value {
        self.run(&["certificates", "show", id, "--format", "json"])
            .ok()
            .json()
    }

    /// Every certificate, as `certificates list --limit 0 --format json` gives them.
    pub fn all(&self) -> Vec<Value> {
        self.run(&["certificates", "list", "--limit", "0", "--format", "json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .clone()
    }
}
