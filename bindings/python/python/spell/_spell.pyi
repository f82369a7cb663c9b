"""Type stubs of the compiled extension ``spell._spell`` (see ``bindings/python/src``)."""

import asyncio
import os
from typing import Any, Callable, Literal, Optional, Protocol, Sequence, Tuple, Union, final

__version__: str
__all__ = [
    "Allowance",
    "CancelHandle",
    "CastContext",
    "CastOutcome",
    "Denied",
    "Event",
    "HookError",
    "HostCall",
    "HostFunction",
    "Ledger",
    "LedgerMeter",
    "Limits",
    "ManifestError",
    "ModuleError",
    "NetworkError",
    "PackageError",
    "Policy",
    "PolicyError",
    "RunError",
    "Runtime",
    "SbomError",
    "SignatureError",
    "Spell",
    "SpellError",
    "Usage",
    "UsageLog",
    "__version__",
    "_rust_cast_seconds",
    "inspect",
    "pack",
]

_ValType = Literal["i32", "i64", "f32", "f64"]
_OutcomeName = Literal[
    "ok", "exit", "trap", "timeout", "out_of_fuel", "memory_limit", "output_limit", "network_limit", "cancelled", "denied", "disk_limit"
]
_PackageSource = Union[bytes, bytearray, str, "os.PathLike[str]"]
_Mount = Union[Tuple[Union[str, "os.PathLike[str]"], str], Tuple[Union[str, "os.PathLike[str]"], str, Literal["ro", "rw"]]]

class _Authorizer(Protocol):
    def authorize(self, ctx: "CastContext", /) -> Union[None, int, "Allowance"]: ...

class _Recorder(Protocol):
    def record(self, usage: "Usage", /) -> object: ...

class _Observer(Protocol):
    def observe(self, event: "Event", /) -> object: ...

# A UsageLog, a Ledger's meter, a callable used as `record`, or an object with any of
# authorize/record/observe.
_Meter = Union["UsageLog", "LedgerMeter", Callable[["Usage"], object], _Authorizer, _Recorder, _Observer]

class SpellError(Exception):
    """Base of every Spell error; ``code`` is ``E-PKG-002``, ``name`` is ``package_malformed``."""

    code: str
    name: str

class PackageError(SpellError): ...
class ManifestError(SpellError): ...
class PolicyError(SpellError): ...
class SignatureError(SpellError): ...
class SbomError(SpellError): ...
class ModuleError(SpellError): ...
class RunError(SpellError): ...

class HookError(RunError):
    """A hook or host function raised; ``__cause__`` is what it raised."""

    hook: str

class NetworkError(SpellError): ...

class Denied(Exception):
    """Raise from ``authorize`` to refuse a cast."""

@final
class Limits:
    """Resource limits; for a cast they may only lower the grant."""

    @property
    def memory_bytes(self) -> Optional[int]: ...
    @property
    def fuel(self) -> Optional[int]: ...
    @property
    def wall_time_ms(self) -> Optional[int]: ...
    @property
    def output_bytes(self) -> Optional[int]: ...
    @property
    def net_requests(self) -> Optional[int]: ...
    @property
    def net_bytes(self) -> Optional[int]: ...
    @property
    def open_files(self) -> Optional[int]: ...
    @property
    def disk_write_bytes(self) -> Optional[int]: ...
    def __new__(
        cls,
        *,
        memory_bytes: Optional[int] = None,
        fuel: Optional[int] = None,
        wall_time_ms: Optional[int] = None,
        output_bytes: Optional[int] = None,
        net_requests: Optional[int] = None,
        net_bytes: Optional[int] = None,
        open_files: Optional[int] = None,
        disk_write_bytes: Optional[int] = None,
    ) -> "Limits": ...
    def to_dict(self) -> dict[str, int]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class CancelHandle:
    """Cancels casts from any thread."""

    def __new__(cls) -> "CancelHandle": ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...

@final
class Allowance:
    """What ``authorize`` grants: at most ``max_fuel``."""

    @property
    def max_fuel(self) -> Optional[int]: ...
    def __new__(cls, *, max_fuel: Optional[int] = None) -> "Allowance": ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class CastContext:
    """What ``authorize`` sees."""

    @property
    def cast_id(self) -> str: ...
    @property
    def spell_digest(self) -> str: ...
    @property
    def spell_name(self) -> str: ...
    @property
    def spell_version(self) -> str: ...
    @property
    def limits(self) -> Limits: ...

