//! The POK HTTP adapter: implements the domain's [`PokGateway`](pok_domain::ports::PokGateway)
//! port with reqwest (rustls, no OpenSSL).
//!
//! # Layout
//! - [`config`]: [`PokClientConfig`], the settings (base URL, API key, timeouts, retries).
//! - `api` (private): every assumption about POK's API: paths, request bodies, answer shapes.
//!   It is the one place to change when POK turns out to differ from `pok-api.md`.
//! - `client` (private): [`PokClient`], which builds a request from an `api` call, waits for
//!   its turn, sends it, sorts the outcome into a [`PokError`], decodes the answer with `api`,
//!   and sends again what is safe to send again.
//! - `rate_limit` (private): the turn every call waits for, shared by a client's clones: the
//!   optional rate limit of [`PokClientConfig::rate_limit`] and the pause after a 429.
//! - [`error`]: [`PokError`] and its classification into the domain's
//!   [`GatewayError`](pok_domain::GatewayError) (safe to retry / outcome unknown / permanent).
//!
//! A call flows: domain request → `api` body → turn → HTTP → status and body → `PokError` or
//! `api` decoding → domain type. Issuing is sent again only after POK refused it with 429
//! (it did nothing, and waiting here spares the certificate a failed attempt); whatever else
//! may have reached POK and did not come back as a readable 2xx is reported as
//! outcome-unknown, never sent again.
//!
//! # Secrets and personal data
//! The API key is a [`secrecy::SecretString`] and a sensitive header; error texts are cut to
//! short excerpts with the key, e-mail addresses and the receiver's name replaced; logs carry
//! the endpoint, status, latency and error class, never a request body.
//!
//! # Example
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use pok_client::{PokClient, PokClientConfig};
//! use pok_domain::ports::PokGateway;
//!
//! let config = PokClientConfig::new("my-api-key".into())
//!     .with_base_url("https://api.credentity.xyz/".parse()?);
//! let pok = PokClient::new(config)?;
//! let org = pok.organization().await?;
//! println!("{} has {:?} credits", org.name, org.available_credits);
//! # Ok(()) }
//! ```

mod api;
mod client;
pub mod config;
pub mod error;
mod rate_limit;

pub use client::PokClient;
pub use config::PokClientConfig;
pub use error::PokError;

#[doc(hidden)]
pub use pok_domain as domain;
