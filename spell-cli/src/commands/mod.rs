//! One module per subcommand: an `Args` struct and a `run` returning the exit code.

pub mod audit;
pub mod cast;
pub mod inspect;
pub mod keygen;
pub mod ledger;
pub mod pack;
pub mod sbom;
pub mod sign;
pub mod verify;
pub mod verify_blob;
