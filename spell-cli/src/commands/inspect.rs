//! `spell inspect X.spell [--json] [--manifest]`

use crate::report::Coded;
use spell_core::{Package, PackageLimits};
use std::path::PathBuf;

/// Arguments of `spell inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// The package.
    package: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Print the exact spell.json bytes (what a signature covers).
    #[arg(long, conflicts_with = "json")]
    manifest: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let pkg = Package::read_file(&args.package, &PackageLimits::default()).map_err(Coded::from)?;
    let m = &pkg.manifest;
    if args.manifest {
        use std::io::Write;
        std::io::stdout().write_all(&pkg.manifest_bytes)?;
        return Ok(0);
    }
    let world = World::of(&pkg.module);
    if args.json {
        let mut out = serde_json::to_value(pkg.info())?;
        out["imports"] = serde_json::json!(world.imports);
        out["exports"] = serde_json::json!(world.exports);
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    println!("{} {}  ({})", m.name, m.version, m.license);
    if let Some(d) = &m.description {
        println!("  {d}");
    }
    println!("digest      sha256:{}", pkg.digest());
    println!(
        "module      {} {} bytes, sha256:{}, entrypoint `{}`",
        m.module.kind, m.module.size, m.module.sha256, m.entrypoint
    );
    println!("imports     {}", list(&world.imports));
    println!("exports     {}", list(&world.exports));
    match &m.sbom {
        Some(s) => println!("sbom        {} bytes, sha256:{}", s.size, s.sha256),
        None => println!("sbom        none"),
    }
    println!(
        "signed      {}",
        if pkg.bundle.is_some() {
            "yes (spell.sigstore.json)"
        } else {
            "no"
        }
    );
    let c = &m.capabilities;
    println!(
        "asks for    env {:?}, mounts {:?}, network {:?}, host functions {:?}",
        c.env,
        c.mounts
            .iter()
            .map(|x| format!("{}:{:?}", x.guest, x.access))
            .collect::<Vec<_>>(),
        c.network.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        c.host_functions
    );
    println!("limits      {}", serde_json::to_string(&m.limits)?);
    Ok(0)
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// What a module imports and exports: `module::name` for a core module's functions, memories
/// and tables; for a component, its world's interfaces (`wasi:cli/stdout@0.2.6`) and top-level
/// items, as its outermost import and export sections name them.
#[derive(Default)]
struct World {
    imports: Vec<String>,
    exports: Vec<String>,
}

impl World {
    /// Reads the outermost sections only; a module wasmparser cannot read lists what it read up
    /// to there (the runtime refuses such modules at load with its own words).
    fn of(wasm: &[u8]) -> World {
        use wasmparser::{Parser, Payload};
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
