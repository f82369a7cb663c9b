//! The baselines: the same guests run with the `wasmtime` and `wasmtime-wasi` crates directly,
//! the way an embedder without Spell would (one `InstancePre` per module, a fresh `Store` per
//! call).

use wasmtime::component::{Component, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module,
    PoolingAllocationConfig, Store,
};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The engine settings a baseline runs with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings {
    /// wasmtime's pooling allocator with its default slots.
    pub pooling: bool,
    /// Fuel metering (`Config::consume_fuel`).
    pub fuel: bool,
    /// Epoch interruption checks (`Config::epoch_interruption`), deadline never reached.
    pub epoch: bool,
    /// Calls through `call_async` on a fiber (as Spell does, so deadlines reach host calls).
    pub fibers: bool,
    /// Pooled slots reset their first 128 KiB of memory and table in place rather than with
    /// `madvise` (Spell's pooling tuning).
    pub keep_resident: bool,
}

impl Settings {
    /// Pooling, no metering: the fastest plain embedding.
    pub const POOLING: Settings = Settings {
        pooling: true,
        fuel: false,
        epoch: false,
        fibers: false,
        keep_resident: false,
    };
    /// What Spell's engine uses by default: pooling kept resident, fuel, epochs and async calls
    /// on fibers.
    pub const LIKE_SPELL: Settings = Settings {
        pooling: true,
        fuel: true,
        epoch: true,
        fibers: true,
        keep_resident: true,
    };

    /// An engine with these settings.
    pub fn engine(self) -> Engine {
        self.engine_with_pool(PoolingAllocationConfig::default())
    }

    /// An engine with these settings and, when they pool, this pool.
    pub fn engine_with_pool(self, mut p: PoolingAllocationConfig) -> Engine {
        let mut c = Config::new();
        c.consume_fuel(self.fuel).epoch_interruption(self.epoch);
        if self.pooling {
            if self.keep_resident {
                p.linear_memory_keep_resident(128 << 10)
                    .table_keep_resident(128 << 10);
            }
            c.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
        }
        Engine::new(&c).expect("engine")
    }
}

/// A module pre-instantiated for plain calls or for WASI preview 1 commands.
pub struct Raw {
    settings: Settings,
    engine: Engine,
    pre: InstancePre<WasiP1Ctx>,
    executor: tokio::runtime::Runtime,
}

impl Raw {
    /// Compiles `wasm` and links it against WASI preview 1, once; any other import (a host
    /// function the guest's own host would give it) traps if called.
    pub fn new(settings: Settings, wasm: &[u8]) -> Raw {
        Raw::on(settings, settings.engine(), wasm)
    }

    /// [`Raw::new`] on an engine made with `settings` (e.g. by [`Settings::engine_with_pool`]).
    pub fn on(settings: Settings, engine: Engine, wasm: &[u8]) -> Raw {
        let module = Module::new(&engine, wasm).expect("compile");
        let mut linker = wasi_linker(&engine, settings.fibers);
        linker
            .define_unknown_imports_as_traps(&module)
            .expect("trapping imports");
        let pre = linker.instantiate_pre(&module).expect("link");
        let executor = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        Raw {
            settings,
            engine,
            pre,
            executor,
        }
    }

    /// Fresh store, instantiate, call `export` (no parameters); returns its last result.
    pub fn call(&self, export: &str) -> Option<wasmtime::Val> {
        self.run(WasiCtxBuilder::new().build_p1(), export)
            .expect("call")
            .pop()
    }

    /// Runs `export` the way a cast runs it: `_start` as a WASI command without arguments (its
    /// output dropped), any other export as a plain call.
    pub fn cast(&self, export: &str) {
        if export == "_start" {
            self.command(&[]);
        } else {
            self.call(export);
        }
    }

