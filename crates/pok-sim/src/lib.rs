//! An in-memory POK simulator with fault injection, for tests, benchmarks and the demo.
//!
//! It serves the POK endpoints that `pok-client` calls (see `pok-api.md`), checks what POK
//! would check (the API key, required fields, the template's custom parameters, credits), lets
//! credentials move from `processing` to `emitted`, serves real PNG images behind its image and
//! preview URLs, and injects faults on demand. Counters let a test assert exactly-once issuing.
//!
//! # Layout
//! - [`config`]: [`SimConfig`] (start-up settings) and [`Faults`] (what to inject, changeable
//!   at run time), [`Endpoint`] (the POK endpoints, as faults and counters name them).
//! - [`fixtures`]: the API key, templates, pages and organisation served.
//! - `state` (private): credits, credentials, counters; [`Stats`] is its public snapshot.
//! - `faults` (private): the middleware in front of every POK endpoint: counts, injects
//!   faults, checks the key.
//! - `pok` (private): the POK endpoints. `admin` (private): the `/_sim/` endpoints.
//! - `image` (private): the generated PNG.
//!
//! A request flows: router → `faults` gate (count, rate limit, latency, 429/5xx, API key) →
//! `pok` handler (reads and writes `state`) → back through the gate (hang, malformed, drop).
//!
//! # Embedding
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use pok_sim::{Endpoint, Faults, SimConfig, Simulator, fixtures};
//!
//! let sim = Simulator::start(SimConfig::default()).await?; // 127.0.0.1, a free port
//! println!("POK at {} with key {}", sim.base_url(), fixtures::API_KEY);
//! // Every issuing request fails with a 503 from now on:
//! sim.set_faults(Faults { error_rate: 1.0, ..Faults::none() }.only(&[Endpoint::Issue]));
//! assert_eq!(sim.stats().credentials_created, 0);
//! sim.shutdown().await?;
//! # Ok(()) }
//! ```
//! [`Simulator::router`] gives the bare axum router to mount in-process instead.
//!
//! # Admin endpoints (no API key)
//! - `GET /_sim/faults`, `PUT /_sim/faults` (a [`Faults`] document; fields left out reset)
//! - `GET /_sim/stats` (a [`Stats`] document)
//! - `PUT /_sim/credentials/{id}/state` with `{"state": "revoked"}`: forces a state for good
//! - `PUT /_sim/credits` with `{"credits": 0}`
//! - `GET /_sim/images/{id}.png`, `GET /_sim/previews/{template}.png`, `GET /_sim/view/{id}`:
//!   what `location`, preview `url` and `viewUrl` point to.

mod admin;
pub mod config;
mod faults;
pub mod fixtures;
mod image;
mod pok;
mod state;

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, get, post, put};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{Endpoint, Faults, SimConfig};
pub use state::{FaultKind, Stats, TagCount};

use state::{Inner, lock};

