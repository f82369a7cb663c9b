// Package spell runs verified WebAssembly spells from Go: it loads .spell packages under a
// host policy and casts them in Spell's wasmtime sandbox, with host-enforced limits and an
// exact usage record for every cast. It is a thin cgo layer over Spell's C API
// (bindings/c/include/spell.h), linked statically from libspell.a.
//
// # Building
//
// The C library is built by cargo. From the repository, one command builds it and copies it to
// bindings/go/lib, where this package links it from:
//
//	bindings/go/build.sh      # cargo build --release -p spell-capi-artifact, copy libspell.a
//	cd bindings/go && go test ./...
//
// Run build.sh again after the Rust code changes: it also writes libspell_stamp.h, the library's
// digest, so go relinks. bindings/go/test.sh builds and tests everything.
//
// # Use
//
//	rt, err := spell.NewRuntime(nil)                      // one per process
//	policy, err := spell.PolicyFromFile("policy.toml")
//	sp, err := rt.Load(pkg, policy)                       // verify, grant, compile
//	out, err := sp.Cast(ctx, &spell.Request{Args: []string{"world"}})
//	fmt.Println(out.Kind, string(out.Stdout), out.Usage.Fuel)
//
// Errors are *Error values carrying a code of Spell's one catalog (docs/error-codes.md):
// errors.Is(err, spell.CodeBusy) and err.(*spell.Error).Code() both work. A cast that started
// never returns an error: every end is an Outcome (see OutcomeKind), and ctx ending a cast makes
// it OutcomeCancelled. Runtimes, policies and spells are safe for concurrent use; Close them
// when done (finalizers close forgotten ones).
//
// # How Go and Rust share memory
//
// No Go pointer is ever kept by Spell. Strings and byte slices are passed to C without copying
// for the duration of one call, and Spell copies what it keeps before returning. Results are
// copied out of C views into Go values at once, and the C objects freed. Go values that Spell
// calls back (meters, host functions, output callbacks) are cgo.Handle integers in C; Spell
// calls spellGoFinalize when it drops one, which deletes the handle. C handles (runtime, policy,
// spell) live in a cHandle: a read lock around every use, so Close waits for calls in flight
// and frees exactly once, and a closed handle answers CodeInvalidArgument instead of crashing.
//
// Callbacks that run while the guest runs (host functions, Observer.Observe, Request.OnOutput)
// are called on wasmtime's fiber stack, not the thread's stack. Go cannot run on a foreign
// stack from a thread it created (it checks the goroutine's system-stack bounds, and a panic,
// a stack growth or a GC assist there aborts the process), but it can from a thread it did not
// create. Casts that may make such calls therefore run on a thread of Spell's cast pool
// (spell_cast_on_pool, the pool Node's casts run on too) while the calling thread waits; this
// costs a few microseconds per cast on a quiet machine. Other casts, the common case, call spell_cast directly on the goroutine's thread. Panics in callbacks are
// recovered in Go and returned to Spell as errors; they never unwind into C.
package spell
