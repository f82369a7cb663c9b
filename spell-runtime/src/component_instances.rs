//! How many component instances a component makes when it is instantiated, counted from its
//! bytes: the bound on the fiber stacks a WASI preview 3 cast can hold.
//!
//! With the component model's async ABI a guest task that blocks keeps its fiber (a stack from
//! the runtime's pool) until it resumes. A component instance runs one such task at a time (it
//! is not entered again while a task of it blocks: further calls wait, without a fiber), so a
//! cast holds at most one blocked fiber per component instance, one more for wasmtime's worker
//! and one the store keeps for reuse. The pool is sized for that many per cast, and a component
//! that would make more instances is refused at load: one cast cannot take another's stacks.

use crate::error::Error;
use wasmparser::{
    ComponentAlias, ComponentExternalKind, ComponentInstance, ComponentOuterAliasKind,
    ComponentTypeRef, Encoding, Parser, Payload,
};

/// The most component instances a component may make on a runtime with WASI preview 3 (the
/// root counts; a component made by `componentize-py` makes 3).
pub(crate) const MAX: u64 = 16;

/// Fiber stacks a cast of such a component may hold at once (see the module's documentation).
pub(crate) const STACKS_PER_CAST: u32 = MAX as u32 + 2;

/// Refuses a component that would make more than [`MAX`] component instances.
pub(crate) fn check(wasm: &[u8]) -> Result<(), Error> {
    match count(wasm) {
        n if n <= MAX => Ok(()),
        u64::MAX => Err(Error::ModuleInvalid(
            "the component instances the component makes (each can hold a fiber stack while it \
             waits) cannot be bounded: it instantiates a component it imports or takes from an \
             instance, or nests instantiations past 2^64"
                .to_string(),
        )),
        n => Err(Error::ModuleInvalid(format!(
            "the component makes {n} component instances, more than the {MAX} a cast may have \
             on a runtime with WASI preview 3 (each can hold a fiber stack while it waits)"
        ))),
    }
}

/// The component instances instantiating `wasm` makes, the root included: each instantiation
/// of a nested component counts what that component makes, transitively. `u64::MAX` when it
/// instantiates a component whose definition it cannot see (imported, or an instance's export),
/// or when the count passes it.
/// Malformed input counts as far as it reads: wasmtime reports it.
pub(crate) fn count(wasm: &[u8]) -> u64 {
    // One frame per component being read, innermost last; modules inside are skipped whole.
    let mut frames: Vec<Frame> = Vec::new();
    let mut in_module = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else { break };
        match payload {
            Payload::Version { encoding, .. } => match encoding {
                Encoding::Component => frames.push(Frame::default()),
                Encoding::Module => in_module += 1,
            },
            Payload::End(_) if in_module > 0 => in_module -= 1,
            Payload::End(_) => {
                let Some(done) = frames.pop() else { break };
                match frames.last_mut() {
                    // A nested component's definition: the next index of its parent.
                    Some(parent) => parent.components.push(done.instances),
                    None => return done.instances,
                }
            }
            _ if in_module > 0 => {}
            Payload::ComponentImportSection(imports) => {
                let Some(frame) = frames.last_mut() else {
                    break;
                };
                for import in imports.into_iter().flatten() {
                    if let ComponentTypeRef::Component(_) = import.ty {
                        frame.components.push(u64::MAX);
                    }
                }
            }
            Payload::ComponentAliasSection(aliases) => {
                for alias in aliases.into_iter().flatten() {
                    let made = match alias {
                        ComponentAlias::Outer {
                            kind: ComponentOuterAliasKind::Component,
                            count,
                            index,
                        } => usize::try_from(count)
                            .ok()
                            .and_then(|up| frames.len().checked_sub(up + 1))
                            .and_then(|outer| frames[outer].component(index)),
                        ComponentAlias::InstanceExport {
                            kind: ComponentExternalKind::Component,
                            ..
                        } => Some(u64::MAX),
                        _ => None,
                    };
                    if let (Some(made), Some(frame)) = (made, frames.last_mut()) {
                        frame.components.push(made);
                    }
                }
            }
            Payload::ComponentExportSection(exports) => {
                let Some(frame) = frames.last_mut() else {
                    break;
                };
                for export in exports.into_iter().flatten() {
                    if export.kind == ComponentExternalKind::Component {
                        let made = frame.component(export.index).unwrap_or(u64::MAX);
                        frame.components.push(made);
                    }
                }
            }
            Payload::ComponentInstanceSection(instances) => {
                let Some(frame) = frames.last_mut() else {
                    break;
                };
                for instance in instances.into_iter().flatten() {
                    if let ComponentInstance::Instantiate {
                        component_index, ..
                    } = instance
                    {
                        let made = frame.component(component_index).unwrap_or(u64::MAX);
                        frame.instances = frame.instances.saturating_add(made);
                    }
                }
            }
            _ => {}
        }
    }
    // Cut short: what was read so far, the enclosing components included.
    frames
        .iter()
        .map(|f| f.instances)
        .fold(0, u64::saturating_add)
}

