//! Casts arbitrary components under the sandbox's limits and checks the sandbox's promises
//! (`sandbox.rs`). Input: a component, binary or text. The seeds are hand-written components (a
//! `wasi:cli/command` calling `exit-with-code`, exports that return, spin, grow memory and trap,
//! one asking for sockets, a WASI preview 3 command lifted with the async ABI); libFuzzer's
//! mutations of them exercise component validation, Spell's import check and world listing, and
//! the preview-2 and preview-3 hosts under limits. Each component is cast once: as a command
//! (`_start`, its `wasi:cli/run`), or else through the first of its top-level exports that loads;
//! on the sandbox's runtime, or, when it loads only there, on one built with `wasi_p3`.

use spell_core::{ModuleKind, Package};
use spell_runtime::Runtime;
use std::sync::OnceLock;

/// How many exports are tried as the entrypoint.
const TRIED_EXPORTS: usize = 4;

/// The component an input stands for, if it makes one.
pub fn component(data: &[u8]) -> Option<Vec<u8>> {
    let wasm = if data.starts_with(b"(component") {
        wat::parse_str(std::str::from_utf8(data).ok()?).ok()?
    } else {
        data.to_vec()
    };
    (ModuleKind::detect(&wasm) == Some(ModuleKind::Component)).then_some(wasm)
}

/// Runs one input.
pub fn run(data: &[u8]) {
    if let Some(spell) = component(data).as_deref().and_then(load) {
        crate::sandbox::cast_checked(&spell);
    }
}

fn load(wasm: &[u8]) -> Option<spell_runtime::Spell> {
    let manifest = br#"{"name":"fuzz","version":"1.0.0","license":"MIT","entrypoint":"_start"}"#;
    let exports = Package::pack(manifest, wasm, None, None)
        .ok()
        .and_then(|p| Package::read(&p, &Default::default()).ok())
        .map(|p| p.info().exports)
        .unwrap_or_default();
    // `_start` is a command's `wasi:cli/run`, as for modules.
    let entrypoints = std::iter::once("_start").chain(
        exports
            .iter()
            .map(String::as_str)
            .filter(|e| !e.contains(':'))
            .take(TRIED_EXPORTS),
    );
    let entrypoints: Vec<&str> = entrypoints.collect();
    crate::sandbox::load_as(crate::sandbox::runtime(), wasm, entrypoints.iter().copied())
        .or_else(|| crate::sandbox::load_as(p3_runtime(), wasm, entrypoints.iter().copied()))
}

/// The sandbox's runtime with WASI preview 3.
fn p3_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        crate::sandbox::builder()
            .wasi_p3(true)
            .build()
            .expect("the fuzz runtime builds")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_loads_and_casts() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/components");
        for entry in std::fs::read_dir(&dir).expect("seeds") {
            let path = entry.expect("seed").path();
            let data = std::fs::read(&path).expect("seed");
            let wasm = component(&data).expect("a seed is a component");
            assert!(load(&wasm).is_some(), "{} does not load", path.display());
            run(&data);
        }
    }
}
