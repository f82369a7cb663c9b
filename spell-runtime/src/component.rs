//! Components: what a cast of a `module.kind = "component"` spell needs beyond the core-module
//! path it shares (the store, its limiter, fuel, deadline, output sinks, usage record, hooks).
//!
//! A component is linked against wasmtime-wasi's preview 2 implementation (`wasi:cli`, `io`,
//! `clocks`, `filesystem`, `random`, `sockets` at 0.2.x). Its `wasi:cli/run` is the entrypoint
//! `_start`, so a command component casts exactly like a WASI command module; other exports
//! without parameters are called by name (`name` at the top level, `interface#name` inside an
//! exported interface). Sockets are linked but every use is refused: the context allows no TCP,
//! UDP or name lookup and its address check denies every address. `wasi:http` is linked too,
//! for spells granted network patterns: its requests go through the network capability
//! (`net/wasi_http.rs`).
//!
//! A runtime built with `wasi_p3` also links wasmtime-wasi's preview 3 (`wasi:cli`, `clocks`,
//! `filesystem`, `random`, `sockets` at 0.3.x) over the same context, so the same stdio sinks,
//! mounts, socket refusals and handle cap apply, and `wasi:http@0.3`, whose requests reach the
//! same hooks; a `wasi:cli/run@0.3` command runs inside the store's concurrent event loop.
//! `component_fs_p3.rs` guards preview 3's filesystem as `component_fs.rs` does preview 2's.

use crate::cast::CastState;
use crate::error::Error;
use crate::host::Val;
use crate::net::HttpHooks;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{
    Component, ComponentExportIndex, InstancePre, Linker, ResourceTable, Val as ComponentVal,
};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p3::bindings::CommandPre as CommandPreP3;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The name casts use for a command's `wasi:cli/run`: the WASI command entrypoint of core modules.
pub(crate) const RUN: &str = "_start";

/// The most bytes one `get-random-bytes` call may ask for. wasmtime-wasi fills the request in
/// one synchronous call, in host memory outside the memory limit: its default (64 MiB) would take
/// about 200 ms out of reach of the deadline. Core modules' `random_get` is chunked instead
/// (`random.rs`); a component asking for more traps (`host_error`).
const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// Handles (descriptors, streams, pollables) a component holds on top of `open_files`: its
/// stdio, preopens and the pollables the preview-1 adapter makes for each `poll_oneoff`.
const RESERVED_HANDLES: usize = 64;

/// The most component-model handles live at once in a cast's store on a runtime with WASI
/// preview 3 (wasmtime's default is 100,000). Each stream or future a guest makes holds host
/// memory outside its memory limit: 100,000 handles of streams never dropped held about 24 MB.
pub(crate) const P3_MAX_HANDLES: usize = 10_000;

/// WASI packages the component linker provides (at any 0.2.x version, and 0.3.x with preview 3;
/// wasmtime matches patch versions itself).
const WASI_PACKAGES: [&str; 6] = [
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:random/",
    "wasi:sockets/",
];

/// A component pre-instantiated for casts.
pub(crate) struct ComponentPre {
    pub(crate) pre: InstancePre<CastState>,
    /// `Some` when the component is a `wasi:cli/command`: its `run` is [`RUN`].
    command: Option<Command>,
}

/// A command's `wasi:cli/run`, of either preview.
enum Command {
    P2(CommandPre<CastState>),
    P3(CommandPreP3<CastState>),
}

/// A component's WASI preview 2 state in a cast.
pub(crate) struct WasiP2 {
    ctx: WasiCtx,
    table: ResourceTable,
    http_ctx: WasiHttpCtx,
    /// Sends its `wasi:http` requests, and counts them.
    pub(crate) http: HttpHooks,
}

