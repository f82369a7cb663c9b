//! What a module imports and exports, as [`crate::PackageInfo`] lists them.

use wasmparser::{Parser, Payload};

/// The names a module or component imports and exports: `module::name` for a core module's
/// functions, memories and tables; for a component, its world's interfaces
/// (`wasi:cli/stdout@0.2.6`) and top-level items, as its outermost import and export sections
/// name them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct World {
    pub(crate) imports: Vec<String>,
    pub(crate) exports: Vec<String>,
}

impl World {
    /// Reads the outermost sections only; bytes wasmparser cannot read list what it read up to
    /// there (the runtime refuses such modules at load with its own words).
    pub(crate) fn of(wasm: &[u8]) -> World {
        let mut world = World::default();
        // Nested modules and components have sections of their own: only depth 0 is the world.
        let mut depth = 0usize;
        for payload in Parser::new(0).parse_all(wasm) {
            let Ok(payload) = payload else { break };
            match payload {
                Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
                Payload::End(_) => depth = depth.saturating_sub(1),
                _ if depth > 0 => {}
                Payload::ImportSection(imports) => {
                    for import in imports.into_imports().flatten() {
                        world
                            .imports
                            .push(format!("{}::{}", import.module, import.name));
                    }
                }
                Payload::ExportSection(exports) => {
                    world
                        .exports
                        .extend(exports.into_iter().flatten().map(|e| e.name.to_string()));
                }
                Payload::ComponentImportSection(imports) => {
                    world.imports.extend(
                        imports
                            .into_iter()
                            .flatten()
                            .map(|i| i.name.name.to_string()),
                    );
                }
                Payload::ComponentExportSection(exports) => {
                    world.exports.extend(
                        exports
                            .into_iter()
                            .flatten()
                            .map(|e| e.name.name.to_string()),
                    );
                }
                _ => {}
            }
        }
        world
    }
}

#[cfg(test)]
mod tests {
    use super::World;

    #[test]
    fn a_core_module_lists_its_imports_and_exports() {
        let wasm = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x02\x0b\x01\x03env\x03log\0\0\x03\x02\x01\0\x07\x07\x01\x03run\0\x01\x0a\x04\x01\x02\0\x0b";
        assert_eq!(
            World::of(wasm),
            World {
                imports: vec!["env::log".into()],
                exports: vec!["run".into()],
            }
        );
    }

    #[test]
    fn unreadable_bytes_list_what_was_read_before() {
        let wasm = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x02\x0b\x01\x03env\x03log\0\0\xff\xff";
        assert_eq!(World::of(wasm).imports, ["env::log"]);
        assert_eq!(World::of(b"not wasm"), World::default());
    }
}
