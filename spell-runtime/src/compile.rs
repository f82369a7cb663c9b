//! The compile budget: a cheap walk over a module's code, before cranelift sees it, that refuses
//! modules whose compilation would cost far more than their size.
//!
//! Cranelift's time and memory grow with how deeply *loops* nest (each loop header carries the
//! fuel and epoch checks and the SSA state of everything live across it): on the two-core
//! reference machine a function of 2,000 nested loops (24 KB) took 4.7 s and a 1.1 MB module of
//! them passed 120 s and 9.7 GB, while 16,000 nested *blocks* compile in 45 ms. Code from real
//! toolchains nests loops a few levels deep. The walk charges each operator the square of its
//! loop depth beyond [`FREE_LOOP_DEPTH`] and refuses a module whose total passes the budget, or
//! any loop nested deeper than its cap, with `E-MOD-005`. The verdict depends only on the bytes,
//! so a module is refused or accepted the same way on every machine. Calibration: the default
//! budget admits at most about 1.5 s of compilation (under 100 MB) of such code on that machine.
//! Invalid modules are left to wasmtime's validator.

use crate::error::Error;
use wasmparser::{Operator, Parser, Payload};

/// Loop depth every operator may have for free: real code stays below it.
pub const FREE_LOOP_DEPTH: u64 = 16;

/// How much deeply nested code a module may ask the compiler to chew.
///
/// ```
/// use spell_runtime::{CompileBudget, Runtime};
/// let runtime = Runtime::builder()
///     .compile_budget(CompileBudget { max_loop_depth: 64, ..CompileBudget::default() })
///     .build()?;
/// # let _ = runtime;
/// # Ok::<(), spell_runtime::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileBudget {
    /// Loops nested deeper than this are refused (default 256).
    pub max_loop_depth: u64,
    /// The most loop cost a module may have: the sum over its operators of the square of their
    /// loop depth beyond [`FREE_LOOP_DEPTH`] (default 800,000,000: about 1.5 s of cranelift).
    pub max_loop_cost: u64,
}

impl Default for CompileBudget {
    fn default() -> Self {
        CompileBudget {
            max_loop_depth: 256,
            max_loop_cost: 800_000_000,
        }
    }
}

/// Refuses `wasm` when compiling it would exceed `budget`.
pub(crate) fn check(wasm: &[u8], budget: &CompileBudget) -> Result<(), Error> {
    let too_complex = |why: String| Err(Error::ModuleTooComplex(why));
    let mut cost: u64 = 0;
    let mut function = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        // Malformed input is wasmtime's to report, with its own words.
        let Ok(Payload::CodeSectionEntry(body)) = payload else {
            continue;
        };
        let Ok(operators) = body.get_operators_reader() else {
            continue;
        };
        // For each open block, loop or if: whether it is a loop.
        let mut frames: Vec<bool> = Vec::new();
        let mut depth: u64 = 0;
        for op in operators {
            let Ok(op) = op else { break };
            let excess = depth.saturating_sub(FREE_LOOP_DEPTH);
            cost = cost.saturating_add(excess * excess);
            match op {
                Operator::Loop { .. } => {
                    frames.push(true);
                    depth += 1;
                    if depth > budget.max_loop_depth {
                        return too_complex(format!(
                            "function {function} nests loops {depth} deep (at most {})",
                            budget.max_loop_depth
                        ));
                    }
                }
                Operator::Block { .. } | Operator::If { .. } | Operator::TryTable { .. } => {
                    frames.push(false)
                }
                Operator::End if frames.pop() == Some(true) => depth -= 1,
                _ => {}
            }
        }
        if cost > budget.max_loop_cost {
            return too_complex(format!(
                "its loops cost {cost} units by function {function}, over the budget of {}",
                budget.max_loop_cost
            ));
        }
        function += 1;
    }
    Ok(())
}
