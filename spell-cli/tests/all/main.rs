//! Integration tests of the `spell` binary, one module per area.

mod audit;
mod verify;
