//! The tools `spell mcp` offers: every `.spell` package named on the command line (or found in a
//! named folder, not recursively) that has a `tool` section and passes the policy.
//!
//! A package is read first (cheap) and offered only when its manifest has a `tool` section; then
//! it is loaded exactly as `spell cast --policy` loads it (signature, SBOM, grant, compile). Every
//! package left out is logged on stderr with its reason and code; stdout carries the protocol.
//! A rescan reuses what it loaded before for files whose size and modification time did not
//! change, so polling a folder costs a `stat` per package.

use crate::report::Coded;
use rmcp::model::{MetaObject, Tool, ToolAnnotations};
use serde_json::json;
use spell_core::{Package, Policy, SchemaValidator, ToolSpec};
use spell_runtime::{Runtime, Spell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// One offered tool: the loaded spell and its compiled schemas.
pub struct Entry {
    pub spell: Spell,
    pub input: SchemaValidator,
    pub output: Option<SchemaValidator>,
    /// The tool as `tools/list` shows it, built once.
    pub tool: Tool,
}

/// A file's identity between scans.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

/// The offered tools by name, and what each scanned file gave (an entry or a logged refusal).
#[derive(Default)]
pub struct Catalog {
    pub tools: BTreeMap<String, Arc<Entry>>,
    /// The listing, in name order, built once per scan.
    pub listed: Arc<Vec<Tool>>,
    files: BTreeMap<PathBuf, (Stamp, Option<Arc<Entry>>)>,
}

impl Catalog {
    /// Scans `sources` again, reusing `self`'s entries for unchanged files. Returns the new
    /// catalog and whether the listing changed.
    pub fn rescan(
        &self,
        sources: &[PathBuf],
        runtime: &Runtime,
        policy: &Policy,
    ) -> (Catalog, bool) {
        let mut files = BTreeMap::new();
        let mut loaded = Vec::new();
        for path in package_files(sources) {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let stamp = Stamp {
                len: meta.len(),
                modified: meta.modified().ok(),
            };
            let entry = match self.files.get(&path) {
                Some((old, entry)) if *old == stamp => entry.clone(),
                _ => {
                    loaded.push(path.clone());
                    load(&path, runtime, policy)
                        .map(|e| e.map(Arc::new))
                        .unwrap_or_else(|err| {
                            eprintln!(
                                "spell mcp: not offered: {}: {}",
                                path.display(),
                                one_line(&err)
                            );
                            None
                        })
                }
            };
            files.insert(path, (stamp, entry));
        }
        let mut tools: BTreeMap<String, Arc<Entry>> = BTreeMap::new();
        for (path, (_, entry)) in &files {
            let Some(entry) = entry else { continue };
            let name = entry.spell.name();
            match tools.get(name) {
                // Said once, when the file is (re)loaded, not on every poll.
                Some(first) if loaded.contains(path) => eprintln!(
                    "spell mcp: not offered: {}: the tool name `{name}` is taken by sha256:{}",
                    path.display(),
                    first.spell.digest().to_hex()
                ),
                Some(_) => {}
                None => {
                    tools.insert(name.to_string(), entry.clone());
                }
            }
        }
        let listed: Vec<Tool> = tools.values().map(|e| e.tool.clone()).collect();
        let changed = listed != *self.listed;
        let catalog = Catalog {
            tools,
            listed: Arc::new(listed),
            files,
        };
        (catalog, changed)
    }
}

/// `error[E-SIG-004]: message` on one line, for the log.
fn one_line(err: &anyhow::Error) -> String {
    match crate::report::code_of(err) {
        Some(code) => format!("error[{}]: {err:#}", code.code()),
        None => format!("error: {err:#}"),
    }
}

/// The `.spell` files among `sources`: files as named, folders' direct `*.spell` children.
fn package_files(sources: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for source in sources {
        match std::fs::read_dir(source) {
            Ok(dir) => out.extend(
                dir.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "spell") && p.is_file()),
            ),
            Err(_) => out.push(source.clone()),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Loads one package: `Ok(None)` (logged) when it has no tool section.
fn load(path: &Path, runtime: &Runtime, policy: &Policy) -> anyhow::Result<Option<Entry>> {
    let bytes = std::fs::read(path)?;
    let package = Package::read(&bytes, &policy.package).map_err(Coded::from)?;
    let Some(spec) = package.manifest.tool.clone() else {
        eprintln!(
            "spell mcp: not offered: {}: no `tool` section",
            path.display()
        );
        return Ok(None);
    };
    let spell = runtime.load(&bytes, policy).map_err(Coded::from)?;
    let input = spec.input_validator().map_err(Coded::from)?;
    let output = spec.output_validator().map_err(Coded::from)?;
    let tool = describe(&spell, &spec);
    Ok(Some(Entry {
        spell,
        input,
        output,
        tool,
    }))
}

/// The tool as agents see it. `_meta.spell` says what it is and what it may touch: digest,
/// version, signer (as verified under this server's policy) and the granted capabilities.
fn describe(spell: &Spell, spec: &ToolSpec) -> Tool {
    let a = &spec.annotations;
    let annotations = ToolAnnotations::from_raw(
        spec.title.clone(),
        a.read_only,
        a.destructive,
        a.idempotent,
        a.open_world,
    );
    let signer = spell
        .verification()
        .and_then(|v| v.signer.as_ref())
        .map(|s| json!({"identity": s.identity, "issuer": s.issuer, "rule": s.rule}));
    let meta = json!({
        "digest": format!("sha256:{}", spell.digest().to_hex()),
        "name": spell.name(),
        "version": spell.version(),
        "signer": signer,
        "grant": spell.grant(),
    });
    let mut tool = Tool::new(
        spell.name().to_string(),
        spec.description.clone(),
        Arc::new(spec.input_schema.clone()),
    )
    .with_annotations(annotations)
    .with_meta(MetaObject(serde_json::Map::from_iter([(
        "spell".into(),
        meta,
    )])));
    if let Some(title) = &spec.title {
        tool = tool.with_title(title.clone());
    }
    if let Some(output) = &spec.output_schema {
        tool = tool.with_raw_output_schema(Arc::new(output.clone()));
    }
    tool
}
