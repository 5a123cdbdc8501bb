//! Shared by the end-to-end test binaries (`service.rs`, `proof.rs`): the real
//! `openedx-pok serve` binary, started against a POK simulator that lives in the test process
//! (so that a test can inject faults and count credentials) and a throwaway database, called
//! over HTTP as the LMS steps call it, and inspected through the admin CLI as an administrator
//! would.

// Each test binary uses its own part of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pok_sim::{RunningSim, SimConfig, Simulator};
use serde_json::{Value, json};

/// The shared secret every service under test is started with.
pub const SECRET: &str = "e2e-shared-secret";
/// The course the tests ask certificates for.
pub const COURSE: &str = "course-v1:OrgX+CS101+2026";
/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_openedx-pok");

/// The admin URL of the PostgreSQL test server unless `POK_TEST_POSTGRES_URL` says otherwise
/// (the same variable and default as `pok_persistence::testing`).
const DEFAULT_POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Likewise for MySQL/MariaDB (`POK_TEST_MYSQL_URL`).
const DEFAULT_MYSQL_ADMIN_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// The database backends a service can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (always built in).
    Sqlite,
    /// PostgreSQL (feature `postgres`).
    Postgres,
    /// MySQL/MariaDB (feature `mysql`).
    Mysql,
}

/// A fresh, empty database for one test (the service migrates it at start), removed on drop.
///
/// Server databases are created and dropped with the servers' own command-line clients
/// (`psql`, `mariadb`), which `scripts/setup.sh` installs with the servers. A server that cannot
/// be reached fails the test; it is never skipped.
#[derive(Debug)]
pub struct TestDb {
    /// The backend.
    pub backend: Backend,
    url: String,
    /// The server's admin URL and the database's name, to drop it.
    server: Option<(String, String)>,
    /// The SQLite file's directory, removed on drop.
    dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A database on `backend`.
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres | Backend::Mysql => {
                tokio::task::spawn_blocking(move || Self::on_server(backend))
                    .await
                    .unwrap()
            }
        }
    }

    /// A SQLite file in a new temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pok-e2e-")
            .tempdir()
            .unwrap();
        let url = format!("sqlite://{}", dir.path().join("e2e.sqlite3").display());
        Self {
            backend: Backend::Sqlite,
            url,
            server: None,
            dir: Some(dir),
        }
    }

    fn on_server(backend: Backend) -> Self {
        let (var, default) = match backend {
            Backend::Postgres => ("POK_TEST_POSTGRES_URL", DEFAULT_POSTGRES_ADMIN_URL),
            _ => ("POK_TEST_MYSQL_URL", DEFAULT_MYSQL_ADMIN_URL),
        };
        let admin = std::env::var(var)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_owned());
        let name = format!(
            "pok_e2e_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..20]
        );
        let create = match backend {
            Backend::Postgres => format!("CREATE DATABASE \"{name}\""),
            _ => format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"),
        };
        if let Err(e) = server_sql(backend, &admin, &create) {
            panic!(
                "the {backend:?} test server is unreachable or refused to create a database \
                 ({e}); start it (bash scripts/setup.sh) or point {var} at one"
            );
        }
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&format!("/{name}"));
        Self {
            backend,
            url: url.to_string(),
            server: Some((admin, name)),
            dir: None,
        }
    }

    /// The URL the service gets as `DATABASE_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.server.take() {
            let sql = match self.backend {
                Backend::Postgres => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                _ => format!("DROP DATABASE IF EXISTS `{name}`"),
            };
            if let Err(e) = server_sql(self.backend, &admin, &sql) {
                eprintln!("could not drop the test database {name}: {e}");
            }
        }
    }
}

/// Runs one statement on a database server through its command-line client.
fn server_sql(backend: Backend, admin_url: &str, sql: &str) -> Result<(), String> {
    let output = if backend == Backend::Postgres {
        Command::new("psql")
            .args([admin_url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .stdin(Stdio::null())
            .output()
    } else {
        let url = url::Url::parse(admin_url).map_err(|e| e.to_string())?;
        let client = if Command::new("mariadb")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            "mariadb"
        } else {
            "mysql"
        };
        let mut cmd = Command::new(client);
        cmd.arg("--protocol=TCP")
            .arg(format!("--host={}", url.host_str().unwrap_or("127.0.0.1")))
            .arg(format!("--port={}", url.port().unwrap_or(3306)))
            .arg(format!("--user={}", url.username()))
            .args(["-e", sql])
            .stdin(Stdio::null());
        if let Some(password) = url.password() {
            cmd.env("MYSQL_PWD", password);
        }
        cmd.output()
    };
    match output {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_owned()),
        Err(e) => Err(format!("cannot run the database client: {e}")),
    }
}

