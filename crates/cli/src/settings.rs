//! Settings: defaults, then a TOML file, then the environment, checked once at start-up.
//!
//! The four settings of the existing Python plugin keep their names (`POK_API_URL`,
//! `POK_API_KEY`, `POK_TEMPLATE_ID`, `POK_TIMEOUT`), as does `DATABASE_URL`; our own settings
//! are read from `OPENEDX_POK_*` variables. In the file every key is written in lower case
//! (`pok_api_url = "..."`, `listen = "..."`). A wrong value stops start-up with a message
//! naming the key and where it came from (figment keeps that provenance).

use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use pok_client::PokClientConfig;
use pok_domain::filters::{IncompleteLearner, IssuingSettings};
use pok_domain::retry::{PollPolicy, RetryPolicy};
use pok_domain::values::{DateFormat, LanguageTag, ParamKeying, TemplateId};
use secrecy::SecretString;
use serde::Deserialize;

/// The file read when `--config` is not given (it may be absent).
pub const DEFAULT_FILE: &str = "openedx-pok.toml";

/// The variables kept from the Python plugin and the usual database variable.
const PLAIN_ENV: &[&str] = &[
    "POK_API_URL",
    "POK_API_KEY",
    "POK_TEMPLATE_ID",
    "POK_TIMEOUT",
    "POK_CONNECT_TIMEOUT",
    "POK_SIMULATOR",
    "DATABASE_URL",
];

/// The prefix of our own environment variables.
const OWN_PREFIX: &str = "OPENEDX_POK_";

/// Our own keys, read from `OPENEDX_POK_<KEY>`; other `OPENEDX_POK_*` variables (the LMS
/// package's, say) are not ours to refuse.
const OWN_KEYS: &[&str] = &[
    "pok_read_retries",
    "rate_limit",
    "database_pool_size",
    "binding_cache_seconds",
    "page_cache_seconds",
    "listen",
    "public_url",
    "secret",
    "platform_name",
    "default_language",
    "param_keying",
    "date_format",
    "incomplete_learner",
    "retry_max_attempts",
    "retry_base_seconds",
    "retry_cap_seconds",
    "poll_first_seconds",
    "poll_cap_seconds",
    "worker_concurrency",
    "worker_idle_ms",
    "worker_enabled",
    "body_limit_bytes",
    "log_format",
];

