//! Measures what the compile budget is calibrated against: how long cranelift takes to compile a
//! module (through `Runtime::load` with no budget), and how long the budget takes to judge it.
//!
//! ```sh
//! cargo run --release -p spell-fuzz --example compile_cost -- input FILE      # a compile_budget input
//! cargo run --release -p spell-fuzz --example compile_cost -- wasm FILE       # a module
//! cargo run --release -p spell-fuzz --example compile_cost -- shape FUNCS DEPTH LOCALS BRANCH_OUT LOOPS_EVERY
//! ```

use spell_core::{Package, Policy};
use spell_runtime::{CompileBudget, CompileCost, Runtime};
use std::time::Instant;

/// The process's CPU time (user + system) in seconds.
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, s)| s).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime), 12 and 13 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

fn load(runtime: &Runtime, wasm: &[u8]) -> Result<(), String> {
    let manifest = br#"{"name":"probe","version":"1.0.0","license":"MIT","entrypoint":"run"}"#;
    let package = Package::pack(manifest, wasm, None, None).map_err(|e| e.to_string())?;
    let policy = Policy::from_toml("allow_unsigned = true").expect("policy");
    runtime
        .load(&package, &policy)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn shape(
    funcs: usize,
    depth: usize,
    locals: usize,
    branch_out: bool,
    loops_every: usize,
) -> Vec<u8> {
    let mut body = format!("(local{})", " i64".repeat(locals));
    for level in 0..depth {
        let kind = if loops_every > 0 && level % loops_every == 0 {
            "loop"
        } else {
            "block"
        };
        let local = level % locals + 1;
        body.push_str(&format!(
            "({kind} (local.set {local} (i64.add (local.get {local}) (i64.const 1)))"
        ));
        if branch_out {
            body.push_str(&format!("(br_if {} (local.get 0))", level / 2));
        }
    }
    body.push_str(&")".repeat(depth));
    let funcs = format!("(func (param i32) {body})").repeat(funcs);
    wat::parse_str(format!(r#"(module {funcs} (func (export "run")))"#)).expect("wat")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let num = |i: usize| arg(i).parse::<usize>().expect("a number");
    let wasm = match arg(0).as_str() {
        "input" => spell_fuzz::compile_budget::module(&std::fs::read(arg(1)).expect("input"))
            .expect("the input makes a module"),
        "wasm" => std::fs::read(arg(1)).expect("module"),
        "wat" => wat::parse_file(arg(1)).expect("wat"),
        "shape" => shape(num(1), num(2), num(3), num(4) != 0, num(5)),
        _ => {
            eprintln!(
                "usage: compile_cost input FILE | wasm FILE | shape FUNCS DEPTH LOCALS BRANCH_OUT LOOPS_EVERY"
            );
            std::process::exit(2);
        }
    };
    let cost = CompileCost::of(&wasm);
    println!(
        "loop depth {}, loop cost {}, branch depth {}, branch cost {}",
        cost.loop_depth, cost.loop_cost, cost.branch_depth, cost.branch_cost
    );
    let judge = Runtime::builder().build().expect("runtime");
    let (t, c) = (Instant::now(), cpu());
    let verdict = load(&judge, &wasm);
    let (judged, judged_cpu) = (t.elapsed().as_secs_f64(), cpu() - c);
    let unlimited = Runtime::builder()
        .compile_budget(CompileBudget {
            max_loop_depth: u64::MAX,
            max_loop_cost: u64::MAX,
            max_branch_cost: u64::MAX,
        })
        .build()
        .expect("runtime");
    let (t, c) = (Instant::now(), cpu());
    let compiled = load(&unlimited, &wasm);
    println!(
        "{} bytes: default budget {} in {judged:.3} s ({judged_cpu:.2} s cpu); compile {:.2} s wall, {:.2} s cpu{}",
        wasm.len(),
        match &verdict {
            Ok(()) => "admits (and compiles)".to_string(),
            Err(e) => format!(
                "refuses ({})",
                e.to_string().chars().take(160).collect::<String>()
            ),
        },
        t.elapsed().as_secs_f64(),
        cpu() - c,
        compiled
            .err()
            .map(|e| format!(" ({})", e.to_string().chars().take(80).collect::<String>()))
            .unwrap_or_default(),
    );
}
