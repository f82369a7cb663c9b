//! Loads modules built to be costly to compile and checks the compile budget holds.
//!
//! Input: the first byte picks the generator. Shapes (byte 0 even): the bytes choose functions of
//! nested loops and blocks (depth up to 3,000), locals updated at each level and branches to
//! outer levels: the patterns that make cranelift superlinear. Otherwise `wasm-smith` builds an
//! arbitrary valid module with deep nesting allowed. Each is loaded with the default budget.
//!
//! Oracles: the load never panics; a refusal carries a catalog code (`E-MOD-005` for the budget);
//! a module the budget admits compiles within [`COMPILE_BOUND`] of the process's CPU time (the
//! budget admits about 1.5 s of cranelift on the reference machine; the bound leaves room for
//! slower machines and instrumented builds, where cranelift runs about 9 times slower). CPU time,
//! not wall time: beside other builds at `nice -n 19` a 1 s compile took 24 s of wall time.

use arbitrary::{Arbitrary, Unstructured};
use spell_core::{HasCode, Package, Policy};
use spell_runtime::Runtime;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The most CPU time an admitted module may take to load.
pub const COMPILE_BOUND: Duration = Duration::from_secs(20);

/// The CPU time this process has used (all its threads: cranelift compiles functions in
/// parallel), not wall time, which a loaded machine stretches (1 s of compiling took 24 s).
pub fn cpu_time() -> Duration {
    cpu_time::ProcessTime::now().as_duration()
}

/// One function's shape.
#[derive(Arbitrary, Debug)]
struct Shape {
    depth: u16,
    loops_every: u8,
    locals: u8,
    branch_out: bool,
}

fn shaped(data: &[u8]) -> Option<Vec<u8>> {
    let shapes: Vec<Shape> = Unstructured::new(data).arbitrary().ok()?;
    let mut funcs = String::new();
    for s in shapes.iter().take(16) {
        let depth = usize::from(s.depth % 3000);
        let locals = usize::from(s.locals % 32) + 1;
        let mut body = format!("(local{})", " i64".repeat(locals));
        for level in 0..depth {
            let kind = if s.loops_every > 0 && level % usize::from(s.loops_every) == 0 {
                "loop"
            } else {
                "block"
            };
            let local = level % locals + 1;
            body.push_str(&format!(
                "({kind} (local.set {local} (i64.add (local.get {local}) (i64.const 1)))"
            ));
            if s.branch_out {
                body.push_str(&format!("(br_if {} (local.get 0))", level / 2));
            }
        }
        body.push_str(&")".repeat(depth));
        funcs.push_str(&format!("(func (param i32) {body})"));
    }
    wat::parse_str(format!(r#"(module {funcs} (func (export "run")))"#)).ok()
}

fn smith(data: &[u8]) -> Option<Vec<u8>> {
    let config = wasm_smith::Config {
        exports: Some(wat::parse_str(r#"(module (func (export "run")))"#).ok()?),
        max_nesting_depth: 3_000,
        max_instructions: 20_000,
        max_funcs: 16,
        ..wasm_smith::Config::default()
    };
    crate::sandbox::smith_module(config, data)
}

/// The module an input stands for.
pub fn module(data: &[u8]) -> Option<Vec<u8>> {
    let (&first, rest) = data.split_first()?;
    if first % 2 == 0 {
        shaped(rest)
    } else {
        smith(rest)
    }
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::builder()
            .max_concurrent_casts(2)
            .module_cache_capacity(1)
            .build()
            .expect("the fuzz runtime builds")
    })
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some(wasm) = module(data) else { return };
    let manifest = br#"{"name":"fuzz","version":"1.0.0","license":"MIT","entrypoint":"run"}"#;
    let Ok(package) = Package::pack(manifest, &wasm, None, None) else {
        return;
    };
    let policy = Policy::from_toml("allow_unsigned = true").expect("policy");
    let (started, cpu) = (Instant::now(), cpu_time());
    match runtime().load(&package, &policy) {
        Ok(_) => {
            let took = cpu_time().saturating_sub(cpu);
            assert!(
                took < COMPILE_BOUND,
                "admitted by the budget but took {took:?} of CPU ({:?} of wall time) to load \
                 ({} bytes)",
                started.elapsed(),
                wasm.len()
            );
        }
        // Every refusal has its code; the budget's is E-MOD-005.
        Err(e) => assert!(e.code().code().starts_with("E-"), "{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_shapes_are_refused_or_admitted_quickly() {
        for depth in [10u16, 200, 2_999] {
            let mut data = vec![0u8];
            // One shape: depth, a loop at every level, 8 locals, branches out.
            data.extend_from_slice(&depth.to_le_bytes());
            data.extend_from_slice(&[1, 8, 1]);
            assert!(module(&data).is_some(), "depth {depth} makes a module");
            run(&data);
        }
    }
}
