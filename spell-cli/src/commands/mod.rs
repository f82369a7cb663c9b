//! One module per subcommand: an `Args` struct and a `run` returning the exit code.

pub mod audit;
pub mod cache;
pub mod cast;
pub mod inspect;
pub mod keygen;
pub mod ledger;
pub mod mcp;
pub mod nats;
pub mod pack;
pub mod publish;
pub mod sbom;
pub mod sign;
pub mod status;
pub mod submit;
pub mod verify;
pub mod verify_blob;
pub mod worker;