impl WasiP2 {
    /// The context of `builder`, which holds the request's arguments, environment, stdio and
    /// mounts; with every socket use refused, at most `open_files` (plus a fixed reserve)
    /// handles at once and [`MAX_RANDOM_BYTES`] of randomness per call; `http` sends its
    /// `wasi:http` requests.
    pub(crate) fn new(mut builder: WasiCtxBuilder, open_files: u64, http: HttpHooks) -> WasiP2 {
        builder
            .max_random_size(MAX_RANDOM_BYTES)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        let mut table = ResourceTable::new();
        table.set_max_capacity(
            usize::try_from(open_files)
                .unwrap_or(usize::MAX)
                .saturating_add(RESERVED_HANDLES),
        );
        WasiP2 {
            ctx: builder.build(),
            table,
            http_ctx: WasiHttpCtx::new(),
            http,
        }
    }
}

impl CastState {
    fn p2(&mut self) -> &mut WasiP2 {
        // Only components have one; a module never reaches these host functions.
        if self.p2.is_none() {
            let http = HttpHooks::new(self.net_scope.clone(), self.tripwire.clone());
            self.p2 = Some(Box::new(WasiP2::new(WasiCtxBuilder::new(), 0, http)));
        }
        match &mut self.p2 {
            Some(p2) => p2,
            None => unreachable!("set above"),
        }
    }
}

impl WasiView for CastState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let p2 = self.p2();
        WasiCtxView {
            ctx: &mut p2.ctx,
            table: &mut p2.table,
        }
    }
}

impl WasiHttpView for CastState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let p2 = self.p2();
        WasiHttpCtxView {
            ctx: &mut p2.http_ctx,
            table: &mut p2.table,
            hooks: &mut p2.http,
        }
    }
}

/// The component linker: WASI preview 2 and `wasi:http`'s `types` and `outgoing-handler`
/// (0.2.12's `wasi:cli/exit` has `exit-with-code`, which
/// the preview-1 adapter's `proc_exit` uses to pass exit codes other than 0 and 1), and WASI
/// preview 3 with `wasi:http`'s `types` and `client` when `p3`: both previews' requests go
/// through the same hooks.
pub(crate) fn linker(engine: &Engine, p3: bool) -> wasmtime::Result<Linker<CastState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    crate::component_fs::guard(&mut linker)?;
    if p3 {
        wasmtime_wasi::p3::add_to_linker(&mut linker)?;
        wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
        crate::component_fs_p3::guard(&mut linker)?;
    }
    Ok(linker)
}

/// Pre-instantiates `component`, after checking that everything it imports is provided (all
/// that is not is listed, instance and function names) and that `entrypoint` can be called.
pub(crate) fn prepare(
    linker: &Linker<CastState>,
    component: &Component,
    entrypoint: &str,
    network: bool,
    p3: bool,
    host: &dyn Fn(&str, &ComponentFunc) -> bool,
) -> Result<ComponentPre, Error> {
    let engine = component.engine();
    let mut refused = Vec::new();
    for (name, item) in component.component_type().imports(engine) {
        if provided(name, network, p3) {
            continue;
        }
        match item.ty {
            // An instance `module` of functions: the host functions `module::name`, each
            // accepted by `host`.
            ComponentItem::ComponentInstance(instance) => {
                let mut exports = instance.exports(engine).peekable();
                if exports.peek().is_none() {
                    refused.push(name.to_string());
                }
                refused.extend(exports.filter_map(|(f, item)| match item.ty {
                    ComponentItem::ComponentFunc(ty) if host(&format!("{name}::{f}"), &ty) => None,
                    _ => Some(format!("{name}#{f}")),
                }));
            }
            _ => refused.push(name.to_string()),
        }
    }
    if !refused.is_empty() {
        return Err(Error::ImportNotGranted(refused));
    }
    // A WASI interface of a newer minor version, a function wasmtime-wasi lacks, or a type
    // that differs: every missing function listed when there are any, else wasmtime's reason.
    let pre = linker.instantiate_pre(component).map_err(|e| {
        let missing = missing_wasi_functions(linker, component, network, p3);
        Error::ImportNotGranted(match missing.is_empty() {
            true => vec![format!("{e:#}")],
            false => missing,
        })
    })?;
    let command = match CommandPre::new(pre.clone()) {
        Ok(command) => Some(Command::P2(command)),
        Err(_) if p3 => CommandPreP3::new(pre.clone()).ok().map(Command::P3),
        Err(_) => None,
    };
    let entry_err = |reason| {
        Err(Error::Entrypoint {
            name: entrypoint.to_string(),
            reason,
        })
    };
    if entrypoint == RUN {
        if command.is_none() {
            return entry_err("is not exported: the component is no `wasi:cli/command`");
        }
    } else {
        match export(component, entrypoint) {
            Some((ComponentItem::ComponentFunc(f), _)) if f.params().len() == 0 => {}
            Some((ComponentItem::ComponentFunc(_), _)) => return entry_err("takes parameters"),
            Some(_) => return entry_err("is not a function"),
            None => return entry_err("is not exported"),
        }
    }
    Ok(ComponentPre { pre, command })
}

