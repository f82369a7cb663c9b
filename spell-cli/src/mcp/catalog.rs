//! The tools `spell mcp` offers: every `.spell` package named on the command line (or found in a
//! named folder, not recursively), and with `--published` every package published to service
//! mode, that has a `tool` section and passes the policy.
//!
//! A package is read first (cheap) and offered only when its manifest has a `tool` section; then
//! it is loaded exactly as `spell cast --policy` loads it (signature, SBOM, grant, compile). Every
//! package left out is logged on stderr with its reason and code; stdout carries the protocol.
//! A rescan reuses what it loaded before for files whose size and modification time did not
//! change, so polling a folder costs a `stat` per package; a published package is named by its
//! digest, so it is fetched and loaded once.

use crate::report::Coded;
use rmcp::model::{MetaObject, Tool, ToolAnnotations};
use serde_json::json;
use spell_core::{Package, Policy, SchemaValidator, Sha256Digest, ToolSpec};
use spell_runtime::{Runtime, Spell};
use std::collections::BTreeMap;
use std::path::PathBuf;
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

/// Where a package comes from.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// A file.
    File(PathBuf),
    /// The service-mode object store, by digest.
    Published(Sha256Digest),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Published(digest) => write!(f, "published sha256:{}", digest.to_hex()),
        }
    }
}

/// A package's identity between scans: a file's size and modification time; nothing for a
/// published package, whose origin is its digest.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

/// A published package for [`Catalog::rescan`]: its bytes, fetched only when
/// [`Catalog::has`] said the catalog does not have it yet.
pub type Published = (Sha256Digest, Option<Vec<u8>>);

/// The offered tools by name, and what each scanned package gave (an entry or a logged refusal).
#[derive(Default)]
pub struct Catalog {
    pub tools: BTreeMap<String, Arc<Entry>>,
    /// The listing, in name order, built once per scan.
    pub listed: Arc<Vec<Tool>>,
    packages: BTreeMap<Origin, (Stamp, Option<Arc<Entry>>)>,
}

impl Catalog {
    /// Whether a scan already gave a verdict on the package published under `digest`.
    pub fn has(&self, digest: &Sha256Digest) -> bool {
        self.packages.contains_key(&Origin::Published(*digest))
    }

    /// Scans `sources` and the `published` packages again, reusing `self`'s entries for unchanged
    /// ones. Returns the new catalog and whether the listing changed.
    pub fn rescan(
        &self,
        sources: &[PathBuf],
        published: Vec<Published>,
        runtime: &Runtime,
        policy: &Policy,
    ) -> (Catalog, bool) {
        let mut packages = BTreeMap::new();
        let mut loaded = Vec::new();
        let mut scan =
            |origin: Origin, stamp: Stamp, read: &dyn Fn() -> std::io::Result<Vec<u8>>| {
                let entry = match self.packages.get(&origin) {
                    Some((old, entry)) if *old == stamp => entry.clone(),
                    _ => {
                        loaded.push(origin.clone());
                        let entry = read()
                            .map_err(anyhow::Error::from)
                            .and_then(|bytes| load(&origin, &bytes, runtime, policy));
                        entry.map(|e| e.map(Arc::new)).unwrap_or_else(|err| {
                            eprintln!("spell mcp: not offered: {origin}: {}", one_line(&err));
                            None
                        })
                    }
                };
                packages.insert(origin, (stamp, entry));
            };
        for path in package_files(sources) {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let stamp = Stamp {
                len: meta.len(),
                modified: meta.modified().ok(),
            };
            scan(Origin::File(path.clone()), stamp, &|| std::fs::read(&path));
        }
        let unchanged = Stamp {
            len: 0,
            modified: None,
        };
        for (digest, bytes) in published {
            let read = || {
                bytes
                    .clone()
                    .ok_or_else(|| std::io::Error::other("not fetched"))
            };
            scan(Origin::Published(digest), unchanged, &read);
        }
        let mut tools: BTreeMap<String, Arc<Entry>> = BTreeMap::new();
        for (origin, (_, entry)) in &packages {
            let Some(entry) = entry else { continue };
            let name = entry.spell.name();
            match tools.get(name) {
                // Said once, when the file is (re)loaded, not on every poll.
                Some(first) if loaded.contains(origin) => eprintln!(
                    "spell mcp: not offered: {origin}: the tool name `{name}` is taken by sha256:{}",
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
            packages,
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
fn load(
    origin: &Origin,
    bytes: &[u8],
    runtime: &Runtime,
    policy: &Policy,
) -> anyhow::Result<Option<Entry>> {
    let package = Package::read(bytes, &policy.package).map_err(Coded::from)?;
    if let Origin::Published(digest) = origin {
        // The object's name is the digest it was published under; the package must be that one.
        anyhow::ensure!(
            package.digest() == *digest,
            "its digest is sha256:{}, not the one it was published under",
            package.digest().to_hex()
        );
    }
    let Some(spec) = package.manifest.tool.clone() else {
        eprintln!("spell mcp: not offered: {origin}: no `tool` section");
        return Ok(None);
    };
    let spell = runtime.load(bytes, policy).map_err(Coded::from)?;
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
