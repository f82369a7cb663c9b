//! Host functions: functions the embedder gives spells, by `module::name`.
//!
//! They are registered once on the runtime builder; the policy decides which spells may import
//! which (`capabilities.host_functions`). A module importing anything that is neither WASI nor a
//! granted host function is refused at load, with every unsatisfied import listed. Components
//! import them too, as the function `name` of an instance `module`, in component types (`s32`
//! for `i32`, ...), and pass values only.
//!
//! ```
//! use spell_runtime::{HostFunction, ValType, Val};
//! let add = HostFunction::new("math", "add", [ValType::I32, ValType::I32], [ValType::I32], |_call, args| {
//!     let (a, b) = (args[0].i32().unwrap_or(0), args[1].i32().unwrap_or(0));
//!     Ok(vec![Val::I32(a.wrapping_add(b))])
//! });
//! assert_eq!(add.qualified_name(), "math::add");
//! ```

use crate::cast::CastState;
use crate::metering::HookError;
use std::sync::Arc;
use wasmtime::component::types::ComponentFunc;
use wasmtime::component::{self, Type};
use wasmtime::{Caller, Extern, StoreContextMut};

/// Module names reserved for Spell's own imports.
pub const RESERVED_MODULES: [&str; 2] = ["wasi_snapshot_preview1", "spell"];

/// A WebAssembly value type usable in host function signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
}

/// A WebAssembly value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    /// 32-bit integer.
    I32(i32),
    /// 64-bit integer.
    I64(i64),
    /// 32-bit float.
    F32(f32),
    /// 64-bit float.
    F64(f64),
}

impl Val {
    /// The value as an `i32`, if it is one.
    pub fn i32(&self) -> Option<i32> {
        if let Val::I32(v) = self {
            Some(*v)
        } else {
            None
        }
    }

    /// The value as an `i64`, if it is one.
    pub fn i64(&self) -> Option<i64> {
        if let Val::I64(v) = self {
            Some(*v)
        } else {
            None
        }
    }

    /// The type of the value.
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
        }
    }

    pub(crate) fn to_wasm(self) -> wasmtime::Val {
        match self {
            Val::I32(v) => wasmtime::Val::I32(v),
            Val::I64(v) => wasmtime::Val::I64(v),
            Val::F32(v) => wasmtime::Val::F32(v.to_bits()),
            Val::F64(v) => wasmtime::Val::F64(v.to_bits()),
        }
    }

    fn to_component(self) -> component::Val {
        match self {
            Val::I32(v) => component::Val::S32(v),
            Val::I64(v) => component::Val::S64(v),
            Val::F32(v) => component::Val::Float32(v),
            Val::F64(v) => component::Val::Float64(v),
        }
    }

    fn from_component(v: &component::Val) -> Option<Val> {
        match v {
            component::Val::S32(v) => Some(Val::I32(*v)),
            component::Val::S64(v) => Some(Val::I64(*v)),
            component::Val::Float32(v) => Some(Val::F32(*v)),
            component::Val::Float64(v) => Some(Val::F64(*v)),
            _ => None,
        }
    }

    pub(crate) fn from_wasm(v: &wasmtime::Val) -> Option<Val> {
        match v {
            wasmtime::Val::I32(v) => Some(Val::I32(*v)),
            wasmtime::Val::I64(v) => Some(Val::I64(*v)),
            wasmtime::Val::F32(v) => Some(Val::F32(f32::from_bits(*v))),
            wasmtime::Val::F64(v) => Some(Val::F64(f64::from_bits(*v))),
            _ => None,
        }
    }
}

impl ValType {
    pub(crate) fn to_wasm(self) -> wasmtime::ValType {
        match self {
            ValType::I32 => wasmtime::ValType::I32,
            ValType::I64 => wasmtime::ValType::I64,
            ValType::F32 => wasmtime::ValType::F32,
            ValType::F64 => wasmtime::ValType::F64,
        }
    }

    /// The component type a component imports a host function with.
    fn to_component(self) -> Type {
        match self {
            ValType::I32 => Type::S32,
            ValType::I64 => Type::S64,
            ValType::F32 => Type::Float32,
            ValType::F64 => Type::Float64,
        }
    }
}

/// A host function failed: the cast ends as a `trap` of kind `host_error` with this message, and
/// the failure (with its source) is the outcome's `hook_error`, named after the function.
///
/// ```
/// use spell_runtime::HostError;
/// let e = HostError::new("no such key").with_source(std::io::Error::other("kv down"));
/// assert_eq!(e.to_string(), "no such key");
/// assert!(std::error::Error::source(&e).is_some());
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct HostError {
    /// What went wrong, as the guest's trap and the outcome's detail show it.
    pub message: String,
    /// The error behind it (a binding's exception), kept on the outcome's `hook_error`.
    #[source]
    pub source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl HostError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> HostError {
        HostError {
            message: message.into(),
            source: None,
        }
    }

    /// The same error, caused by `source`.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }
}