/// How long [`RunningSim::shutdown`] waits for open requests before it stops the server anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A simulator: its memory and its controls. Cheap to clone; clones share everything.
///
/// Use [`Simulator::start`] to run one on a port, or [`Simulator::new`] and
/// [`Simulator::router`] to mount it in-process.
#[derive(Debug, Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl Simulator {
    /// A simulator with `config`'s key, credits, emission rules and faults (`listen` is
    /// unused here; see [`Simulator::start`]).
    pub fn new(config: &SimConfig) -> Self {
        Self {
            inner: Arc::new(Inner::new(config)),
        }
    }

    /// The axum router serving the POK endpoints at `/` and the admin endpoints at `/_sim/`.
    pub fn router(&self) -> Router {
        let sim = &self.inner;
        let gated = |endpoint: Endpoint, route: MethodRouter<Arc<Inner>>| {
            route.layer(from_fn_with_state(
                (Arc::clone(sim), endpoint),
                faults::gate,
            ))
        };
        Router::new()
            .route(
                "/organization/me",
                gated(Endpoint::Organization, get(pok::organization)),
            )
            .route("/template", gated(Endpoint::Templates, get(pok::templates)))
            .route(
                "/template/",
                gated(Endpoint::Templates, get(pok::templates)),
            )
            .route(
                "/template/preview",
                gated(Endpoint::Preview, post(pok::preview)),
            )
            .route(
                "/template/{id}",
                gated(Endpoint::Template, get(pok::template)),
            )
            .route("/page", gated(Endpoint::Pages, get(pok::pages)))
            .route("/page/", gated(Endpoint::Pages, get(pok::pages)))
            .route("/credential/", gated(Endpoint::Issue, post(pok::issue)))
            .route("/credential", gated(Endpoint::Issue, post(pok::issue)))
            .route(
                "/credential/{id}/",
                gated(Endpoint::Credential, get(pok::credential)),
            )
            .route(
                "/credential/{id}",
                gated(Endpoint::Credential, get(pok::credential)),
            )
            .route(
                "/credential/{id}/decrypted-image/",
                gated(Endpoint::CredentialImage, get(pok::credential_image)),
            )
            .route(
                "/credential/{id}/decrypted-image",
                gated(Endpoint::CredentialImage, get(pok::credential_image)),
            )
            .route(
                "/_sim/faults",
                get(admin::get_faults).put(admin::put_faults),
            )
            .route("/_sim/stats", get(admin::stats))
            .route(
                "/_sim/credentials/{id}/state",
                put(admin::put_credential_state),
            )
            .route("/_sim/credits", put(admin::put_credits))
            .route("/_sim/images/{file}", get(admin::credential_png))
            .route("/_sim/previews/{file}", get(admin::preview_png))
            .route("/_sim/view/{id}", get(admin::view))
            .with_state(Arc::clone(sim))
    }

    /// Serves on an already-bound listener until `shutdown` completes, then finishes open
    /// requests (hanging ones end at once).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let inner = Arc::clone(&self.inner);
        axum::serve(listener, self.router())
            .with_graceful_shutdown(async move {
                shutdown.await;
                inner.close();
            })
            .await
    }

    /// Binds `config.listen` (port 0 picks a free port) and serves in a background task.
    pub async fn start(config: SimConfig) -> io::Result<RunningSim> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let sim = Simulator::new(&config);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(sim.clone().serve(listener, async move {
            // Either a signal or the handle being dropped: both mean stop.
            let _ = rx.await;
        }));
        tracing::info!(%addr, "POK simulator listening");
        Ok(RunningSim {
            sim,
            addr,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.inner.faults()
    }

    /// Replaces the faults in force (shares outside 0..=1 are clamped).
    pub fn set_faults(&self, faults: Faults) {
        self.inner.set_faults(faults);
    }

    /// Sets the organisation's credits.
    pub fn set_credits(&self, credits: i64) {
        lock(&self.inner.store).credits = credits;
    }

    /// Forces a credential's state for good; `false` when there is no such credential.
    pub fn set_credential_state(&self, id: &str, state: &str) -> bool {
        let mut store = lock(&self.inner.store);
        match store.credentials.get_mut(id) {
            Some(c) => {
                state.clone_into(&mut c.state);
                c.forced = true;
                c.updated_at = chrono::Utc::now();
                true
            }
            None => false,
        }
    }

    /// A credential's current state (without counting a poll), if it exists.
    pub fn credential_state(&self, id: &str) -> Option<String> {
        let mut store = lock(&self.inner.store);
        let c = store.credentials.get_mut(id)?;
        c.advance(self.inner.emit_after_polls, self.inner.emit_after);
        Some(c.state.clone())
    }

    /// Credentials created for a learner in a course (`StudentId:` and `CourseId:` tags).
    pub fn credentials_created_for(&self, student_id: &str, course_id: &str) -> u64 {
        self.stats().created_for(student_id, course_id)
    }

    /// The API key requests must carry.
    pub fn api_key(&self) -> &str {
        &self.inner.api_key
    }
}

/// A simulator serving on a port, with its controls (through `Deref` to [`Simulator`]).
///
/// Dropping it stops the server in the background; [`RunningSim::shutdown`] stops it and
/// waits.
#[derive(Debug)]
pub struct RunningSim {
    sim: Simulator,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl RunningSim {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL for a POK client, with a trailing slash (`http://127.0.0.1:PORT/`). A
    /// wildcard listen address is shown as loopback.
    pub fn base_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                Ipv4Addr::LOCALHOST.into()
            } else {
                Ipv6Addr::LOCALHOST.into()
            });
        }
        format!("http://{addr}/")
    }

    /// The simulator's controls.
    pub fn simulator(&self) -> &Simulator {
        &self.sim
    }

    /// Stops accepting connections, ends hanging requests, waits for open requests (at most
    /// a few seconds), and returns the server's result.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        if let Ok(joined) = tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
            joined.map_err(io::Error::other)?
        } else {
            task.abort();
            Ok(())
        }
    }
}

impl Deref for RunningSim {
    type Target = Simulator;
    fn deref(&self) -> &Simulator {
        &self.sim
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
