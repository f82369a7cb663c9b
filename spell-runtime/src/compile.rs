//! The compile budget: a cheap walk over a module's code, before cranelift sees it, that refuses
//! modules whose compilation would cost far more than their size.
//!
//! Two shapes make cranelift superlinear in a function's size, and the walk estimates both:
//!
//! - **Deeply nested loops.** Each loop header carries the fuel and epoch checks and the SSA state
//!   of everything live across it: on the two-core reference machine a function of 2,000 nested
//!   loops (24 KB) took 4.7 s and a 1.1 MB module of them passed 120 s and 9.7 GB, while 16,000
//!   nested *blocks* compile in 45 ms. Code from real toolchains nests loops a few levels deep.
//!   Each operator is charged the square of its loop depth beyond [`FREE_LOOP_DEPTH`].
//! - **Long chains of basic blocks.** Cranelift's mid-end (the e-graph pass) keeps its
//!   value-numbering table scoped by the dominator tree and finds the scope of each new pure
//!   instruction (a constant, an address computation, the fuel counter's update) by scanning the
//!   dominator-tree path from the current block up: time proportional to the block's depth in that
//!   tree. Every conditional branch, every join at the end of a block, and every operator that
//!   wasmtime expands into a branch (an indirect call, a GC barrier) starts a block one level
//!   deeper, so a function of `n` such operators in a row costs about `n²`: 10,000 `br_if`s in
//!   a row (70 KB) took 1.0 s, 40,000 (280 KB) 13.5 s, 6,000 `table.set`s of an `externref`
//!   (36 KB) 2.3 s; the nesting, the branch targets and the number of live locals hardly
//!   matter. The walk estimates each operator's depth in the dominator tree (its *branch
//!   depth*) and charges it the depth beyond [`FREE_BRANCH_DEPTH`], times a weight for
//!   operators that wasmtime expands into many pure instructions.
//!
//! A module whose loop cost or branch cost passes its budget, or with a loop nested deeper than
//! the cap, is refused with `E-MOD-005`. The verdict depends only on the bytes, so a module is
//! refused or accepted the same way on every machine. Calibration: each default budget admits at
//! most about 1.5 s of compilation (under 100 MB) of its shape on that machine. Invalid modules are
//! left to wasmtime's validator.

use crate::error::Error;
use wasmparser::{Operator, Parser, Payload, TypeRef};

/// Loop depth every operator may have for free: real code stays below it.
pub const FREE_LOOP_DEPTH: u64 = 16;

/// Branch depth (depth in the function's dominator tree, as the walk estimates it) every operator
/// may have for free: real code stays below it (micropython's deepest is 81, clang-built C's 82,
/// the Rust-built WASI adapter's 29).
pub const FREE_BRANCH_DEPTH: u64 = 256;

/// Blocks a loop header adds to the chain (the header, the fuel and epoch checks).
const LOOP_BLOCKS: u64 = 2;
/// Blocks an indirect call adds (the lazy table initialisation and the signature check).
const CALL_INDIRECT_BLOCKS: u64 = 2;
/// Blocks an operator of the reference-type, GC or exception proposals may add (a GC barrier:
/// `table.set` of an `externref` measured about 7).
const BARRIER_BLOCKS: u64 = 7;
/// How much more than a plain operator an indirect call costs the e-graph pass (the pure
/// instructions of its table-element address and signature check).
const CALL_INDIRECT_WEIGHT: u64 = 8;

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
    /// The most branch cost a module may have: the sum over its operators of their branch depth
    /// beyond [`FREE_BRANCH_DEPTH`], weighted (default 200,000,000: about 1.5 s of cranelift).
    pub max_branch_cost: u64,
}

impl Default for CompileBudget {
    fn default() -> Self {
        CompileBudget {
            max_loop_depth: 256,
            max_loop_cost: 800_000_000,
            max_branch_cost: 200_000_000,
        }
    }
}

/// What a module costs in the compile budget's model (see [`CompileBudget`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompileCost {
    /// The deepest loop nesting of any function.
    pub loop_depth: u64,
    /// The sum over operators of the square of their loop depth beyond [`FREE_LOOP_DEPTH`].
    pub loop_cost: u64,
    /// The greatest branch depth of any operator.
    pub branch_depth: u64,
    /// The sum over operators of their branch depth beyond [`FREE_BRANCH_DEPTH`], weighted.
    pub branch_cost: u64,
}