@final
class Event:
    """What ``observe`` sees: ``limit_hit`` (with ``outcome``) or ``policy_violation`` (with
    ``capability``) during a cast; ``spell_revoked`` (with ``spell_digest``, ``spell_name`` and the
    refusal's ``code``; ``cast_id`` empty) when a rescan revokes a spell, seen by the runtime's meter."""

    @property
    def cast_id(self) -> str: ...
    @property
    def kind(self) -> Literal["limit_hit", "policy_violation", "spell_revoked"]: ...
    @property
    def outcome(self) -> Optional[_OutcomeName]: ...
    @property
    def capability(self) -> Optional[str]: ...
    @property
    def spell_digest(self) -> Optional[str]: ...
    @property
    def spell_name(self) -> Optional[str]: ...
    @property
    def code(self) -> Optional[str]: ...
    @property
    def detail(self) -> str: ...

@final
class Usage:
    """Everything one cast consumed (the fields of the Rust ``UsageRecord``)."""

    @property
    def cast_id(self) -> str: ...
    @property
    def spell_digest(self) -> str: ...
    @property
    def spell_name(self) -> str: ...
    @property
    def outcome(self) -> _OutcomeName: ...
    @property
    def exit_code(self) -> Optional[int]: ...
    @property
    def fuel(self) -> Optional[int]: ...
    @property
    def wall_ns(self) -> int: ...
    @property
    def cpu_ns(self) -> int: ...
    @property
    def memory_peak_bytes(self) -> int: ...
    @property
    def stdout_bytes(self) -> int: ...
    @property
    def stderr_bytes(self) -> int: ...
    @property
    def net_requests(self) -> int: ...
    @property
    def net_bytes_in(self) -> int: ...
    @property
    def net_bytes_out(self) -> int: ...
    @property
    def disk_bytes_written(self) -> int: ...
    @property
    def started_at_ms(self) -> int: ...
    @property
    def trace_id(self) -> Optional[str]: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class CastOutcome:
    """How a cast ended, what it printed, and what it used."""

    @property
    def outcome(self) -> _OutcomeName: ...
    @property
    def ok(self) -> bool: ...
    @property
    def exit_code(self) -> Optional[int]: ...
    @property
    def trap(self) -> Optional[str]: ...
    @property
    def detail(self) -> Optional[str]: ...
    @property
    def returned(self) -> list[Union[int, float]]: ...
    @property
    def stdout(self) -> bytes: ...
    @property
    def stderr(self) -> bytes: ...
    @property
    def usage(self) -> Usage: ...
    @property
    def hook_error(self) -> Optional[HookError]: ...
    @property
    def denial_code(self) -> Optional[str]: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class UsageLog:
    """The ready-made meter: keeps records and events in memory, optionally with a fuel budget."""

    def __new__(cls, *, fuel_budget: Optional[int] = None) -> "UsageLog": ...
    def records(self) -> list[Usage]: ...
    def events(self) -> list[Event]: ...
    def __len__(self) -> int: ...

@final
class Ledger:
    """A usage ledger in a SQLite file: accounts with budgets, a price list, one hash-chained row per cast."""

    def __new__(cls, path: Union[str, "os.PathLike[str]"]) -> "Ledger": ...
    def set_account(self, account: str, budget: int, period: Literal["prepaid", "day", "month"] = "prepaid") -> None: ...
    def set_prices(self, toml: str) -> None: ...
    def account(self, account: str) -> dict[str, Any]: ...
    def meter(self, account: str) -> "LedgerMeter": ...
    def verify(self) -> dict[str, Any]: ...
    @property
    def released_reservations(self) -> int: ...

@final
class LedgerMeter:
    """A meter billing one account of a Ledger: pass it as ``meter=``."""

@final
class HostCall:
    """The guest's memory, while a host function runs."""

    @property
    def cast_id(self) -> str: ...
    def read(self, ptr: int, length: int) -> bytes: ...
    def read_str(self, ptr: int, length: int) -> str: ...
    def write(self, ptr: int, data: bytes) -> None: ...