/// Equal when the messages are: sources are opaque.
impl PartialEq for HostError {
    fn eq(&self, other: &HostError) -> bool {
        self.message == other.message
    }
}

type Callback = dyn Fn(&mut HostCall<'_>, &[Val]) -> Result<Vec<Val>, HostError> + Send + Sync;

/// A function the host offers to spells.
#[derive(Clone)]
pub struct HostFunction {
    pub(crate) module: String,
    pub(crate) name: String,
    pub(crate) params: Vec<ValType>,
    pub(crate) results: Vec<ValType>,
    pub(crate) callback: Arc<Callback>,
}

impl std::fmt::Debug for HostFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HostFunction({}: {:?} -> {:?})",
            self.qualified_name(),
            self.params,
            self.results
        )
    }
}

impl HostFunction {
    /// A host function `module::name` with a signature and a callback. The callback gets the
    /// guest's memory through [`HostCall`] and must return values matching `results`.
    pub fn new(
        module: impl Into<String>,
        name: impl Into<String>,
        params: impl IntoIterator<Item = ValType>,
        results: impl IntoIterator<Item = ValType>,
        callback: impl Fn(&mut HostCall<'_>, &[Val]) -> Result<Vec<Val>, HostError>
        + Send
        + Sync
        + 'static,
    ) -> HostFunction {
        HostFunction {
            module: module.into(),
            name: name.into(),
            params: params.into_iter().collect(),
            results: results.into_iter().collect(),
            callback: Arc::new(callback),
        }
    }

    /// `module::name`, as policies name it.
    pub fn qualified_name(&self) -> String {
        format!("{}::{}", self.module, self.name)
    }

    /// Adds this function to a linker, checking what the callback returns.
    pub(crate) fn define(
        &self,
        linker: &mut wasmtime::Linker<CastState>,
        engine: &wasmtime::Engine,
    ) -> wasmtime::Result<()> {
        let ty = wasmtime::FuncType::new(
            engine,
            self.params.iter().map(|t| t.to_wasm()),
            self.results.iter().map(|t| t.to_wasm()),
        );
        let this = self.clone();
        linker.func_new(
            &self.module,
            &self.name,
            ty,
            move |caller, args, results| {
                let args: Vec<Val> = args.iter().filter_map(Val::from_wasm).collect();
                let out = this.invoke(HostCall::new(caller), &args, results.len())?;
                for (slot, v) in results.iter_mut().zip(out) {
                    *slot = v.to_wasm();
                }
                Ok(())
            },
        )?;
        Ok(())
    }
}

impl HostFunction {
    /// Adds this function to a component linker as `name` in the instance `module`, for
    /// components whose import of it has this signature in component types ([`Self::fits`]).
    pub(crate) fn define_component(
        &self,
        linker: &mut component::Linker<CastState>,
    ) -> wasmtime::Result<()> {
        let this = self.clone();
        linker.instance(&self.module)?.func_new(
            &self.name,
            move |store, _, args: &[component::Val], results: &mut [component::Val]| {
                let args: Vec<Val> = args.iter().filter_map(Val::from_component).collect();
                let call = HostCall {
                    guest: Guest::Component(store),
                };
                let out = this.invoke(call, &args, results.len())?;
                for (slot, v) in results.iter_mut().zip(out) {
                    *slot = v.to_component();
                }
                Ok(())
            },
        )?;
        Ok(())
    }

    /// Whether a component's import of this function has its signature: `s32`, `s64`, `f32`
    /// and `f64` for `i32`, `i64`, `f32` and `f64`, in order.
    pub(crate) fn fits(&self, ty: &ComponentFunc) -> bool {
        let params = self.params.iter().map(|t| t.to_component());
        let results = self.results.iter().map(|t| t.to_component());
        ty.params().map(|(_, t)| t).eq(params) && ty.results().eq(results)
    }

    /// Calls the callback and checks that it returned `expected` values of the declared types.
    fn invoke(
        &self,
        mut call: HostCall<'_>,
        args: &[Val],
        expected: usize,
    ) -> wasmtime::Result<Vec<Val>> {
        let out = match (self.callback)(&mut call, args) {
            Ok(out) => out,
            Err(e) => return Err(self.fault(&call, e)),
        };
        let types_match =
            out.len() == expected && out.iter().zip(&self.results).all(|(v, t)| v.ty() == *t);
        if !types_match {
            let message = format!("returned {:?}, signature says {:?}", out, self.results);
            return Err(self.fault(&call, HostError::new(message)));
        }
        Ok(out)
    }