/// The address in the service's "service listening" log line, once it is there.
fn listening_address(log: &str) -> Option<String> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["fields"]["message"] == "service listening")
        .and_then(|line| line["fields"]["local"].as_str().map(str::to_owned))
}

/// Starts a POK simulator in the test process, shared by the services of a test.
pub async fn simulator(config: SimConfig) -> Arc<RunningSim> {
    Arc::new(Simulator::start(config).await.unwrap())
}

/// A running `openedx-pok serve` and what it talks to; killed on drop.
pub struct Service {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The POK simulator it calls.
    pub sim: Arc<RunningSim>,
    /// A client that does not follow redirects.
    pub http: reqwest::Client,
    /// Its log file (stderr).
    pub log: PathBuf,
    env: Vec<(String, String)>,
    /// Its working directory (holds the log), removed on drop.
    workdir: tempfile::TempDir,
    /// The database it owns, if it owns one ([`Service::start`]).
    own_db: Option<TestDb>,
}

impl Service {
    /// A service on a SQLite file of its own, with a simulator of its own.
    pub async fn start(sim: SimConfig, extra_env: &[(&str, &str)]) -> Self {
        let sim = simulator(sim).await;
        let db = TestDb::sqlite();
        let mut svc = Self::launch(&sim, db.url(), extra_env).await;
        svc.own_db = Some(db);
        svc
    }