impl CompileCost {
    /// Walks `wasm`'s code and sums its cost (malformed code counts as far as it reads).
    pub fn of(wasm: &[u8]) -> CompileCost {
        let mut cost = CompileCost::default();
        let _ = walk(wasm, &mut cost, |_, _| Ok(()));
        cost
    }
}

/// Refuses `wasm` when compiling it would exceed `budget`.
pub(crate) fn check(wasm: &[u8], budget: &CompileBudget) -> Result<(), Error> {
    let too_complex = |why: String| Err(Error::ModuleTooComplex(why));
    let mut cost = CompileCost::default();
    walk(wasm, &mut cost, |cost, function| {
        if cost.loop_depth > budget.max_loop_depth {
            return too_complex(format!(
                "function {function} nests loops {} deep (at most {})",
                cost.loop_depth, budget.max_loop_depth
            ));
        }
        if cost.loop_cost > budget.max_loop_cost {
            return too_complex(format!(
                "its loops cost {} units by function {function}, over the budget of {}",
                cost.loop_cost, budget.max_loop_cost
            ));
        }
        if cost.branch_cost > budget.max_branch_cost {
            return too_complex(format!(
                "its chains of branches cost {} units by function {function} (branch depth up \
                 to {}), over the budget of {}",
                cost.branch_cost, cost.branch_depth, budget.max_branch_cost
            ));
        }
        Ok(())
    })
}

/// An open `block`, `loop`, `if` (or its `else`) or `try_table`, for the branch depth.
struct Frame {
    kind: Kind,
    /// The branch depth where it opens.
    entry: u64,
    /// Whether the code where it opens is reachable.
    reachable: bool,
    /// The shallowest branch depth among the edges into its end (none: its end is unreachable).
    exit: Option<u64>,
    /// For an `if` with an `else`: whether the then-arm reached the end.
    then_reached: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Block,
    Loop,
    If,
    Else,
}

impl Frame {
    fn new(kind: Kind, entry: u64, reachable: bool) -> Self {
        Frame {
            kind,
            entry,
            reachable,
            exit: None,
            then_reached: false,
        }
    }

    /// An edge into the frame's label from branch depth `depth` (a loop's label is its header,
    /// which the frame's own entry dominates).
    fn branch_from(&mut self, depth: u64) {
        if self.kind != Kind::Loop {
            self.exit = Some(self.exit.map_or(depth, |e| e.min(depth)));
        }
    }
}

/// The frame `relative_depth` labels out.
fn label(frames: &mut [Frame], relative_depth: u32) -> Option<&mut Frame> {
    let index = frames
        .len()
        .checked_sub(1)?
        .checked_sub(usize::try_from(relative_depth).ok()?)?;
    frames.get_mut(index)
}

/// Whether an operator comes from a proposal whose operators wasmtime may expand into branches
/// (GC barriers, lazy table initialisation, exception landing pads, casts).
fn may_branch(op: &Operator<'_>) -> bool {
    // Of those proposals' operators, the ones wasmtime translates without a branch.
    if let Operator::TypedSelect { .. }
    | Operator::TypedSelectMulti { .. }
    | Operator::RefNull { .. }
    | Operator::RefIsNull
    | Operator::RefEq
    | Operator::RefAsNonNull
    | Operator::TableSize { .. } = op
    {
        return false;
    }
    macro_rules! proposal_of {
        ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
            match op {
                $( Operator::$op { .. } => matches!(
                    stringify!($proposal),
                    "reference_types" | "gc" | "function_references" | "exceptions"
                        | "legacy_exceptions" | "stack_switching" | "shared_everything_threads"
                        | "custom_descriptors"
                ), )*
                _ => true,
            }
        };
    }
    wasmparser::for_each_operator!(proposal_of)
}