    /// Keeps `e` as the cast's hook failure and returns the trap that ends the cast.
    fn fault(&self, call: &HostCall<'_>, e: HostError) -> wasmtime::Error {
        let function = self.qualified_name();
        call.data().tripwire.fail(HookError {
            hook: function.clone(),
            message: e.message.clone(),
            source: e.source,
        });
        wasmtime::Error::new(HostFault {
            function,
            message: e.message,
        })
    }
}

/// A host function failed during a cast.
#[derive(Debug, Clone, thiserror::Error)]
#[error("host function `{function}` failed: {message}")]
pub(crate) struct HostFault {
    pub(crate) function: String,
    pub(crate) message: String,
}

/// What a host function sees of the calling guest: a core module's exported memory,
/// bounds-checked. A component shares no memory with host functions (its arguments and results
/// are values), so there `read` and `write` fail.
pub struct HostCall<'a> {
    guest: Guest<'a>,
}

/// How a call reaches its guest.
enum Guest<'a> {
    /// A core module: its memory is the export named `memory`.
    Module(Caller<'a, CastState>),
    /// A component: only the cast's state.
    Component(StoreContextMut<'a, CastState>),
}

impl<'a> HostCall<'a> {
    /// Spell's own async host functions (`net`) use the same bounds-checked access.
    pub(crate) fn new(caller: Caller<'a, CastState>) -> HostCall<'a> {
        HostCall {
            guest: Guest::Module(caller),
        }
    }

    pub(crate) fn state(&mut self) -> &mut CastState {
        match &mut self.guest {
            Guest::Module(caller) => caller.data_mut(),
            Guest::Component(store) => store.data_mut(),
        }
    }

    fn data(&self) -> &CastState {
        match &self.guest {
            Guest::Module(caller) => caller.data(),
            Guest::Component(store) => store.data(),
        }
    }

    /// Checks that `ptr..ptr+len` lies inside guest memory, without touching it.
    pub(crate) fn check_range(&mut self, ptr: u32, len: u32) -> Result<(), HostError> {
        let (memory, caller) = self.memory()?;
        let size = memory.data_size(&*caller) as u64;
        if u64::from(ptr) + u64::from(len) > size {
            return Err(HostError::new(format!(
                "guest memory range {ptr}+{len} is out of bounds"
            )));
        }
        Ok(())
    }

    /// The guest's memory and the caller that reaches it.
    fn memory(&mut self) -> Result<(wasmtime::Memory, &mut Caller<'a, CastState>), HostError> {
        match &mut self.guest {
            Guest::Module(caller) => match caller.get_export("memory") {
                Some(Extern::Memory(m)) => Ok((m, caller)),
                _ => Err(HostError::new("the guest exports no memory named `memory`")),
            },
            Guest::Component(_) => Err(HostError::new(
                "a component shares no memory with host functions: pass values",
            )),
        }
    }
}

impl HostCall<'_> {
    /// Copies `len` bytes of guest memory starting at `ptr`.
    pub fn read(&mut self, ptr: u32, len: u32) -> Result<Vec<u8>, HostError> {
        // Checked before allocating, so a hostile length cannot make the host allocate 4 GiB.
        self.check_range(ptr, len)?;
        let (memory, caller) = self.memory()?;
        let mut buf = vec![0; len as usize];
        memory.read(&*caller, ptr as usize, &mut buf).map_err(|_| {
            HostError::new(format!("guest memory range {ptr}+{len} is out of bounds"))
        })?;
        Ok(buf)
    }

    /// Reads a UTF-8 string from guest memory, refusing invalid UTF-8.
    pub fn read_str(&mut self, ptr: u32, len: u32) -> Result<String, HostError> {
        String::from_utf8(self.read(ptr, len)?)
            .map_err(|_| HostError::new("guest string is not UTF-8"))
    }

    /// Writes `bytes` into guest memory at `ptr`.
    pub fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), HostError> {
        let (memory, caller) = self.memory()?;
        memory
            .write(&mut *caller, ptr as usize, bytes)
            .map_err(|_| {
                HostError::new(format!(
                    "guest memory range {ptr}+{} is out of bounds",
                    bytes.len()
                ))
            })
    }

    /// The id of the cast this call belongs to.
    pub fn cast_id(&self) -> &str {
        self.data().tripwire.cast_id()
    }
}
