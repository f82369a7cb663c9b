//! No code: this crate only enables features (see its Cargo.toml).