/// Every setting, as read. Field names are the file's keys and, upper-cased, the environment's.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(clippy::struct_excessive_bools)]
pub struct Settings {
    /// POK's base URL.
    pub pok_api_url: String,
    /// POK's API key; without one, `serve` refuses to start unless `pok_simulator` is set.
    pub pok_api_key: Option<SecretString>,
    /// The template for courses without a binding of their own.
    pub pok_template_id: Option<String>,
    /// Seconds a POK call may take.
    pub pok_timeout: u64,
    /// Seconds a connection to POK may take to open.
    pub pok_connect_timeout: u64,
    /// Read-only POK calls are retried this many times.
    pub pok_read_retries: u32,
    /// At most this many calls a second to POK, from this process (every call: issuing, polls,
    /// images, previews); 0: no limit. POK's limit is per API key and undocumented: set it at
    /// or just below that limit so that calls wait for their turn here instead of being
    /// refused there.
    pub rate_limit: f64,
    /// Use the built-in POK simulator instead of POK (demos and tests).
    pub pok_simulator: bool,
    /// Where certificates are stored: `sqlite://FILE`, a path, `postgres://…` or `mysql://…`.
    pub database_url: String,
    /// Database connections per process.
    pub database_pool_size: u32,
    /// Seconds a course's binding is remembered by each process (both filters read it on every
    /// call); a course linked or unlinked from another process shows after at most this long.
    /// 0: read it every time.
    pub binding_cache_seconds: u32,
    /// Seconds an emitted certificate's rendered page is shown again without reading the
    /// database; a revocation or re-issue made by another process shows after at most this
    /// long. 0: render every view.
    pub page_cache_seconds: u32,
    /// Address the service listens on.
    pub listen: String,
    /// The service's public base URL, for certificate links and redirects.
    pub public_url: String,
    /// The shared secret the LMS sends as a bearer token.
    pub secret: Option<SecretString>,
    /// The platform's name, for custom parameters.
    pub platform_name: String,
    /// The last-resort credential language.
    pub default_language: String,
    /// `label` or `id`: how custom parameters are keyed at POK.
    pub param_keying: String,
    /// `dd/MM/yyyy` or `MM/dd/yyyy`.
    pub date_format: String,
    /// `prevent` or `not_ours`: what to do with learners without name or e-mail.
    pub incomplete_learner: String,
    /// Issuing attempts in all before a certificate stays failed.
    pub retry_max_attempts: u32,
    /// Seconds before the first retry.
    pub retry_base_seconds: u64,
    /// Longest seconds between retries.
    pub retry_cap_seconds: u64,
    /// Seconds before the first poll of a processing credential.
    pub poll_first_seconds: u64,
    /// Longest seconds between polls.
    pub poll_cap_seconds: u64,
    /// Jobs each process runs at once.
    pub worker_concurrency: usize,
    /// Milliseconds between looks at an empty queue.
    pub worker_idle_ms: u64,
    /// Run the worker inside `serve` (turn off for web-only replicas).
    pub worker_enabled: bool,
    /// Largest request body, in bytes.
    pub body_limit_bytes: usize,
    /// `pretty` or `json`.
    pub log_format: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            pok_api_url: "https://api.pok.tech/".into(),
            pok_api_key: None,
            pok_template_id: None,
            pok_timeout: 30,
            pok_connect_timeout: 5,
            pok_read_retries: 2,
            rate_limit: 0.0,
            pok_simulator: false,
            database_url: pok_persistence::DEFAULT_DATABASE_URL.into(),
            database_pool_size: 8,
            binding_cache_seconds: pok_domain::binding_cache::CachedBindings::DEFAULT_TTL_SECONDS,
            page_cache_seconds: 2,
            listen: "127.0.0.1:8080".into(),
            public_url: String::new(),
            secret: None,
            platform_name: "Open edX".into(),
            default_language: "en".into(),
            param_keying: "label".into(),
            date_format: "dd/MM/yyyy".into(),
            incomplete_learner: "prevent".into(),
            retry_max_attempts: 8,
            retry_base_seconds: 10,
            retry_cap_seconds: 1800,
            poll_first_seconds: 5,
            poll_cap_seconds: 900,
            worker_concurrency: 8,
            worker_idle_ms: 500,
            worker_enabled: true,
            body_limit_bytes: 64 * 1024,
            log_format: "pretty".into(),
        }
    }
}

/// A setting that is wrong, with where it came from.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file or environment could not be read into the settings (figment names the key and
    /// its source).
    #[error("settings: {0}")]
    Read(#[from] Box<figment::Error>),
    /// A value was read but makes no sense.
    #[error("setting `{key}` (from {source_name}) is wrong: {reason}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// Where its value came from.
        source_name: String,
        /// Why it is wrong.
        reason: String,
    },
}

/// Settings read and checked, ready for wiring.
pub struct Loaded {
    /// The raw settings.
    pub settings: Settings,
    /// The provenance, to name sources in later errors.
    figment: Figment,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Reads defaults < file < environment. A missing default file is fine; a missing file named
/// with `--config` is an error.
pub fn load(config: Option<&Path>) -> Result<Loaded, SettingsError> {
    let file = match config {
        Some(path) => {
            if !path.exists() {
                return Err(SettingsError::Invalid {
                    key: "--config",
                    source_name: "the command line".into(),
                    reason: format!("no such file: {}", path.display()),
                });
            }
            Toml::file_exact(path)
        }
        None => Toml::file(DEFAULT_FILE),
    };
    let figment = Figment::new()
        .merge(file)
        .merge(Env::raw().only(PLAIN_ENV))
        .merge(Env::prefixed(OWN_PREFIX).only(OWN_KEYS));
    let settings: Settings = figment.extract().map_err(Box::new)?;
    let loaded = Loaded { settings, figment };
    loaded.issuing()?;
    loaded.pok_timeouts()?;
    loaded.pok_rate_limit()?;
    Ok(loaded)
}

impl Loaded {
    /// Names where a key's value came from ("environment variable `POK_TIMEOUT`", "TOML file
    /// openedx-pok.toml", or "default").
    pub fn source_of(&self, key: &str) -> String {
        self.figment.find_metadata(key).map_or_else(
            || "the default".to_owned(),
            |m| {
                if let Some(figment::Source::File(p)) = &m.source {
                    format!("{} {}", m.name, p.display())
                } else {
                    let shown = m.interpolate(&figment::Profile::Default, &[key]);
                    // figment names prefixed variables without their prefix.
                    if m.name.contains(&format!("`{OWN_PREFIX}`")) {
                        format!("environment variable `{OWN_PREFIX}{shown}`")
                    } else {
                        format!("{} `{shown}`", m.name)
                    }
                }
            },
        )
    }

