//! # spell-node
//!
//! The Node binding of Spell (napi-rs): `Runtime`, `Policy`, `Spell` and `SpellError` for
//! JavaScript and TypeScript, over `spell-runtime`. The package entry is `index.js`; the types
//! are `index.d.ts`, generated from this crate. `examples/node/hello.mjs` is a runnable example:
//!
//! ```js
//! const { Runtime, Policy } = require('@spell/runtime')
//! const runtime = new Runtime()
//! const spell = await runtime.load('examples/hello/hello.spell', Policy.fromToml('allow_unsigned = true'))
//! const { outcome, stdout, usage } = await spell.cast({ args: ['node'] })
//! ```
//!
//! How the pieces fit: casts and loads run on threads of their own (`pool`) and settle
//! promises on the JS thread; hooks and host functions are JS functions that cast threads call
//! through threadsafe functions and wait for (`js_call`, where the deadlock rules are); every
//! refusal is a `SpellError` with the catalog's code (`errors`).

mod cast;
mod convert;
mod errors;
mod host_function;
mod js_call;
mod ledger;
mod meter;
mod outcome;
mod output;
mod policy;
mod pool;
mod runtime;
mod spell;

/// The addon's own allocations (a cast makes and frees about a hundred) go to mimalloc, not
/// glibc's malloc, whose fastbin consolidation and locking took about 12% of a cast's
/// instructions here; JS and Node keep theirs. `local_dynamic_tls` because Node loads the addon
/// with `dlopen`, where mimalloc's default TLS model fails to load; `v2` because mimalloc 3
/// returned freed pages to the kernel between casts (`clear_page_erms`, 3.5% of a cast's time in
/// `perf`, refaulting them).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use convert::{bytes, from_js};
use errors::Failure;
use napi::Env;
use napi::bindgen_prelude::{Buffer, Either, Uint8Array, Unknown};
use napi_derive::napi;
use spell_core::{ErrorCode, Package};

/// Packs a manifest (`spell.json` text) and a module (WebAssembly binary or WAT text) into an
/// unsigned `.spell` package without SBOM, filling in the module's pins, as `spell pack` does.
///
/// Throws a `SpellError`: `E-MOD-002` for WAT that does not parse, the package codes otherwise.
#[napi(ts_args_type = "manifest: string | Uint8Array, module: string | Uint8Array")]
pub fn pack(env: Env, manifest: Unknown, module: Unknown) -> napi::Result<Buffer> {
    pack_package(manifest, module)
        .map(Buffer::from)
        .map_err(|f| f.throw(&env))
}

/// What a package (a path, or its bytes) says about itself, checked for form and pins only:
/// `{ digest, manifest, signed, has_sbom, imports, exports }` (snake_case, as `spell inspect --json` prints it).
/// Trust it only after `runtime.verify` or `runtime.load`.
///
/// Throws a `SpellError` with the package codes.
#[napi(
    ts_args_type = "spell: string | Uint8Array",
    ts_return_type = "Record<string, any>"
)]
pub fn inspect(env: Env, spell: Unknown) -> napi::Result<serde_json::Value> {
    let info = from_js::<Either<String, Uint8Array>>(spell, "spell")
        .and_then(|s| runtime::PackageSource::of(s).read())
        .and_then(|bytes| Package::read(&bytes, &Default::default()).map_err(|e| Failure::of(&e)))
        .and_then(|p| serde_json::to_value(p.info()).map_err(|e| Failure::invalid(e.to_string())));
    info.map_err(|f| f.throw(&env))
}

fn pack_package(manifest: Unknown, module: Unknown) -> Result<Vec<u8>, Failure> {
    let manifest = bytes(from_js::<Either<String, Uint8Array>>(manifest, "manifest")?);
    let module = bytes(from_js::<Either<String, Uint8Array>>(module, "module")?);
    let wasm = if module.starts_with(b"\0asm") {
        module
    } else {
        wat::parse_bytes(&module)
            .map_err(|e| Failure::new(ErrorCode::ModuleInvalid, format!("module text: {e}")))?
            .into_owned()
    };
    Package::pack(&manifest, &wasm, None, None).map_err(|e| Failure::of(&e))
}

/// The field names, snake_case, of the JSON shape every binding shares (`spell cast --json`,
/// Python's `to_dict`): what a cast result's `toJSON()` gives.
#[napi(object, object_from_js = false)]
pub struct JsonFields {
    /// The cast result's fields.
    pub outcome: Vec<String>,
    /// The usage record's fields.
    pub usage: Vec<String>,
    /// The limits' fields.
    pub limits: Vec<String>,
}

/// The field names of the shared JSON shape, from the Rust types.
#[napi]
pub fn json_fields() -> JsonFields {
    use spell_runtime::json::{LIMITS_FIELDS, OUTCOME_FIELDS, USAGE_FIELDS};
    let names = |f: &[&str]| f.iter().map(|n| n.to_string()).collect();
    JsonFields {
        outcome: names(&OUTCOME_FIELDS),
        usage: names(&USAGE_FIELDS),
        limits: names(&LIMITS_FIELDS),
    }
}