@final
class HostFunction:
    """A function offered to spells as ``module::name``: ``func(call, *args)``."""

    def __new__(
        cls,
        module: str,
        name: str,
        func: Callable[..., object],
        *,
        params: Sequence[_ValType] = ...,
        results: Sequence[_ValType] = ...,
    ) -> "HostFunction": ...
    @property
    def module(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def func(self) -> Callable[..., object]: ...
    @property
    def params(self) -> list[_ValType]: ...
    @property
    def results(self) -> list[_ValType]: ...

@final
class Policy:
    """A host policy; ``Policy()`` is deny-all."""

    def __new__(cls) -> "Policy": ...
    @staticmethod
    def from_toml(text: str) -> "Policy": ...
    @staticmethod
    def from_file(path: Union[str, "os.PathLike[str]"]) -> "Policy": ...
    @staticmethod
    def trusting(package: _PackageSource) -> "Policy": ...
    @property
    def allow_unsigned(self) -> bool: ...
    @property
    def digest(self) -> str: ...

@final
class Spell:
    """A loaded spell, ready to cast from many threads."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def digest(self) -> str: ...
    @property
    def entrypoint(self) -> str: ...
    @property
    def grant(self) -> dict[str, Any]: ...
    def cast(
        self,
        args: Optional[Sequence[str]] = None,
        *,
        env: Optional[dict[str, str]] = None,
        stdin: Union[bytes, bytearray, str, None] = None,
        mounts: Optional[Sequence[_Mount]] = None,
        limits: Union[Limits, dict[str, int], None] = None,
        meter: Optional[_Meter] = None,
        cancel: Optional[CancelHandle] = None,
        export: Optional[str] = None,
        on_output: Optional[Callable[[Literal["stdout", "stderr"], bytes], object]] = None,
        traceparent: Optional[str] = None,
        tracestate: Optional[str] = None,
    ) -> CastOutcome: ...
    def cast_async(
        self,
        args: Optional[Sequence[str]] = None,
        *,
        env: Optional[dict[str, str]] = None,
        stdin: Union[bytes, bytearray, str, None] = None,
        mounts: Optional[Sequence[_Mount]] = None,
        limits: Union[Limits, dict[str, int], None] = None,
        meter: Optional[_Meter] = None,
        cancel: Optional[CancelHandle] = None,
        export: Optional[str] = None,
        on_output: Optional[Callable[[Literal["stdout", "stderr"], bytes], object]] = None,
        traceparent: Optional[str] = None,
        tracestate: Optional[str] = None,
    ) -> "asyncio.Future[CastOutcome]": ...

@final
class Runtime:
    """One engine with its caches and host functions; share it between threads.

    Defaults (Rust's): pooling allocator on, 256 concurrent casts, 1 s queue timeout, 64 cached
    modules, no disk cache, 1 ms epoch tick, 4 GiB largest memory, fuel metering, no meter.
    ``tls_root_certificates``: CA certificates (DER) trusted for spells' HTTPS requests besides
    Mozilla's roots, for a private deployment's internal CA. ``wasi_p3``: cast WASI preview 3
    components (``wasi:cli@0.3``, the async component model) with wasmtime's experimental
    support; off, they are refused at load (``E-MOD-002``).
    """

    def __new__(
        cls,
        *,
        cache_dir: Union[str, "os.PathLike[str]", None] = None,
        pooling: Optional[bool] = None,
        max_concurrent_casts: Optional[int] = None,
        queue_timeout: Optional[float] = None,
        module_cache_capacity: Optional[int] = None,
        epoch_tick: Optional[float] = None,
        max_memory_bytes: Optional[int] = None,
        metering: Optional[Literal["fuel", "time"]] = None,
        host_functions: Optional[Sequence[HostFunction]] = None,
        meter: Optional[_Meter] = None,
        tls_root_certificates: Optional[Sequence[bytes]] = None,
        wasi_p3: Optional[bool] = None,
    ) -> "Runtime": ...
    def load(self, package: _PackageSource, policy: Policy) -> Spell: ...
    def load_unverified(
        self,
        module: _PackageSource,
        *,
        name: Optional[str] = None,
        entrypoint: Optional[str] = None,
        capabilities: Optional[dict[str, Any]] = None,
        limits: Optional[dict[str, int]] = None,
        policy: Optional[Policy] = None,
    ) -> Spell: ...
    def verify(self, package: _PackageSource, policy: Policy) -> dict[str, Any]: ...
    def rescan(self, policy: Policy) -> dict[str, Any]: ...
    def metrics(self) -> str: ...
    @property
    def stats(self) -> dict[str, int]: ...

def pack(
    manifest: Union[dict[str, Any], str, bytes],
    module: Union[bytes, str],
    *,
    sbom: Union[str, bytes, None] = None,
    bundle: Union[str, bytes, None] = None,
) -> bytes: ...
def inspect(package: _PackageSource) -> dict[str, Any]: ...
def _rust_cast_seconds(spell: Spell, iterations: int, args: Sequence[str] = ..., threads: int = 1) -> float: ...