    /// An error about `key`.
    pub fn invalid(&self, key: &'static str, reason: impl std::fmt::Display) -> SettingsError {
        SettingsError::Invalid {
            key,
            source_name: self.source_of(key),
            reason: reason.to_string(),
        }
    }

    /// The domain's issuing settings.
    pub fn issuing(&self) -> Result<IssuingSettings, SettingsError> {
        let s = &self.settings;
        let default_template = s
            .pok_template_id
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .map(TemplateId::parse)
            .transpose()
            .map_err(|e| self.invalid("pok_template_id", e))?;
        let incomplete_learner = match s.incomplete_learner.as_str() {
            "prevent" => IncompleteLearner::Prevent,
            "not_ours" | "not-ours" => IncompleteLearner::NotOurs,
            other => {
                return Err(self.invalid(
                    "incomplete_learner",
                    format!("expected prevent or not_ours, got {other:?}"),
                ));
            }
        };
        if s.retry_max_attempts == 0 {
            return Err(self.invalid("retry_max_attempts", "must be at least 1"));
        }
        Ok(IssuingSettings {
            default_template,
            platform_name: s.platform_name.clone(),
            default_language: LanguageTag::parse(&s.default_language)
                .map_err(|e| self.invalid("default_language", e))?,
            param_keying: ParamKeying::parse(&s.param_keying)
                .map_err(|e| self.invalid("param_keying", e))?,
            date_format: DateFormat::parse(&s.date_format)
                .map_err(|e| self.invalid("date_format", e))?,
            incomplete_learner,
            retry: RetryPolicy {
                base: Duration::from_secs(s.retry_base_seconds.max(1)),
                cap: Duration::from_secs(s.retry_cap_seconds.max(1)),
                max_attempts: s.retry_max_attempts,
            },
            poll: PollPolicy {
                first: Duration::from_secs(s.poll_first_seconds.max(1)),
                cap: Duration::from_secs(s.poll_cap_seconds.max(1)),
            },
        })
    }

    /// POK's call and connect timeouts.
    pub fn pok_timeouts(&self) -> Result<(Duration, Duration), SettingsError> {
        let s = &self.settings;
        if s.pok_timeout == 0 {
            return Err(self.invalid("pok_timeout", "must be at least 1 second"));
        }
        if s.pok_connect_timeout == 0 {
            return Err(self.invalid("pok_connect_timeout", "must be at least 1 second"));
        }
        Ok((
            Duration::from_secs(s.pok_timeout),
            Duration::from_secs(s.pok_connect_timeout),
        ))
    }