/// Why `wasm`, a component, failed to compile: when all that stops it is the component model's
/// async ABI and the runtime does not enable it (a WASI preview 3 component), that, and the
/// option that does.
pub(crate) fn compile_error(engine: &Engine, wasm: &[u8], e: &wasmtime::Error) -> String {
    use wasmparser::{Validator, WasmFeatures};
    let valid = |features| {
        Validator::new_with_features(features)
            .validate_all(wasm)
            .is_ok()
    };
    let with_async = WasmFeatures::default() | WasmFeatures::CM_ASYNC;
    if !engine.get_concurrency_support()
        && valid(with_async)
        && !valid(with_async - WasmFeatures::CM_ASYNC)
    {
        return format!(
            "the component uses the component model's async ABI (WASI preview 3), which this \
             runtime is not built to cast: enable it with the runtime option `wasi_p3` \
             (`spell cast --wasi-p3`): {e:#}"
        );
    }
    format!("{e:#}")
}

/// The versions of the WASI interfaces the linker defines, preview 2's and 3's; a component's
/// import of any 0.2.x (0.3.x) version is matched to them.
const WASI_VERSIONS: [&str; 2] = ["0.2.12", "0.3.0"];

/// Functions the component imports from WASI interfaces the linker provides but that the
/// linker does not define (`wasi:cli/environment@0.2.0#get-arguments`). The linker has no
/// lookup, so each is probed by defining it in a copy: only a name not yet defined can be.
fn missing_wasi_functions(
    linker: &Linker<CastState>,
    component: &Component,
    network: bool,
    p3: bool,
) -> Vec<String> {
    let engine = component.engine();
    let mut probe = linker.clone();
    let mut missing = Vec::new();
    for (name, item) in component.component_type().imports(engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        let Some((interface, version)) =
            name.split_once('@').filter(|_| provided(name, network, p3))
        else {
            continue;
        };
        let Some(defines) = WASI_VERSIONS
            .iter()
            .find(|v| v.get(..4) == version.get(..4))
        else {
            continue;
        };
        let Ok(mut defined) = probe.instance(&format!("{interface}@{defines}")) else {
            continue;
        };
        for (function, export) in instance.exports(engine) {
            let ComponentItem::ComponentFunc(_) = export.ty else {
                continue;
            };
            if defined.func_new(function, |_, _, _, _| Ok(())).is_ok() {
                missing.push(format!("{name}#{function}"));
            }
        }
    }
    missing
}

/// Whether an import is one of the WASI interfaces the linker provides: `wasi:http` only to a
/// spell granted network patterns, as the `spell` import of modules; preview 3's only when the
/// runtime links it.
fn provided(name: &str, network: bool, p3: bool) -> bool {
    let Some((_, version)) = name.split_once('@') else {
        return false;
    };
    let wasi = WASI_PACKAGES.iter().any(|p| name.starts_with(p))
        || (network && name.starts_with("wasi:http/"));
    match version.get(..4) {
        Some("0.2.") => wasi,
        Some("0.3.") => wasi && p3,
        _ => false,
    }
}

