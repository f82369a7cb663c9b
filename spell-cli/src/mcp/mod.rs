//! `spell mcp`: verified spells as Model Context Protocol tools.
//!
//! - [`catalog`]: which packages are offered, and each tool's description and `_meta`
//! - [`server`]: the MCP handler (`tools/list`, `tools/call`, cancellation, progress)
//! - [`call`]: a cast's outcome as a tool result
//! - [`http`]: the streamable HTTP transport (`--listen`)

pub mod call;
pub mod catalog;
pub mod http;
pub mod server;

pub use catalog::Catalog;
pub use server::{Shared, SpellTools};
