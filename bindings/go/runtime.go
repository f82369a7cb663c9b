package spell

// #include "spell_go.h"
import "C"

import (
	"encoding/json"
	"runtime"
	"time"
)

// Metering is how CPU use is measured and capped.
type Metering uint8

const (
	// MeteringFuel is deterministic fuel, what billing wants (the default).
	MeteringFuel Metering = C.SPELL_METERING_FUEL
	// MeteringTime measures wall and CPU time only: cheaper on CPU-bound guests; fuel limits
	// are not enforced and usage carries no fuel.
	MeteringTime Metering = C.SPELL_METERING_TIME
)

// Options configures a Runtime. The zero value (or nil) is the secure default: no host
// functions, no disk cache, fuel metering, the pooling allocator, 256 casts at once.
type Options struct {
	// MaxConcurrentCasts caps casts running at once (0: 256); further casts wait up to
	// QueueTimeout, then fail with CodeBusy.
	MaxConcurrentCasts int
	// QueueTimeout is how long a cast waits for a slot, in whole milliseconds (0: 1s).
	QueueTimeout time.Duration
	// ModuleCacheCapacity is how many compiled modules stay in memory (0: 64).
	ModuleCacheCapacity int
	// CacheDir keeps authenticated compiled modules on disk ("": none).
	CacheDir string
	// EpochTick bounds how late a timeout or cancellation takes effect (0: 1ms).
	EpochTick time.Duration
	// MaxMemoryBytes is the largest linear memory any spell may have (0: 4 GiB).
	MaxMemoryBytes uint64
	// DisablePooling turns off the pooling allocator, to run very many casts with little
	// memory each.
	DisablePooling bool
	// WasiP3 casts WASI preview 3 components (wasi:cli@0.3, the async component model) with
	// wasmtime's experimental support; off (the default), they are refused at load
	// (CodeModuleInvalid).
	WasiP3 bool
	// Metering is how CPU is metered (default MeteringFuel).
	Metering Metering
	// HostFunctions are offered to spells whose policy grants them. With any, every cast runs
	// on the cast pool (see the package doc).
	HostFunctions []HostFunction
	// Meter sees casts whose Request names no meter (nil: none). If it is an Observer, every
	// cast runs on the cast pool (see the package doc).
	Meter MeteringHook
	// TLSRootCertificates are CA certificates (DER) trusted for spells' HTTPS requests besides
	// Mozilla's roots: a private deployment's internal CA. One rustls cannot use is
	// CodeRuntimeConfig.
	TLSRootCertificates [][]byte
}

// Runtime loads and casts spells: one engine with its caches and host functions. Safe for
// concurrent use; one per process is typical. Close it when done (a finalizer closes it
// otherwise); spells loaded from it stay usable after.
type Runtime struct {
	h cHandle[*C.spell_runtime_t]
	// fiberCallbacks: Go host functions or an Observer, which run on wasmtime's fiber stack, so
	// its spells cast on the cast pool (see the package doc).
	fiberCallbacks bool
}

// NewRuntime builds a runtime; opts may be nil.
func NewRuntime(opts *Options) (*Runtime, error) {
	if opts == nil {
		opts = &Options{}
	}
	config := C.spell_config_new()
	if err := opts.apply(config); err != nil {
		C.spell_config_delete(config)
		return nil, err
	}
	var ptr *C.spell_runtime_t
	if err := takeError(C.spell_runtime_new(config, &ptr)); err != nil {
		return nil, err
	}
	rt := &Runtime{
		h:              cHandle[*C.spell_runtime_t]{ptr: ptr, free: func(p *C.spell_runtime_t) { C.spell_runtime_delete(p) }, what: "runtime"},
		fiberCallbacks: len(opts.HostFunctions) > 0 || observes(opts.Meter),
	}
	runtime.SetFinalizer(rt, (*Runtime).Close)
	return rt, nil
}

func (o *Options) apply(c *C.spell_config_t) error {
	if o.MaxConcurrentCasts > 0 {
		C.spell_config_max_concurrent_casts(c, C.size_t(o.MaxConcurrentCasts))
	}
	if o.QueueTimeout > 0 {
		ms := (o.QueueTimeout + time.Millisecond - 1) / time.Millisecond // rounded up
		C.spell_config_queue_timeout_ms(c, C.uint64_t(ms))
	}
	if o.ModuleCacheCapacity > 0 {
		C.spell_config_module_cache_capacity(c, C.size_t(o.ModuleCacheCapacity))
	}
	if o.EpochTick > 0 {
		C.spell_config_epoch_tick_us(c, C.uint64_t(o.EpochTick.Microseconds()))
	}
	if o.MaxMemoryBytes > 0 {
		C.spell_config_max_memory_bytes(c, C.uint64_t(o.MaxMemoryBytes))
	}
	C.spell_config_pooling(c, C.bool(!o.DisablePooling))
	C.spell_config_wasi_p3(c, C.bool(o.WasiP3))
	if err := takeError(C.spell_config_metering(c, C.spell_metering_t(o.Metering))); err != nil {
		return err
	}
	if o.CacheDir != "" {
		p, n := cStr(o.CacheDir)
		if err := takeError(C.spell_config_cache_dir(c, p, n)); err != nil {
			return err
		}
	}
	for _, der := range o.TLSRootCertificates {
		p, n := cBytes(der)
		if err := takeError(C.spell_config_tls_root_certificate(c, p, n)); err != nil {
			return err
		}
	}
	for _, f := range o.HostFunctions {
		if err := f.register(c); err != nil {
			return err
		}
	}
	if o.Meter != nil {
		return takeError(C.spell_go_config_meter(c, newHandle(o.Meter), C.bool(observes(o.Meter))))
	}
	return nil
}

