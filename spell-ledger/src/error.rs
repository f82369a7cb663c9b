//! The ledger's error type. Every variant maps to a catalog code (`E-BILL-*`).

use spell_core::{ErrorCode, HasCode};

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The account is not in the ledger.
    #[error("account `{0}` is not in the ledger")]
    AccountUnknown(String),
    /// The price list is invalid.
    #[error("price list: {0}")]
    Prices(String),
    /// A value given to the ledger is out of range (negative budget, empty account id).
    #[error("{0}")]
    Invalid(String),
    /// The hash chain is broken at `seq`: a row was altered, removed or inserted outside Spell.
    #[error("ledger row {seq} (cast {cast_id}) is broken: {reason}")]
    Tampered {
        /// The first broken row (1-based chain position).
        seq: i64,
        /// Its cast id, as stored.
        cast_id: String,
        /// What does not match.
        reason: String,
    },
    /// The ledger does not contain a head it once had (a signed head from `spell ledger head`).
    #[error("the ledger does not contain head {seq} {hash}: it was replaced or truncated")]
    HeadMissing {
        /// The head's row.
        seq: i64,
        /// The head's hash.
        hash: String,
    },
    /// SQLite failed, or the file is not a ledger.
    #[error("ledger storage: {0}")]
    Storage(#[from] rusqlite::Error),
    /// Reading or writing the ledger's files failed.
    #[error("ledger {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl HasCode for LedgerError {
    fn code(&self) -> ErrorCode {
        match self {
            LedgerError::AccountUnknown(_) => ErrorCode::BillAccountUnknown,
            LedgerError::Prices(_) => ErrorCode::BillPricesInvalid,
            LedgerError::Invalid(_) => ErrorCode::InvalidArgument,
            LedgerError::Tampered { .. } | LedgerError::HeadMissing { .. } => {
                ErrorCode::LedgerTampered
            }
            LedgerError::Storage(_) | LedgerError::Io { .. } => ErrorCode::LedgerStorage,
        }
    }
}

impl LedgerError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> LedgerError {
        LedgerError::Io {
            what: what.into(),
            source,
        }
    }
}