/// The export `name` (top level) or `interface#name` (in an exported interface).
fn export(component: &Component, name: &str) -> Option<(ComponentItem, ComponentExportIndex)> {
    match name.split_once('#') {
        Some((interface, func)) => {
            let (_, instance) = component.get_export(None, interface)?;
            component.get_export(Some(&instance), func)
        }
        None => component.get_export(None, name),
    }
}

impl ComponentPre {
    /// Whether a cast can call `name`: [`RUN`] of a command, or a function without parameters.
    pub(crate) fn callable(&self, name: &str) -> bool {
        if name == RUN {
            return self.command.is_some();
        }
        matches!(
            export(self.pre.component(), name),
            Some((ComponentItem::ComponentFunc(f), _)) if f.params().len() == 0
        )
    }

    /// Instantiates the component in `store` and calls `name`. A command's `run` returning its
    /// error is exit code 1, as `wasmtime run` has it.
    pub(crate) async fn call(
        &self,
        store: &mut Store<CastState>,
        name: &str,
    ) -> wasmtime::Result<Vec<Val>> {
        use tracing::Instrument;
        let instantiate = tracing::info_span!("instantiate");
        let run = tracing::info_span!("run", export = name);
        if let (RUN, Some(command)) = (name, &self.command) {
            let status = match command {
                Command::P2(pre) => {
                    let command = pre
                        .instantiate_async(&mut *store)
                        .instrument(instantiate)
                        .await?;
                    command
                        .wasi_cli_run()
                        .call_run(&mut *store)
                        .instrument(run)
                        .await?
                }
                Command::P3(pre) => {
                    let command = pre
                        .instantiate_async(&mut *store)
                        .instrument(instantiate)
                        .await?;
                    store
                        .run_concurrent(async |accessor| {
                            command.wasi_cli_run().call_run(accessor).await
                        })
                        .instrument(run)
                        .await??
                }
            };
            return match status {
                Ok(()) => Ok(Vec::new()),
                Err(()) => Err(wasmtime::Error::new(I32Exit(1))),
            };
        }
        let instance = self
            .pre
            .instantiate_async(&mut *store)
            .instrument(instantiate)
            .await?;
        let (_, index) = export(self.pre.component(), name)
            .ok_or_else(|| wasmtime::format_err!("export `{name}` is not a function"))?;
        let func = instance
            .get_func(&mut *store, index)
            .ok_or_else(|| wasmtime::format_err!("export `{name}` is not a function"))?;
        let n = func.ty(&*store).results().len();
        let mut results = vec![ComponentVal::Bool(false); n];
        func.call_async(&mut *store, &[], &mut results)
            .instrument(run)
            .await?;
        Ok(results.iter().filter_map(from_component).collect())
    }
}

/// A component value as a [`Val`], for the numbers and booleans that have one.
fn from_component(v: &ComponentVal) -> Option<Val> {
    Some(match *v {
        ComponentVal::Bool(b) => Val::I32(i32::from(b)),
        ComponentVal::S8(n) => Val::I32(n.into()),
        ComponentVal::U8(n) => Val::I32(n.into()),
        ComponentVal::S16(n) => Val::I32(n.into()),
        ComponentVal::U16(n) => Val::I32(n.into()),
        ComponentVal::S32(n) => Val::I32(n),
        // Bit for bit, as core WebAssembly keeps an unsigned `i32`.
        ComponentVal::U32(n) => Val::I32(n as i32),
        ComponentVal::S64(n) => Val::I64(n),
        ComponentVal::U64(n) => Val::I64(n as i64),
        ComponentVal::Float32(f) => Val::F32(f),
        ComponentVal::Float64(f) => Val::F64(f),
        _ => return None,
    })
}
