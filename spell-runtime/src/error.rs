//! The runtime's error type. Every variant maps to a catalog code.

use spell_core::{ErrorCode, GrantDenied, HasCode, PackageError, PolicyError};
use spell_verify::VerifyError;

/// Why loading a spell or starting a cast failed. A cast that started never fails with this:
/// its end, whatever it is, is a [`crate::CastOutcome`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The package was refused while reading.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// The policy was refused.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Signature or SBOM verification refused the package.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The spell asks for more than the policy grants.
    #[error(transparent)]
    Denied(#[from] GrantDenied),
    /// The module exceeds the size cap.
    #[error("module is {size} bytes, over the {max}-byte cap")]
    ModuleTooLarge {
        /// Its size.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// The module failed validation or compilation.
    #[error("module is not valid for this runtime: {0}")]
    ModuleInvalid(String),
    /// Compiling the module would exceed the runtime's compile budget.
    #[error("module is too costly to compile: {0}")]
    ModuleTooComplex(String),
    /// The module imports what is neither WASI nor a granted host function; all are listed.
    #[error("module imports what the policy does not grant: {}", .0.join(", "))]
    ImportNotGranted(Vec<String>),
    /// The entrypoint is missing or has parameters.
    #[error("entrypoint `{name}`: {reason}")]
    Entrypoint {
        /// The export name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// No cast slot became free in time.
    #[error("{in_flight} casts in flight and none finished within {waited_ms} ms")]
    Busy {
        /// The concurrency cap.
        in_flight: usize,
        /// How long the cast waited.
        waited_ms: u64,
    },
    /// The runtime configuration is invalid.
    #[error("runtime configuration: {0}")]
    Config(String),
    /// A host function registration is invalid.
    #[error("host function `{name}`: {reason}")]
    HostFunction {
        /// `module::name`.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The cast asked for more than the spell's grant; every item is listed.
    #[error("cast request exceeds the grant: {}", .0.join("; "))]
    RequestDenied(Vec<String>),
    /// The cast could not be set up.
    #[error("cast setup: {0}")]
    Setup(String),
    /// A rescan refused the spell after it was loaded; nothing ran.
    #[error("spell {name} sha256:{digest} was revoked by a rescan: [{cause}] {reason}")]
    Revoked {
        /// The spell's name.
        name: String,
        /// The spell's digest (hex).
        digest: String,
        /// The refusal's own code (`E-SBOM-005`, `E-SIG-009`, …).
        cause: ErrorCode,
        /// The refusal with its findings.
        reason: String,
    },
}

impl HasCode for Error {
    fn code(&self) -> ErrorCode {
        match self {
            Error::Package(e) => e.code(),
            Error::Policy(e) => e.code(),
            Error::Verify(e) => e.code(),
            Error::Denied(e) => e.code(),
            Error::ModuleTooLarge { .. } => ErrorCode::ModuleTooLarge,
            Error::ModuleInvalid(_) => ErrorCode::ModuleInvalid,
            Error::ModuleTooComplex(_) => ErrorCode::ModuleTooComplex,
            Error::ImportNotGranted(_) => ErrorCode::ImportNotGranted,
            Error::Entrypoint { .. } => ErrorCode::EntrypointInvalid,
            Error::Busy { .. } => ErrorCode::Busy,
            Error::Config(_) => ErrorCode::RuntimeConfig,
            Error::HostFunction { .. } => ErrorCode::HostFunctionInvalid,
            Error::RequestDenied(_) => ErrorCode::CastRequestDenied,
            Error::Setup(_) => ErrorCode::CastSetup,
            Error::Revoked { .. } => ErrorCode::SpellRevoked,
        }
    }
}
