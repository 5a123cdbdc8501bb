//! The binary's one error type, and its exit codes.

use crate::settings::SettingsError;

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments or input: exit code 2.
    #[error("{0}")]
    Usage(String),
    /// A wrong setting: exit code 2.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// A rule of the domain refused, or a port failed: exit code 1 (2 for invalid input).
    #[error(transparent)]
    Domain(#[from] pok_domain::Error),
    /// Start-up or I/O failure: exit code 1.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// 2 for what the user can fix in the command line or settings, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_)
            | Self::Settings(_)
            | Self::Domain(pok_domain::Error::Invalid { .. }) => 2,
            _ => 1,
        }
    }

    /// A failure described in words.
    pub fn failed(what: impl std::fmt::Display) -> Self {
        Self::Failed(what.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        Self::Failed(e.to_string())
    }
}