/// Walks every function body of `wasm`, adding to `cost`, and calls `after` after each function
/// (with its index among the bodies); stops at `after`'s first error.
fn walk(
    wasm: &[u8],
    cost: &mut CompileCost,
    mut after: impl FnMut(&CompileCost, usize) -> Result<(), Error>,
) -> Result<(), Error> {
    // Whether each global (imported ones first) holds a reference: reading or writing one goes
    // through a GC barrier.
    let mut ref_globals: Vec<bool> = Vec::new();
    let mut function = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        // Malformed input is wasmtime's to report, with its own words.
        let body = match payload {
            Ok(Payload::ImportSection(imports)) => {
                for import in imports.into_imports().flatten() {
                    if let TypeRef::Global(g) = import.ty {
                        ref_globals.push(g.content_type.is_reference_type());
                    }
                }
                continue;
            }
            Ok(Payload::GlobalSection(globals)) => {
                for global in globals.into_iter().flatten() {
                    ref_globals.push(global.ty.content_type.is_reference_type());
                }
                continue;
            }
            Ok(Payload::CodeSectionEntry(body)) => body,
            _ => continue,
        };
        let Ok(operators) = body.get_operators_reader() else {
            continue;
        };
        let ref_global = |index: u32| {
            usize::try_from(index)
                .ok()
                .and_then(|i| ref_globals.get(i).copied())
                .unwrap_or(false)
        };
        // The function body is the outermost frame.
        let mut frames = vec![Frame::new(Kind::Block, 0, true)];
        let mut loop_depth: u64 = 0;
        let mut depth: u64 = 0;
        let mut reachable = true;
        for op in operators {
            let Ok(op) = op else { break };
            let excess = loop_depth.saturating_sub(FREE_LOOP_DEPTH);
            cost.loop_cost = cost.loop_cost.saturating_add(excess * excess);
            // Wasmtime does not translate unreachable code.
            if reachable {
                let weight = match op {
                    Operator::CallIndirect { .. } | Operator::ReturnCallIndirect { .. } => {
                        CALL_INDIRECT_WEIGHT
                    }
                    _ => 1,
                };
                let excess = depth.saturating_sub(FREE_BRANCH_DEPTH);
                cost.branch_cost = cost
                    .branch_cost
                    .saturating_add(excess.saturating_mul(weight));
                cost.branch_depth = cost.branch_depth.max(depth);
            }
            match op {
                Operator::Block { .. } | Operator::Try { .. } => {
                    frames.push(Frame::new(Kind::Block, depth, reachable))
                }
                Operator::TryTable { try_table } => {
                    if reachable {
                        for catch in &try_table.catches {
                            let relative_depth = match catch {
                                wasmparser::Catch::One { label, .. }
                                | wasmparser::Catch::OneRef { label, .. }
                                | wasmparser::Catch::All { label }
                                | wasmparser::Catch::AllRef { label } => *label,
                            };
                            if let Some(f) = label(&mut frames, relative_depth) {
                                f.branch_from(depth);
                            }
                        }
                    }
                    frames.push(Frame::new(Kind::Block, depth, reachable));
                    if reachable {
                        depth += CALL_INDIRECT_BLOCKS;
                    }
                }
                Operator::Loop { .. } => {
                    frames.push(Frame::new(Kind::Loop, depth, reachable));
                    loop_depth += 1;
                    cost.loop_depth = cost.loop_depth.max(loop_depth);
                    if reachable {
                        depth += LOOP_BLOCKS;
                    }
                }
                Operator::If { .. } => {
                    frames.push(Frame::new(Kind::If, depth, reachable));
                    if reachable {
                        depth += 1;
                    }
                }
                Operator::Else | Operator::Catch { .. } | Operator::CatchAll => {
                    let Some(f) = frames.last_mut() else { break };
                    if reachable {
                        f.branch_from(depth);
                    }
                    f.then_reached = reachable && f.kind == Kind::If;
                    if f.kind == Kind::If {
                        f.kind = Kind::Else;
                    }
                    depth = f.entry + 1;
                    reachable = f.reachable;
                }
                Operator::End | Operator::Delegate { .. } => {
                    let Some(mut f) = frames.pop() else { break };
                    if f.kind == Kind::Loop {
                        loop_depth -= 1;
                    }
                    if reachable {
                        // The fallthrough (a loop's end has no other edge in).
                        f.exit = Some(f.exit.map_or(depth, |e| e.min(depth)));
                    }
                    match f.kind {
                        // No else: the `if`'s own block is an edge into the join.
                        Kind::If if f.reachable => f.branch_from(f.entry),
                        // Both arms reach the join: the `if`'s block dominates it.
                        Kind::Else if f.then_reached && reachable => f.exit = Some(f.entry),
                        _ => {}
                    }
                    match f.exit {
                        Some(e) => {
                            depth = e + 1;
                            reachable = true;
                        }
                        None => reachable = false,
                    }
                    if frames.is_empty() {
                        break;
                    }
                }
                Operator::Br { relative_depth } | Operator::Rethrow { relative_depth } => {
                    if reachable && let Some(f) = label(&mut frames, relative_depth) {
                        f.branch_from(depth);
                    }
                    reachable = false;
                }
                Operator::BrIf { relative_depth }
                | Operator::BrOnNull { relative_depth }
                | Operator::BrOnNonNull { relative_depth }
                    if reachable =>
                {
                    if let Some(f) = label(&mut frames, relative_depth) {
                        f.branch_from(depth);
                    }
                    depth += 1;
                }
                Operator::BrOnCast { relative_depth, .. }
                | Operator::BrOnCastFail { relative_depth, .. }
                    if reachable =>
                {
                    depth += BARRIER_BLOCKS;
                    if let Some(f) = label(&mut frames, relative_depth) {
                        f.branch_from(depth);
                    }
                    depth += 1;
                }
                Operator::BrTable { targets } => {
                    if reachable {
                        let labels = targets.targets().flatten().chain([targets.default()]);
                        for relative_depth in labels {
                            if let Some(f) = label(&mut frames, relative_depth) {
                                f.branch_from(depth);
                            }
                        }
                    }
                    reachable = false;
                }
                Operator::Return
                | Operator::Unreachable
                | Operator::ReturnCall { .. }
                | Operator::ReturnCallIndirect { .. }
                | Operator::ReturnCallRef { .. }
                | Operator::Throw { .. }
                | Operator::ThrowRef => reachable = false,
                Operator::CallIndirect { .. } if reachable => depth += CALL_INDIRECT_BLOCKS,
                Operator::GlobalGet { global_index } | Operator::GlobalSet { global_index }
                    if reachable && ref_global(global_index) =>
                {
                    depth += BARRIER_BLOCKS
                }
                ref op if reachable && may_branch(op) => depth += BARRIER_BLOCKS,
                _ => {}
            }
        }
        after(cost, function)?;
        function += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(body: &str) -> CompileCost {
        let wasm = wat::parse_str(format!(
            "(module (table 1 funcref) (func (param i32) {body}))"
        ))
        .expect("wat");
        CompileCost::of(&wasm)
    }

    #[test]
    fn branch_depth_follows_the_dominator_tree() {
        // Each `if` without an else, or with both arms reaching the join, adds one level.
        let ifs = "(if (local.get 0) (then (nop)))".repeat(100);
        assert_eq!(cost(&ifs).branch_depth, 100);
        let if_elses = "(if (local.get 0) (then (nop)) (else (nop)))".repeat(100);
        assert_eq!(cost(&if_elses).branch_depth, 100);
        // The cases of a switch hang off the `br_table`'s block, not off each other.
        let cases = format!(
            "{}(br_table {} (local.get 0)){}",
            "(block ".repeat(100),
            (0..100)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            ")(br 0)".repeat(100)
        );
        assert!(cost(&cases).branch_depth <= 2, "{:?}", cost(&cases));
        // Code after an unconditional branch is never translated, so it costs nothing.
        let dead = format!("(block (br 0) {})", "(br_if 0 (local.get 0))".repeat(5_000));
        // (the block's end, where the branch lands, is one level down).
        assert_eq!(cost(&dead).branch_depth, 1);
        // Indirect calls and loops chain blocks too.
        let calls = "(call_indirect (local.get 0))".repeat(10);
        assert_eq!(cost(&calls).branch_depth, 10 * CALL_INDIRECT_BLOCKS);
        // (and the block after the loop's end one more).
        assert_eq!(cost("(loop (nop))").branch_depth, LOOP_BLOCKS + 1);
    }

    #[test]
    fn a_long_chain_costs_its_depth_beyond_the_free_depth() {
        let n = FREE_BRANCH_DEPTH + 1_000;
        let chain = "(block (br_if 0 (local.get 0)))".repeat(usize::try_from(n).expect("n"));
        let c = cost(&chain);
        assert_eq!(c.branch_depth, n);
        assert!(c.branch_cost > 1_000 * 1_000, "{c:?}");
        let budget = CompileBudget {
            max_branch_cost: c.branch_cost - 1,
            ..CompileBudget::default()
        };
        let wasm = wat::parse_str(format!("(module (func (param i32) {chain}))")).expect("wat");
        let err = check(&wasm, &budget).expect_err("over the budget");
        assert!(err.to_string().contains("chains of branches"), "{err}");
        assert!(check(&wasm, &CompileBudget::default()).is_ok());
    }
}
