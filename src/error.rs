//! One error type for every command. The class (usage, environment, I/O) is chosen
//! where the error is raised and each variant knows its exit code, so `main` never has
//! to guess. There is deliberately no conversion from `String`: a message alone does
//! not say whose fault it is.

use serde::{Deserialize, Serialize};

/// Exit codes, each meaning one thing (documented in docs/guide.md and `--help`).
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
    /// `burn`: throughput drifted beyond `--max-drift` with no throttle to explain it.
    pub const DRIFT: i32 = 5;
    /// `compare`: the current run stopped early or is partial, so it cannot show that
    /// nothing regressed.
    pub const INCONCLUSIVE: i32 = 6;
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
    /// A file could not be read or written (artifacts, tuning files, charts).
    Io,
    /// The card's state is unfit for a job: uncorrectable ECC or RAS errors, a pending
    /// or failed row remap, fatal PCIe AER errors, a degraded link (preflight).
    CardState,
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

    /// A file this command had to write (or read back) and could not: the machine's
    /// fault, not the user's.
    pub fn io(message: impl Into<String>) -> Self {
        Error::env(EnvKind::Io, message)
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Environment { .. } => exit::ENVIRONMENT,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A panic's payload as text (panics carry a `String` or a `&str`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".into())
}