// Load loads a .spell package through the whole verified-loading pipeline: package rules,
// signature and SBOM per policy, grant, compile, imports, entrypoint.
func (rt *Runtime) Load(pkg []byte, policy *Policy) (*Spell, error) {
	if policy == nil {
		return nil, &Error{code: CodeInvalidArgument, msg: "policy is nil"}
	}
	var ptr *C.spell_t
	err := rt.h.use(func(r *C.spell_runtime_t) error {
		return policy.h.use(func(p *C.spell_policy_t) error {
			data, n := cBytes(pkg)
			return takeError(C.spell_load(r, data, n, p, &ptr))
		})
	})
	if err != nil {
		return nil, err
	}
	return newSpell(ptr, rt.fiberCallbacks), nil
}

// ModuleAsk is what a bare module asks for in LoadUnverified; every field is optional.
// Capabilities and Limits are as in a package's spell.json (`{"env": ["LANG"]}`,
// `{"fuel": 5000}`).
type ModuleAsk struct {
	// Name names the module in usage records and argv[0] (default "module").
	Name string `json:"name,omitempty"`
	// Entrypoint is the export to call (default "_start").
	Entrypoint string `json:"entrypoint,omitempty"`
	// Capabilities are what it asks to use: env, mounts, network, host_functions.
	Capabilities map[string]any `json:"capabilities,omitempty"`
	// Limits are the limits it asks for, by their spell.json names.
	Limits map[string]uint64 `json:"limits,omitempty"`
}

