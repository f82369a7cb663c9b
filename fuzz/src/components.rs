//! Casts arbitrary components under the sandbox's limits and checks the sandbox's promises
//! (`sandbox.rs`). Input: a component, binary or text. The seeds are hand-written components (a
//! `wasi:cli/command` calling `exit-with-code`, exports that return, spin, grow memory and trap,
//! one asking for sockets, a WASI preview 3 command lifted with the async ABI) and the preview 3
//! file guest of `spell-runtime/tests/all/components_p3_fs.rs` (`p3_files.wasm`, `SPELL_BLESS=1`
//! rewrites it), which runs its arguments as file commands; libFuzzer's mutations of them
//! exercise component validation, Spell's import check and world listing, and the preview-2 and
//! preview-3 hosts under limits. Each component is cast once: as a command (`_start`, its
//! `wasi:cli/run`), or else through the first of its top-level exports that loads; on the
//! sandbox's runtime, or, when it loads only there, on one built with `wasi_p3`. Every cast gets
//! an empty scratch folder mounted read-write at `/scratch` (under a 64 KiB disk budget) and
//! [`ARGS`], or the arguments in the component's `spell-fuzz:args` custom section (separated by
//! NULs), which mutations reach too: the seeds made from `spell-runtime/tests/guests/fs.c` with
//! the preview-1 adapter (`fs_*.wasm`) carry one command each for preview 2's file guards.
//!
//! Oracles beyond the sandbox's: afterwards the folder holds no more bytes than the cast was
//! billed for writing (each file once, however many links it has), no symbolic link in it points
//! out of it (absolute or through `..`), and the process holds no descriptor into it (a second
//! after the cast at most: a write on a blocking thread may still hold its file).

use crate::host_calls::{assert_descriptors_return, descriptors_into, empty};
use spell_core::{Access, ModuleKind, Package};
use spell_runtime::{CastRequest, Runtime};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, OnceLock};

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

/// The arguments of every cast: the file guest's commands, each of its guarded calls once
/// (`symlink-at`, `write-via-stream`, `append-via-stream`, one past a hole, `set-size`) and a
/// read under the output limit.
const ARGS: [&str; 20] = [
    "link", "../out", "l", "write", "f", "40000", "append", "f", "100", "sparse", "s", "9000",
    "truncate", "t", "3000", "write", "r", "10", "read", "r",
];

/// Runs one input.
pub fn run(data: &[u8]) {
    // The scratch folder is shared: one cast at a time.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(wasm) = component(data) else { return };
    let Some(spell) = load(&wasm) else { return };
    static SCRATCH: OnceLock<tempfile::TempDir> = OnceLock::new();
    let scratch = SCRATCH
        .get_or_init(|| tempfile::tempdir().expect("scratch folder"))
        .path();
    empty(scratch);
    let before = descriptors_into(&[scratch]);
    let out = crate::sandbox::cast_checked(&spell, request(scratch, args(&wasm)));
    let (bytes, links) = contents(scratch);
    assert!(
        bytes <= out.usage.disk_bytes_written,
        "{bytes} bytes in the folder, {} billed",
        out.usage.disk_bytes_written
    );
    for (link, target) in links {
        assert!(
            target.is_relative() && target.components().all(|c| c != Component::ParentDir),
            "{} -> {}",
            link.display(),
            target.display()
        );
    }
    assert_descriptors_return(&[scratch], before);
}

/// A cast with `scratch` mounted read-write and `args`.
fn request(scratch: &Path, args: Vec<String>) -> CastRequest {
    CastRequest::new()
        .mount(scratch, "/scratch", Access::Rw)
        .args(args)
}

/// The custom section whose NUL-separated contents replace [`ARGS`].
const ARGS_SECTION: &str = "spell-fuzz:args";

/// The arguments `wasm` carries in an [`ARGS_SECTION`], or else [`ARGS`].
fn args(wasm: &[u8]) -> Vec<String> {
    let carried = wasmparser::Parser::new(0)
        .parse_all(wasm)
        .find_map(|payload| match payload {
            Ok(wasmparser::Payload::CustomSection(s)) if s.name() == ARGS_SECTION => {
                Some(s.data().to_vec())
            }
            _ => None,
        });
    match carried {
        Some(data) => data
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
        None => ARGS.iter().map(|a| a.to_string()).collect(),
    }
}

/// The bytes of the files below `folder` (a file with several names once), and its symbolic
/// links with their targets.
fn contents(folder: &Path) -> (u64, Vec<(PathBuf, PathBuf)>) {
    let (mut files, mut links) = (HashMap::new(), Vec::new());
    let mut folders = vec![folder.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_symlink() {
                let target = std::fs::read_link(entry.path()).expect("a link's target");
                links.push((entry.path(), target));
            } else if meta.is_dir() {
                folders.push(entry.path());
            } else {
                files.insert((meta.dev(), meta.ino()), meta.len());
            }
        }
    }
    (files.values().sum(), links)
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
    let policy = crate::sandbox::policy(r#"mounts = [{ guest = "/scratch", access = "rw" }]"#);
    let asks = serde_json::json!({"mounts": [{"guest": "/scratch", "access": "rw"}]});
    [crate::sandbox::runtime(), p3_runtime()]
        .into_iter()
        .find_map(|rt| {
            crate::sandbox::load_as(rt, &policy, &asks, wasm, entrypoints.iter().copied())
        })
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

    #[test]
    fn the_preview_2_file_seeds_run_their_commands() {
        // Each seed's `spell-fuzz:args` reach `fs.c` through the adapter and preview 2's guards:
        // bytes billed as written, holes included; a link out refused.
        for (seed, billed) in [
            ("fs_write", 40_000),
            ("fs_sparse", 9_001),
            ("fs_truncate", 3_000),
            ("fs_symlink", 0),
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("corpus/components/{seed}.wasm"));
            let wasm = std::fs::read(path).expect("seed");
            let spell = load(&wasm).expect("loads");
            let scratch = tempfile::tempdir().expect("scratch folder");
            let out = crate::sandbox::cast_checked(&spell, request(scratch.path(), args(&wasm)));
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.usage.disk_bytes_written, billed, "{seed}: {stdout}");
            assert_eq!(contents(scratch.path()).0, billed, "{seed}");
            if seed == "fs_symlink" {
                assert!(stdout.starts_with("symlink errno="), "{stdout}");
            }
        }
    }

    #[test]
    fn the_file_seed_runs_every_command() {
        let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/components/p3_files.wasm");
        let spell = load(&std::fs::read(seed).expect("seed")).expect("loads");
        let scratch = tempfile::tempdir().expect("scratch folder");
        let out = crate::sandbox::cast_checked(&spell, request(scratch.path(), args(&[])));
        // The link is refused (`not-permitted`), each write billed, the read printed.
        let mut printed = b"error 30okokokokok".to_vec();
        printed.extend([0; 10]);
        assert_eq!(out.stdout, printed, "{:?} {:?}", out.outcome, out.detail);
        assert_eq!(
            out.usage.disk_bytes_written,
            40_000 + 100 + 9_001 + 3_000 + 10
        );
        assert_eq!(contents(scratch.path()).0, 40_100 + 9_001 + 3_000 + 10);
    }
}