/// A component being read: the instances it makes so far, and for each component in its index
/// space the instances one instantiation of it makes.
struct Frame {
    instances: u64,
    components: Vec<u64>,
}

impl Default for Frame {
    fn default() -> Self {
        // The component's own instance.
        Frame {
            instances: 1,
            components: Vec::new(),
        }
    }
}

impl Frame {
    fn component(&self, index: u32) -> Option<u64> {
        self.components.get(usize::try_from(index).ok()?).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_wat(wat: &str) -> u64 {
        count(&wat::parse_str(wat).unwrap())
    }

    #[test]
    fn a_core_module_or_a_flat_component_makes_one() {
        assert_eq!(count_wat("(module)"), 0);
        assert_eq!(count_wat("(component (core module (func)))"), 1);
    }

    #[test]
    fn nested_instantiations_multiply() {
        // $leaf makes 1; $mid instantiates it 3 times (4); the root instantiates $mid twice
        // and $leaf once through an outer alias inside $mid's sibling.
        let wat = r#"(component
            (component $leaf)
            (component $mid
                (alias outer 1 0 (component $l))
                (instance (instantiate $l))
                (instance (instantiate $l))
                (instance (instantiate $l)))
            (instance (instantiate $mid))
            (instance (instantiate $mid))
            (instance (instantiate $leaf)))"#;
        assert_eq!(count_wat(wat), 1 + 4 + 4 + 1);
    }

    #[test]
    fn a_definition_never_instantiated_makes_none() {
        assert_eq!(count_wat("(component (component (component)))"), 1);
    }

    #[test]
    fn an_exported_component_keeps_its_count() {
        let wat = r#"(component
            (component $a (component $b) (instance (instantiate $b)))
            (export $c "c" (component $a))
            (instance (instantiate $c)))"#;
        assert_eq!(count_wat(wat), 1 + 2);
    }

    #[test]
    fn an_imported_component_instantiated_is_unbounded() {
        let imported = r#"(component
            (import "c" (component $c))
            (instance (instantiate $c)))"#;
        assert_eq!(count_wat(imported), u64::MAX);
        let from_instance = r#"(component
            (import "i" (instance $i (export "c" (component))))
            (alias export $i "c" (component $c))
            (instance (instantiate $c)))"#;
        assert_eq!(count_wat(from_instance), u64::MAX);
        assert!(check(&wat::parse_str(imported).unwrap()).is_err());
        // Only imported, never instantiated: nothing to bound.
        assert_eq!(count_wat(r#"(component (import "c" (component)))"#), 1);
    }

    #[test]
    fn a_count_past_u64_is_unbounded() {
        // Component k instantiates component k - 1 twice: 2^(k+1) - 1 instances.
        let chain: String = (1..=64)
            .map(|k| {
                format!(
                    "(component (alias outer 1 {} (component $p)) \
                     (instance (instantiate $p)) (instance (instantiate $p)))",
                    k - 1
                )
            })
            .collect();
        let wat = format!("(component (component) {chain} (instance (instantiate 64)))");
        assert_eq!(count_wat(&wat), u64::MAX);
    }

    #[test]
    fn many_instances_are_refused() {
        let many = format!(
            "(component (component $leaf) {})",
            "(instance (instantiate $leaf))".repeat(MAX as usize)
        );
        assert_eq!(count_wat(&many), MAX + 1);
        let err = check(&wat::parse_str(&many).unwrap()).unwrap_err();
        assert!(matches!(err, Error::ModuleInvalid(_)), "{err}");
        let enough = format!(
            "(component (component $leaf) {})",
            "(instance (instantiate $leaf))".repeat(MAX as usize - 1)
        );
        assert!(check(&wat::parse_str(&enough).unwrap()).is_ok());
    }
}