// LoadUnverified loads a bare WebAssembly module without a package: no signature, SBOM or
// license check; the host vouches for it. It gets what ask asks for, bounded by policy when
// policy is not nil. An unknown field is CodeManifestParse; otherwise the errors of Load.
func (rt *Runtime) LoadUnverified(module []byte, ask ModuleAsk, policy *Policy) (*Spell, error) {
	askJSON, err := json.Marshal(ask)
	if err != nil {
		return nil, &Error{code: CodeInvalidArgument, msg: "ask: " + err.Error()}
	}
	load := func(r *C.spell_runtime_t, p *C.spell_policy_t) (*C.spell_t, error) {
		var ptr *C.spell_t
		data, n := cBytes(module)
		a, an := cStr(string(askJSON))
		return ptr, takeError(C.spell_load_unverified(r, data, n, a, an, p, &ptr))
	}
	var ptr *C.spell_t
	err = rt.h.use(func(r *C.spell_runtime_t) (err error) {
		if policy == nil {
			ptr, err = load(r, nil)
			return err
		}
		return policy.h.use(func(p *C.spell_policy_t) (err error) {
			ptr, err = load(r, p)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return newSpell(ptr, rt.fiberCallbacks), nil
}

// RescanReport is what Runtime.Rescan found.
type RescanReport struct {
	// Spells is how many loaded spells were checked.
	Spells int `json:"spells"`
	// Changes are the spells whose verdict changed, in load order.
	Changes []VerdictChange `json:"changes"`
}

// VerdictChange is a loaded spell whose verdict a rescan changed.
type VerdictChange struct {
	Digest  string  `json:"digest"`
	Name    string  `json:"name"`
	Version string  `json:"version"`
	Before  Verdict `json:"before"`
	After   Verdict `json:"after"` // "refused" revoked it
}

// Verdict is a verification verdict: "accepted" with Warnings, or "refused" with the refusal's
// Code ("E-SBOM-005") and Message.
type Verdict struct {
	Verdict  string   `json:"verdict"`
	Warnings []string `json:"warnings,omitempty"`
	Code     string   `json:"code,omitempty"`
	Message  string   `json:"message,omitempty"`
}

// Rescan re-verifies every spell rt loaded against policy as it is now (its trusted roots, keys
// and OSV database read again if they changed) and revokes those it refuses: their next Cast
// fails with CodeSpellRevoked (E-SIG-008); casts in flight finish; the runtime's meter observes
// an EventSpellRevoked for each. Returns the spells whose verdict changed.
func (rt *Runtime) Rescan(policy *Policy) (*RescanReport, error) {
	if policy == nil {
		return nil, &Error{code: CodeInvalidArgument, msg: "policy is nil"}
	}
	var buf C.spell_buf_t
	err := rt.h.use(func(r *C.spell_runtime_t) error {
		return policy.h.use(func(p *C.spell_policy_t) error {
			return takeError(C.spell_runtime_rescan(r, p, &buf))
		})
	})
	if err != nil {
		return nil, err
	}
	defer C.spell_buf_delete(&buf)
	report := &RescanReport{}
	if err := json.Unmarshal(goBytes(buf.data, buf.len), report); err != nil {
		return nil, &Error{code: CodeInternal, msg: "rescan report: " + err.Error()}
	}
	return report, nil
}

// Metrics returns the runtime's metrics in the Prometheus text format (0.0.4), for the host's
// own /metrics: casts by spell and outcome, refusals by code, histograms of time, fuel, memory
// and network bytes, casts in flight, queue wait, cache hits and misses.
func (rt *Runtime) Metrics() (string, error) {
	var buf C.spell_buf_t
	err := rt.h.use(func(r *C.spell_runtime_t) error {
		return takeError(C.spell_runtime_metrics(r, &buf))
	})
	if err != nil {
		return "", err
	}
	defer C.spell_buf_delete(&buf)
	return string(goBytes(buf.data, buf.len)), nil
}

// CacheStats are the counters of a runtime's module cache.
type CacheStats struct {
	// Compiled counts modules compiled from WebAssembly.
	Compiled uint64
	// MemoryHits counts loads served from memory.
	MemoryHits uint64
	// DiskHits counts loads served from an on-disk artifact.
	DiskHits uint64
	// DiskRejected counts on-disk artifacts refused (bad MAC, corrupt, incompatible) and
	// compiled again.
	DiskRejected uint64
}

// Stats reads the counters of the runtime's module cache (zero after Close).
func (rt *Runtime) Stats() CacheStats {
	var s C.spell_cache_stats_t
	_ = rt.h.use(func(r *C.spell_runtime_t) error {
		C.spell_runtime_stats(r, &s)
		return nil
	})
	return CacheStats{
		Compiled: uint64(s.compiled), MemoryHits: uint64(s.memory_hits),
		DiskHits: uint64(s.disk_hits), DiskRejected: uint64(s.disk_rejected),
	}
}

// Close frees the runtime. Safe to call more than once; waits for a Load in flight.
func (rt *Runtime) Close() error {
	rt.h.close()
	runtime.SetFinalizer(rt, nil)
	return nil
}

// SetPoolIdleTimeout sets how long a thread of Spell's cast pool (where casts with Go callbacks
// that run inside the guest cast, see the package doc) waits for another cast before it exits;
// the default is 10 seconds. Threads keep their executor while they wait, so a steady stream of
// such casts reuses them, and a burst does not keep its threads for the life of the process.
func SetPoolIdleTimeout(d time.Duration) {
	C.spell_pool_idle_timeout(C.uint64_t(max(d.Milliseconds(), 1)))
}

// Verified is what Runtime.Verify established about a package: the object `spell verify --json`
// prints.
type Verified struct {
	Name         string         `json:"name"`
	Version      string         `json:"version"`
	Digest       string         `json:"digest"` // sha256 of spell.json, hex
	Verification Verification   `json:"verification"`
	Grant        map[string]any `json:"grant"` // what the spell may use under the policy
}

// Verification is the signature and SBOM part of Verified.
type Verification struct {
	// Signer is nil for an unsigned package the policy allowed.
	Signer *Signer `json:"signer"`
	// SBOM is nil when the package has none.
	SBOM *SBOMReport `json:"sbom"`
	// Warnings are findings that did not refuse the package.
	Warnings []string `json:"warnings"`
}

// Signer is who signed a package, as the policy's signer rule matched it.
type Signer struct {
	Identity    string  `json:"identity"` // certificate subject, or the key's "sha256:" fingerprint
	Issuer      *string `json:"issuer"`   // keyless: the OIDC issuer
	Kind        string  `json:"kind"`
	Rule        string  `json:"rule"`      // the signer rule that matched
	SignedAt    *string `json:"signed_at"` // RFC 3339
	TrustedRoot string  `json:"trusted_root"`
}

// SBOMReport is what a package's CycloneDX SBOM says, within the policy's rules.
type SBOMReport struct {
	SpecVersion     string           `json:"spec_version"`
	Components      int              `json:"components"`
	Vulnerabilities []map[string]any `json:"vulnerabilities"` // below the refusal threshold
	Informational   []map[string]any `json:"informational"`
}

// Verify checks a .spell package exactly as Load does (package rules, signature and signer
// rule, SBOM rules, grant) without compiling it; a refusal is the error Load would return.
func (rt *Runtime) Verify(pkg []byte, policy *Policy) (*Verified, error) {
	if policy == nil {
		return nil, &Error{code: CodeInvalidArgument, msg: "policy is nil"}
	}
	var buf C.spell_buf_t
	err := rt.h.use(func(r *C.spell_runtime_t) error {
		return policy.h.use(func(p *C.spell_policy_t) error {
			data, n := cBytes(pkg)
			return takeError(C.spell_runtime_verify(r, data, n, p, &buf))
		})
	})
	if err != nil {
		return nil, err
	}
	defer C.spell_buf_delete(&buf)
	v := &Verified{}
	if err := json.Unmarshal(goBytes(buf.data, buf.len), v); err != nil {
		return nil, &Error{code: CodeInternal, msg: "verify report: " + err.Error()}
	}
	return v, nil
}
