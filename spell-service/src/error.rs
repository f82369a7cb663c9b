//! The service's error type. Every variant maps to a catalog code (`E-SVC-*`, or the runtime's
//! code when a worker refuses a package or a request).

use spell_core::{ErrorCode, HasCode};

/// Why a service-mode operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The NATS server could not be reached.
    #[error("cannot reach the NATS server at {url}: {reason}")]
    Unreachable {
        /// The server address as given.
        url: String,
        /// What the client reported.
        reason: String,
    },
    /// The connection options are invalid (unreadable credentials, certificates).
    #[error("invalid NATS connection options: {0}")]
    ConnectOptions(String),
    /// A stream or bucket of service mode does not exist.
    #[error("service-mode {kind} `{name}` does not exist")]
    Missing {
        /// `stream` or `bucket`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A request exceeds a size cap.
    #[error("{what} is {size} bytes, over the {max}-byte cap")]
    TooLarge {
        /// What was too large (`request`, `stdin`).
        what: &'static str,
        /// Its size.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// A request is malformed.
    #[error("invalid cast request: {0}")]
    InvalidRequest(String),
    /// No package with this digest is published.
    #[error("no package with digest {0} is published")]
    UnknownSpell(String),
    /// No cast with this id is known.
    #[error("no cast with id {0} is known")]
    UnknownCast(String),
    /// The cast finished, but its result is no longer stored (past the retention).
    #[error("cast {0} finished, but its result is past the retention and no longer stored")]
    ResultExpired(String),
    /// No result before the caller's deadline.
    #[error("no result for cast {cast_id} within {waited_ms} ms")]
    Timeout {
        /// The cast.
        cast_id: String,
        /// How long the caller waited.
        waited_ms: u64,
    },
    /// A NATS operation failed.
    #[error("NATS {op} failed: {reason}")]
    Transport {
        /// What was being done.
        op: &'static str,
        /// What the client reported.
        reason: String,
    },
    /// Loading the package or starting the cast was refused by the runtime.
    #[error(transparent)]
    Runtime(#[from] spell_runtime::Error),
}

impl ServiceError {
    /// A transport error for `op`, keeping the client's message.
    pub(crate) fn transport(op: &'static str, e: impl std::fmt::Display) -> ServiceError {
        ServiceError::Transport {
            op,
            reason: e.to_string(),
        }
    }
}

impl HasCode for ServiceError {
    fn code(&self) -> ErrorCode {
        match self {
            ServiceError::Unreachable { .. } => ErrorCode::ServiceUnreachable,
            ServiceError::ConnectOptions(_) => ErrorCode::ServiceConnectOptions,
            ServiceError::Missing { .. } => ErrorCode::ServiceStreamMissing,
            ServiceError::TooLarge { .. } => ErrorCode::ServiceRequestTooLarge,
            ServiceError::InvalidRequest(_) => ErrorCode::ServiceRequestInvalid,
            ServiceError::UnknownSpell(_) => ErrorCode::ServiceUnknownSpell,
            ServiceError::UnknownCast(_) => ErrorCode::ServiceUnknownCast,
            ServiceError::ResultExpired(_) => ErrorCode::ServiceResultExpired,
            ServiceError::Timeout { .. } => ErrorCode::ServiceTimeout,
            ServiceError::Transport { .. } => ErrorCode::ServiceTransport,
            ServiceError::Runtime(e) => e.code(),
        }
    }
}
