//! A loaded [`Spell`]: verified, granted, compiled and pre-instantiated, ready to cast.

use crate::cast::{CastOutcome, CastRequest, CastState, Driven};
use crate::component::ComponentPre;
use crate::error::Error;
use crate::metrics::SpellMetrics;
use crate::net::NetGrant;
use crate::rescan::Standing;
use crate::runtime::Runtime;
use spell_core::{Grant, Sha256Digest};
use spell_verify::Verification;
use std::sync::Arc;
use wasmtime::InstancePre;

/// A spell ready to cast. Cheap to clone; cast from many threads at once.
#[derive(Clone)]
pub struct Spell {
    pub(crate) inner: Arc<SpellInner>,
}

pub(crate) struct SpellInner {
    pub(crate) runtime: Runtime,
    pub(crate) digest: Sha256Digest,
    /// `digest` in hex, for usage records: encoded once per spell, not per cast.
    pub(crate) digest_hex: String,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) entrypoint: String,
    /// Whether the module imports anything from WASI (else casts skip the WASI context); always
    /// for components.
    pub(crate) imports_wasi: bool,
    pub(crate) grant: Grant,
    pub(crate) net: Arc<NetGrant>,
    pub(crate) verification: Option<Verification>,
    /// The verdict rescans keep current (`None` for unverified modules).
    pub(crate) standing: Option<Standing>,
    pub(crate) pre: SpellPre,
    /// This spell's histograms, when the runtime keeps metrics.
    pub(crate) metrics: Option<SpellMetrics>,
}

/// What a cast instantiates: a core module or a component.
pub(crate) enum SpellPre {
    Module(InstancePre<CastState>),
    Component(Box<ComponentPre>),
}

impl SpellPre {
    /// Whether a cast can call `export`: a function without parameters (or a command's run).
    pub(crate) fn callable(&self, export: &str) -> bool {
        match self {
            SpellPre::Module(pre) => matches!(
                pre.module().get_export(export),
                Some(wasmtime::ExternType::Func(f)) if f.params().len() == 0
            ),
            SpellPre::Component(pre) => pre.callable(export),
        }
    }
}

impl std::fmt::Debug for Spell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Spell({} {} sha256:{})",
            self.inner.name, self.inner.version, self.inner.digest
        )
    }
}

impl Spell {
    /// sha256 of the spell's `spell.json` (of the module, for unverified modules).
    pub fn digest(&self) -> Sha256Digest {
        self.inner.digest
    }

    /// The spell's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The spell's version.
    pub fn version(&self) -> &str {
        &self.inner.version
    }

    /// The export a cast calls unless the request names another.
    pub fn entrypoint(&self) -> &str {
        &self.inner.entrypoint
    }

    /// What the spell may use.
    pub fn grant(&self) -> &Grant {
        &self.inner.grant
    }

    /// What verification established at load (`None` for unverified modules); see
    /// [`Spell::revoked`] for later rescans.
    pub fn verification(&self) -> Option<&Verification> {
        self.inner.verification.as_ref()
    }

    /// Why the latest [`Runtime::rescan`] refused this spell (`E-SIG-008`, naming the
    /// refusal), or `None` while it may cast.
    pub fn revoked(&self) -> Option<Error> {
        let standing = self.inner.standing.as_ref()?;
        standing.check(&self.inner).err()
    }

    /// Casts the spell and waits for the outcome.
    ///
    /// `Err` only when the cast could not start (spell revoked, request beyond the grant, `busy`,
    /// setup);
    /// once started, every end (including traps, limits and cancellation) is an `Ok` outcome
    /// with its usage record, already passed to the metering hook.
    ///
    /// Blocks the calling thread; from async code use [`Spell::cast_async`]. Called inside a
    /// tokio runtime, it runs the cast on a scoped helper thread rather than panic.
    pub fn cast(&self, request: CastRequest) -> Result<CastOutcome, Error> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return std::thread::scope(|s| {
                s.spawn(|| crate::cast::block_on(self.cast_on_this_thread(request)))
                    .join()
                    .unwrap_or_else(|_| Err(Error::Setup("the cast thread panicked".into())))
            });
        }
        crate::cast::block_on(self.cast_on_this_thread(request))
    }

    /// Casts the spell without blocking an async executor: the guest yields to the executor
    /// every epoch tick and, with fuel metering, every million units of fuel (about 0.1 ms of
    /// interpreter code), and a guest blocked in a host call is still stopped at its deadline.
    /// Needs a tokio runtime with its time and IO drivers (`enable_all`): deadlines use its
    /// timer, and the guest's network requests its reactor.
    pub async fn cast_async(&self, request: CastRequest) -> Result<CastOutcome, Error> {
        crate::cast::run(&self.inner, request, Driven::Executor).await
    }

    /// The cast of [`Spell::cast`]: driven to its end on this thread, so its CPU time is this
    /// thread's.
    pub(crate) fn cast_on_this_thread(
        &self,
        request: CastRequest,
    ) -> impl Future<Output = Result<CastOutcome, Error>> + '_ {
        crate::cast::run(&self.inner, request, Driven::OnThread)
    }
}