    /// The client's rate limit in calls per second; `None` for no limit (`rate_limit = 0`).
    pub fn pok_rate_limit(&self) -> Result<Option<f64>, SettingsError> {
        let rate = self.settings.rate_limit;
        if !rate.is_finite() || rate < 0.0 {
            return Err(self.invalid(
                "rate_limit",
                format!("must be a number of calls per second, or 0 for no limit (got {rate})"),
            ));
        }
        if rate == 0.0 {
            return Ok(None);
        }
        if rate < PokClientConfig::MIN_RATE_LIMIT {
            return Err(self.invalid(
                "rate_limit",
                format!(
                    "must be at least one call an hour ({:.6}), or 0 for no limit (got {rate})",
                    PokClientConfig::MIN_RATE_LIMIT
                ),
            ));
        }
        Ok(Some(rate))
    }
}

#[cfg(test)]
// figment::Jail's closures must return figment's own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_overrides_the_file_and_the_file_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "openedx-pok.toml",
                "pok_timeout = 12\nplatform_name = \"Campus\"\n",
            )?;
            jail.set_env("POK_TIMEOUT", "7");
            jail.set_env("OPENEDX_POK_LISTEN", "0.0.0.0:9000");
            let l = load(None).map_err(|e| e.to_string())?;
            assert_eq!(l.settings.pok_timeout, 7);
            assert_eq!(l.settings.platform_name, "Campus");
            assert_eq!(l.settings.listen, "0.0.0.0:9000");
            assert_eq!(
                l.settings.database_url,
                pok_persistence::DEFAULT_DATABASE_URL
            );
            Ok(())
        });
    }

    #[test]
    fn a_wrong_value_names_the_key_and_its_source() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("POK_TIMEOUT", "soon");
            let err = load(None).unwrap_err().to_string();
            assert!(
                err.contains("pok_timeout") || err.contains("POK_TIMEOUT"),
                "{err}"
            );
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("OPENEDX_POK_DATE_FORMAT", "yyyy-MM-dd");
            let err = load(None).unwrap_err().to_string();
            assert!(err.contains("date_format"), "{err}");
            assert!(err.contains("OPENEDX_POK_DATE_FORMAT"), "{err}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.create_file("site.toml", "pok_template_id = \"has space\"\n")?;
            let err = load(Some(Path::new("site.toml"))).unwrap_err().to_string();
            assert!(
                err.contains("pok_template_id") && err.contains("site.toml"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn the_rate_limit_is_calls_per_second_and_zero_or_absent_means_none() {
        figment::Jail::expect_with(|jail| {
            let l = load(None).map_err(|e| e.to_string())?;
            assert_eq!(l.pok_rate_limit().map_err(|e| e.to_string())?, None);
            jail.set_env("OPENEDX_POK_RATE_LIMIT", "50");
            let l = load(None).map_err(|e| e.to_string())?;
            assert_eq!(l.pok_rate_limit().map_err(|e| e.to_string())?, Some(50.0));
            jail.set_env("OPENEDX_POK_RATE_LIMIT", "2.5");
            let l = load(None).map_err(|e| e.to_string())?;
            assert_eq!(l.pok_rate_limit().map_err(|e| e.to_string())?, Some(2.5));
            jail.set_env("OPENEDX_POK_RATE_LIMIT", "0");
            let l = load(None).map_err(|e| e.to_string())?;
            assert_eq!(l.pok_rate_limit().map_err(|e| e.to_string())?, None);
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.create_file("openedx-pok.toml", "rate_limit = 20\n")?;
            let l = load(None).map_err(|e| e.to_string())?;
            assert_eq!(l.pok_rate_limit().map_err(|e| e.to_string())?, Some(20.0));
            Ok(())
        });
    }

    #[test]
    fn a_negative_or_non_numeric_rate_limit_names_the_key() {
        for (value, why) in [
            ("-1", "calls per second"),
            ("fast", ""),
            ("0.00001", "one call an hour"),
        ] {
            figment::Jail::expect_with(|jail| {
                jail.set_env("OPENEDX_POK_RATE_LIMIT", value);
                let err = load(None).unwrap_err().to_string();
                // figment names the variable without its prefix, in upper case.
                assert!(err.to_lowercase().contains("rate_limit"), "{value}: {err}");
                assert!(err.contains("OPENEDX_POK_"), "{value}: {err}");
                assert!(err.contains(why), "{value}: {err}");
                Ok(())
            });
        }
    }

    #[test]
    fn unknown_keys_and_missing_files_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("openedx-pok.toml", "pok_api_ur = \"typo\"\n")?;
            let err = load(None).unwrap_err().to_string();
            assert!(err.contains("pok_api_ur"), "{err}");
            Ok(())
        });
        let err = load(Some(Path::new("/nonexistent/x.toml")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such file"), "{err}");
    }

    #[test]
    fn the_api_key_never_shows_in_debug() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("POK_API_KEY", "very-secret-key");
            let l = load(None).map_err(|e| e.to_string())?;
            assert!(!format!("{l:?}").contains("very-secret-key"));
            Ok(())
        });
    }
}
