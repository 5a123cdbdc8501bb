//! Builds the adapters from the settings and hands them to the domain: the one place that knows
//! every adapter crate.
//!
//! Order: settings → database (connected and migrated) → POK gateway (the real client, or the
//! built-in simulator behind the same client) wrapped in metrics → `CertificateService`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pok_client::{PokClient, PokClientConfig};
use pok_domain::CertificateService;
use pok_domain::GatewayError;
use pok_domain::binding_cache::CachedBindings;
use pok_domain::issuing::IssueRequest;
use pok_domain::ports::{
    CredentialStatus, Organization, PageSummary, PokGateway, PreviewRequest, SystemClock, Template,
    TemplateSummary,
};
use pok_domain::values::{CredentialId, TemplateId};
use pok_http::{MeteredGateway, Metrics, Readiness};
use pok_persistence::Database;
use pok_sim::{RunningSim, SimConfig, Simulator};
use secrecy::{ExposeSecret, SecretString};

use crate::error::CliError;
use crate::settings::Loaded;

/// Everything a command needs, wired.
pub struct Wired {
    /// The use cases.
    pub service: CertificateService,
    /// The database (also for readiness and migrations).
    pub database: Database,
    /// Metrics shared by the gateway and the HTTP adapter.
    pub metrics: Metrics,
    /// The built-in simulator, when one was started; dropping it stops it.
    pub simulator: Option<RunningSim>,
}

/// Where POK calls go.
// Built once per process: boxing the simulator's settings would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum PokTarget {
    /// `POK_API_URL` with `POK_API_KEY`; without a key, every POK call fails with a message
    /// saying so (commands that do not call POK still work).
    Configured,
    /// A built-in simulator started for this process.
    Simulator(SimConfig),
}

/// Opens the database and applies pending migrations.
pub async fn database(loaded: &Loaded) -> Result<Database, CliError> {
    let db = connect(loaded).await?;
    db.migrate().await.map_err(CliError::failed)?;
    Ok(db)
}

/// Opens the database without migrating it (`migrate --status` and `doctor` only look).
pub async fn connect(loaded: &Loaded) -> Result<Database, CliError> {
    let s = &loaded.settings;
    Database::connect(&s.database_url, s.database_pool_size.max(1))
        .await
        .map_err(|e| {
            CliError::failed(format!(
                "database ({}): {e}",
                loaded.source_of("database_url")
            ))
        })
}

/// The configured POK gateway alone, for commands that only talk to POK (`templates remote`,
/// `pages remote`, `credits`, `doctor`) and need no database.
pub fn gateway(loaded: &Loaded, metrics: &Metrics) -> Result<Arc<dyn PokGateway>, CliError> {
    Ok(match &loaded.settings.pok_api_key {
        Some(key) if !key.expose_secret().trim().is_empty() => {
            let client = client(loaded, key.clone(), None)?;
            Arc::new(MeteredGateway::new(client, metrics.clone()))
        }
        _ => Arc::new(NoPokKey),
    })
}

/// Wires the service.
pub async fn wire(loaded: &Loaded, target: PokTarget) -> Result<Wired, CliError> {
    let database = database(loaded).await?;
    let metrics = Metrics::new();
    let (gateway, simulator): (Arc<dyn PokGateway>, _) = match target {
        PokTarget::Simulator(config) => {
            let sim = Simulator::start(config)
                .await
                .map_err(|e| CliError::failed(format!("starting the POK simulator: {e}")))?;
            let url = sim.base_url().parse().map_err(CliError::failed)?;
            let key = SecretString::from(sim.api_key().to_owned());
            let client = client(loaded, key, Some(url))?;
            (
                Arc::new(MeteredGateway::new(client, metrics.clone())),
                Some(sim),
            )
        }
        PokTarget::Configured => (gateway(loaded, &metrics)?, None),
    };
    let store = Arc::new(database.clone());
    let bindings = Arc::new(CachedBindings::new(
        store.clone(),
        Arc::new(SystemClock),
        Duration::from_secs(loaded.settings.binding_cache_seconds.into()),
    ));
    let service = CertificateService::new(
        store.clone(),
        bindings,
        store,
        gateway,
        Arc::new(SystemClock),
        loaded.issuing()?,
    );
    Ok(Wired {
        service,
        database,
        metrics,
        simulator,
    })
}

fn client(
    loaded: &Loaded,
    key: SecretString,
    base_url: Option<url::Url>,
) -> Result<PokClient, CliError> {
    let s = &loaded.settings;
    let base_url = match base_url {
        Some(u) => u,
        None => s
            .pok_api_url
            .parse()
            .map_err(|e| loaded.invalid("pok_api_url", e))?,
    };
    let (timeout, connect_timeout) = loaded.pok_timeouts()?;
    let config = PokClientConfig {
        base_url,
        timeout,
        connect_timeout,
        read_retries: s.pok_read_retries,
        rate_limit: loaded.pok_rate_limit()?,
        ..PokClientConfig::new(key)
    };
    PokClient::new(config).map_err(CliError::failed)
}

/// `/ready` over the database: reachable and migrated.
pub struct DatabaseReadiness(pub Database);

#[async_trait]
impl Readiness for DatabaseReadiness {
    async fn check(&self) -> Result<(), String> {
        self.0.ready().await.map_err(|e| e.to_string())
    }
}

/// The gateway when no API key is configured: commands that need POK say what to set.
struct NoPokKey;

impl NoPokKey {
    fn error<T>() -> Result<T, GatewayError> {
        Err(GatewayError::permanent(
            "POK_API_KEY is not set: set it (and POK_API_URL for the sandbox or a simulator)",
        ))
    }
}

#[async_trait]
impl PokGateway for NoPokKey {
    async fn organization(&self) -> Result<Organization, GatewayError> {
        Self::error()
    }
    async fn templates(&self, _: u32) -> Result<Vec<TemplateSummary>, GatewayError> {
        Self::error()
    }
    async fn template(&self, _: &TemplateId) -> Result<Template, GatewayError> {
        Self::error()
    }
    async fn pages(&self, _: u32) -> Result<Vec<PageSummary>, GatewayError> {
        Self::error()
    }
    async fn preview(&self, _: &PreviewRequest) -> Result<String, GatewayError> {
        Self::error()
    }
    async fn issue(&self, _: &IssueRequest) -> Result<CredentialStatus, GatewayError> {
        Self::error()
    }
    async fn credential(&self, _: &CredentialId) -> Result<CredentialStatus, GatewayError> {
        Self::error()
    }
    async fn credential_image(&self, _: &CredentialId) -> Result<String, GatewayError> {
        Self::error()
    }
}
