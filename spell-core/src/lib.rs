//! # spell-core
//!
//! The data of Spell: the `.spell` package format, the manifest a maker writes, the policy a host
//! writes, grant computation between them, and the one error catalog every Spell crate and
//! binding reports codes from.
//!
//! ```
//! use spell_core::{Package, PackageLimits, Policy};
//! let manifest = br#"{"name":"demo","version":"0.1.0","license":"MIT"}"#;
//! let bytes = Package::pack(manifest, b"\0asm\x01\0\0\0", None, None)?;
//! let package = Package::read(&bytes, &PackageLimits::default())?;
//! let grant = Policy::default().grant(&package.manifest)?;
//! assert!(grant.env.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::panic)]

pub mod address;
pub mod capability;
pub mod digest;
pub mod error;
pub mod grant;
pub mod manifest;
pub mod package;
pub mod policy;
pub mod tool;
mod world;

pub use address::{AddressRange, AddressRangeError, NetworkPolicy};
pub use capability::{Access, Capabilities, HostPattern, Mount, Port};
pub use digest::Sha256Digest;
pub use error::{ErrorCode, HasCode};
pub use grant::{DeniedItem, Grant, GrantDenied};
pub use manifest::{Limits, MODULE_PATH, Manifest, ManifestError, ModuleKind, ModuleRef};
pub use package::{Package, PackageError, PackageInfo, PackageLimits};
pub use policy::{
    DEFAULT_LIMITS, EffectiveLimits, Policy, PolicyError, SignerRule, VulnerabilityThreshold,
};
pub use tool::{SchemaValidator, ToolAnnotations, ToolError, ToolSpec};
