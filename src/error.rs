//! One error type for the whole run; each variant knows which exit-code class it
//! belongs to, so `main` never has to guess.

use serde::{Deserialize, Serialize};

/// Exit codes, each meaning one thing (documented in the README and `--help`).
pub mod exit {
    /// Every kernel verified (or, for `compare`, no regression).
    pub const OK: i32 = 0;
    /// A kernel's result was wrong.
    pub const WRONG_RESULT: i32 = 1;
    /// Bad usage or input.
    pub const USAGE: i32 = 2;
    /// Environment failure: no adapter, software adapter where hardware is required,
    /// device lost, shader or pipeline failure, out of memory, timeout.
    pub const ENVIRONMENT: i32 = 3;
    /// A performance regression (`compare`).
    pub const REGRESSION: i32 = 4;
    /// Cancelled by SIGINT.
    pub const SIGINT: i32 = 130;
    /// Cancelled by SIGTERM.
    pub const SIGTERM: i32 = 143;
}

/// What went wrong with the environment: recorded in `result.json` so an operator can
/// tell a hung driver from a lost device without reading logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EnvKind {
    NoAdapter,
    SoftwareAdapter,
    UnexpectedAdapter,
    MissingFeature,
    DeviceRequest,
    DeviceLost,
    Validation,
    OutOfMemory,
    Timeout,
    Panic,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad usage or input: the message names the value and the fix.
    #[error("{0}")]
    Usage(String),
    /// The machine, driver or GPU failed us.
    #[error("{message}")]
    Environment { kind: EnvKind, message: String },
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage(message.into())
    }

    pub fn env(kind: EnvKind, message: impl Into<String>) -> Self {
        Error::Environment {
            kind,
            message: message.into(),
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Environment { .. } => exit::ENVIRONMENT,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