    /// Runs `_start` as a WASI command with `args` (after the program's name) and stdout captured
    /// in a `MemoryOutputPipe`; returns it.
    pub fn command(&self, args: &[&str]) -> Vec<u8> {
        let out = MemoryOutputPipe::new(1 << 20);
        let wasi = WasiCtxBuilder::new()
            .arg("guest")
            .args(args)
            .stdout(out.clone())
            .build_p1();
        if let Err(e) = self.run(wasi, "_start") {
            // `proc_exit(0)`, as C's `main` returning, unwinds with an exit code.
            let code = e.downcast_ref::<wasmtime_wasi::I32Exit>().map(|e| e.0);
            assert_eq!(code, Some(0), "_start failed: {e:#}");
        }
        out.contents().to_vec()
    }

    fn run(&self, wasi: WasiP1Ctx, export: &str) -> wasmtime::Result<Vec<wasmtime::Val>> {
        let mut store = Store::new(&self.engine, wasi);
        if self.settings.fuel {
            store.set_fuel(u64::MAX)?;
        }
        if self.settings.epoch {
            store.set_epoch_deadline(u64::MAX);
        }
        if self.settings.fibers {
            return self.executor.block_on(async {
                let instance = self.pre.instantiate_async(&mut store).await?;
                let func = instance.get_func(&mut store, export).expect("export");
                let mut results = vec![wasmtime::Val::I32(0); func.ty(&store).results().len()];
                func.call_async(&mut store, &[], &mut results).await?;
                Ok(results)
            });
        }
        let instance = self.pre.instantiate(&mut store)?;
        let func = instance.get_func(&mut store, export).expect("export");
        let mut results = vec![wasmtime::Val::I32(0); func.ty(&store).results().len()];
        func.call(&mut store, &[], &mut results)?;
        Ok(results)
    }

    /// The engine, for baselines that compile or deserialize themselves.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// A linker with WASI preview 1, sync or async: build once, not per call (about 100 µs).
pub fn wasi_linker(engine: &Engine, fibers: bool) -> Linker<WasiP1Ctx> {
    let mut linker = Linker::new(engine);
    if fibers {
        p1::add_to_linker_async(&mut linker, |cx| cx).expect("wasi");
    } else {
        p1::add_to_linker_sync(&mut linker, |cx| cx).expect("wasi");
    }
    linker
}

/// A `wasi:cli/command` component pre-instantiated with wasmtime-wasi's `CommandPre`, as its
/// documentation embeds one: a fresh `Store` with a `WasiCtx` and `ResourceTable` per run.
pub struct RawComponent {
    settings: Settings,
    engine: Engine,
    pre: CommandPre<ComponentState>,
    executor: tokio::runtime::Runtime,
}

/// The store data of [`RawComponent`].
pub struct ComponentState {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

impl RawComponent {
    /// Compiles the component and links it against WASI preview 2 (async: `CommandPre`'s
    /// `run` is async in wasmtime-wasi's default bindings), once.
    pub fn new(settings: Settings, wasm: &[u8]) -> RawComponent {
        let engine = settings.engine();
        let component = Component::new(&engine, wasm).expect("compile");
        let mut linker = wasmtime::component::Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("wasi");
        let pre =
            CommandPre::new(linker.instantiate_pre(&component).expect("link")).expect("command");
        let executor = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        RawComponent {
            settings,
            engine,
            pre,
            executor,
        }
    }

    /// Runs `wasi:cli/run` with stdout captured in a `MemoryOutputPipe`; returns it.
    pub fn command(&self) -> Vec<u8> {
        let out = MemoryOutputPipe::new(1 << 20);
        let state = ComponentState {
            ctx: WasiCtxBuilder::new().stdout(out.clone()).build(),
            table: ResourceTable::new(),
        };
        let mut store = Store::new(&self.engine, state);
        if self.settings.fuel {
            store.set_fuel(u64::MAX).expect("fuel");
        }
        if self.settings.epoch {
            store.set_epoch_deadline(u64::MAX);
        }
        let run = self.executor.block_on(async {
            let command = self.pre.instantiate_async(&mut store).await?;
            command.wasi_cli_run().call_run(&mut store).await
        });
        assert_eq!(run.expect("run"), Ok(()));
        out.contents().to_vec()
    }
}