    /// A service on `database_url`, calling `sim`: several may share both (replicas, or a
    /// restart after a crash).
    pub async fn launch(
        sim: &Arc<RunningSim>,
        database_url: &str,
        extra_env: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pok-e2e-service-")
            .tempdir()
            .unwrap();
        let log = dir.path().join("service.log");
        let mut env: Vec<(String, String)> = [
            ("DATABASE_URL", database_url.to_owned()),
            ("POK_API_URL", sim.base_url()),
            ("POK_API_KEY", sim.api_key().to_owned()),
            (
                "POK_TEMPLATE_ID",
                pok_sim::fixtures::TEMPLATE_SIMPLE.to_owned(),
            ),
            ("POK_TIMEOUT", "2".to_owned()),
            ("OPENEDX_POK_LISTEN", "127.0.0.1:0".to_owned()),
            ("OPENEDX_POK_SECRET", SECRET.to_owned()),
            ("OPENEDX_POK_POLL_FIRST_SECONDS", "1".to_owned()),
            ("OPENEDX_POK_POLL_CAP_SECONDS", "1".to_owned()),
            ("OPENEDX_POK_RETRY_BASE_SECONDS", "1".to_owned()),
            ("OPENEDX_POK_RETRY_CAP_SECONDS", "1".to_owned()),
            ("OPENEDX_POK_WORKER_IDLE_MS", "50".to_owned()),
            ("OPENEDX_POK_LOG_FORMAT", "json".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (k, v) in extra_env {
            env.retain(|(key, _)| key != k);
            env.push(((*k).to_owned(), (*v).to_owned()));
        }
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().unwrap();
        let mut svc = Self {
            child,
            base: String::new(),
            sim: Arc::clone(sim),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            log,
            env,
            workdir: dir,
            own_db: None,
        };
        // Port 0: the service takes a free port and logs it, which no other test can take
        // between a check and the bind.
        let start = Instant::now();
        loop {
            if let Some(status) = svc.child.try_wait().unwrap() {
                panic!(
                    "the service exited at start ({status}); log:\n{}",
                    svc.logs()
                );
            }
            if svc.base.is_empty() {
                if let Some(addr) = listening_address(&svc.logs()) {
                    svc.base = format!("http://{addr}");
                }
            } else if svc
                .http
                .get(format!("{}/health", svc.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return svc;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the service never answered /health; log:\n{}",
                svc.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything the service logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the process at once (SIGKILL: no clean shutdown) and reaps it.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits until `check` holds, at most `limit` (then fails with the service's log).
    pub async fn wait_until<F, Fut>(&self, limit: Duration, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let start = Instant::now();
        while start.elapsed() < limit {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "timed out waiting until {what}; service log:\n{}",
            self.logs()
        );
    }

    /// POSTs JSON with the shared secret.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(SECRET)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// The creation filter for `user` in [`COURSE`], as the LMS calls it; must answer 200.
    pub async fn create(&self, user: i64, name: &str) -> Value {
        self.create_with(&creation(user, name)).await
    }

    /// The creation filter with this body; must answer 200.
    pub async fn create_with(&self, body: &Value) -> Value {
        let r = self
            .post("/v1/filters/certificate-creation-requested", body)
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// The render filter for `user` in [`COURSE`]; must answer 200.
    pub async fn render(&self, user: i64) -> Value {
        self.render_with(&json!({"course_key": COURSE, "user_id": user, "language": "en"}))
            .await
    }

    /// The render filter with this body; must answer 200.
    pub async fn render_with(&self, body: &Value) -> Value {
        let r = self
            .post("/v1/filters/certificate-render-started", body)
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Waits until the render filter shows the emitted page (status 200, no refresh).
    pub async fn wait_emitted(&self, user: i64) -> Value {
        let mut last = Value::Null;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            last = self.render(user).await;
            let body = last["body"].as_str().unwrap_or_default();
            if last["action"] == "render"
                && last["status"] == 200
                && !body.contains("http-equiv=\"refresh\"")
            {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("never emitted; last answer {last}; log:\n{}", self.logs());
    }

    /// Runs an admin command of the same binary with the same settings (database, POK).
    pub async fn admin(&self, args: &[&str]) -> Output {
        let env = self.env.clone();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .args(&args)
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .envs(env)
                .stdin(Stdio::null())
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    }

    /// Revokes certificate `id` with the admin CLI (another process, as in production); it
    /// must succeed.
    pub async fn revoke(&self, id: &str, reason: &str) {
        let out = self
            .admin(&["certificates", "revoke", id, "--reason", reason, "--yes"])
            .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs an admin command with `--format json`; it must succeed.
    pub async fn admin_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let out = self.admin(&all).await;
        assert!(
            out.status.success(),
            "openedx-pok {} failed ({}): {}",
            all.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "openedx-pok {} printed no JSON ({e}): {}",
                all.join(" "),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Every stored certificate, as `certificates list --limit 0 --format json` shows them.
    pub async fn certificates(&self) -> Vec<Value> {
        match self
            .admin_json(&["certificates", "list", "--limit", "0"])
            .await
        {
            Value::Array(rows) => rows,
            other => panic!("certificates list printed {other}"),
        }
    }

    /// A learner's certificate in [`COURSE`] in full, with its history
    /// (`certificates show USER COURSE --format json`).
    pub async fn show(&self, user: i64) -> Value {
        self.admin_json(&["certificates", "show", &user.to_string(), COURSE])
            .await
    }

    /// The service's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Checks every line the service logged: JSON, and none holds the shared secret, the POK
    /// API key or any of `personal` (e-mail addresses, names).
    pub fn assert_logs_clean(&self, personal: &[String]) {
        assert_log_clean(&self.logs(), personal);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Checks a JSON log: every complete line is a JSON object (a process killed with SIGKILL may
/// leave its last line cut), and no line holds the shared secret, the POK API key or any of
/// `personal`.
pub fn assert_log_clean(log: &str, personal: &[String]) {
    assert!(!log.trim().is_empty(), "the service logged nothing");
    let lines: Vec<&str> = log.lines().collect();
    for (n, line) in lines.iter().enumerate() {
        let last = n + 1 == lines.len() && !log.ends_with('\n');
        if !last {
            assert!(
                serde_json::from_str::<Value>(line).is_ok_and(|v| v.is_object()),
                "log line {} is not JSON: {line}",
                n + 1
            );
        }
        for secret in [SECRET, pok_sim::fixtures::API_KEY] {
            assert!(
                !line.contains(secret),
                "a secret leaked into log line {}: {line}",
                n + 1
            );
        }
        let lower = line.to_lowercase();
        for item in personal {
            assert!(
                !lower.contains(&item.to_lowercase()),
                "{item:?} leaked into log line {}: {line}",
                n + 1
            );
        }
    }
}

/// The creation filter's body for `user` in [`COURSE`], as the LMS step sends it.
pub fn creation(user: i64, name: &str) -> Value {
    json!({
        "user": {"id": user, "username": format!("learner{user}"), "email": format!("learner{user}@example.org"), "full_name": name},
        "course": {"key": COURSE, "title": "Computing <b>101</b>"},
        "mode": "verified",
        "status": "downloadable",
        "grade": {"percent": 0.93, "passed": true},
    })
}
