/* spell.h: the C API of Spell, an embeddable runtime for verified WebAssembly spells.
 *
 * Generated from bindings/c/src by cbindgen (bindings/c/tests/header.rs); do not edit.
 * Regenerate: SPELL_BLESS=1 cargo test --release -p spell-capi --test header
 *
 * The rules every function follows (ownership, errors, views, callbacks, threads) are in
 * bindings/c/src/lib.rs and the README section "C and Go". In short: functions that can fail
 * return spell_error_t* (NULL on success) and write results to out-parameters; every handle a
 * function gives you is freed with its *_delete function; spell_str_t / spell_bytes_t views
 * borrow from the object they were read from and are not NUL-terminated. */

#ifndef SPELL_H
#define SPELL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Error codes: the values of spell_error_code_t, from the Spell error catalog
 * (docs/error-codes.md). spell_error_code_str() gives the public code, e.g. "E-PKG-003". */
#define SPELL_ERROR_PACKAGE_TOO_LARGE 101 /* E-PKG-001: the package exceeds the size cap; raise `max_package_bytes` in the policy or shrink the package */
#define SPELL_ERROR_PACKAGE_MALFORMED 102 /* E-PKG-002: the package is not a valid .spell archive; re-create it with `spell pack` */
#define SPELL_ERROR_PACKAGE_PATH_INVALID 103 /* E-PKG-003: a package member has an unsafe path (absolute, `..`, or nested) */
#define SPELL_ERROR_PACKAGE_ENTRY_TYPE 104 /* E-PKG-004: a package member is not a regular file (links and directories are refused) */
#define SPELL_ERROR_PACKAGE_DUPLICATE_MEMBER 105 /* E-PKG-005: a package member appears more than once */
#define SPELL_ERROR_PACKAGE_UNKNOWN_MEMBER 106 /* E-PKG-006: the package has a member Spell does not know */
#define SPELL_ERROR_PACKAGE_MEMBER_ORDER 107 /* E-PKG-007: package members are out of order; re-create the package with `spell pack` */
#define SPELL_ERROR_PACKAGE_MISSING_MEMBER 108 /* E-PKG-008: a required package member is missing */
#define SPELL_ERROR_PACKAGE_MEMBER_TOO_LARGE 109 /* E-PKG-009: a package member exceeds its size cap; raise `max_module_bytes` in the policy or shrink it */
#define SPELL_ERROR_PACKAGE_DIGEST_MISMATCH 110 /* E-PKG-010: a member's sha256 differs from the manifest; the package was altered after packing */
#define SPELL_ERROR_PACKAGE_SIZE_MISMATCH 111 /* E-PKG-011: a member's size differs from the manifest; the package was altered after packing */
#define SPELL_ERROR_PACKAGE_IO 112 /* E-PKG-012: reading or writing package files failed */
#define SPELL_ERROR_MODULE_KIND_MISMATCH 113 /* E-PKG-013: the module is not of the kind spell.json states (`module.kind`: core or component); pack it again with `spell pack`, which detects the kind */
#define SPELL_ERROR_MANIFEST_PARSE 201 /* E-MAN-001: spell.json is not a valid manifest; see the JSON Schema in schema/manifest.schema.json */
#define SPELL_ERROR_MANIFEST_INVALID 202 /* E-MAN-002: a manifest field has an invalid value */
#define SPELL_ERROR_MANIFEST_TOOL_INVALID 203 /* E-MAN-003: the manifest's `tool` section is invalid; see `spell mcp` in README.md */
#define SPELL_ERROR_POLICY_PARSE 301 /* E-POL-001: the policy is not valid; check it against examples/policy.toml */
#define SPELL_ERROR_POLICY_INVALID 302 /* E-POL-002: a policy value is invalid */
#define SPELL_ERROR_CAPABILITY_DENIED 303 /* E-POL-003: the spell asks for capabilities or limits the policy does not grant */
#define SPELL_ERROR_CAST_REQUEST_DENIED 304 /* E-POL-004: the cast request exceeds what the spell was granted */
#define SPELL_ERROR_SIGNATURE_MISSING 401 /* E-SIG-001: the spell is unsigned; sign it (`spell sign`) or set `allow_unsigned = true` */
#define SPELL_ERROR_BUNDLE_INVALID 402 /* E-SIG-002: the Sigstore bundle is malformed or incomplete */
#define SPELL_ERROR_SIGNATURE_INVALID 403 /* E-SIG-003: the signature does not verify against the trusted root */
#define SPELL_ERROR_SIGNER_NOT_TRUSTED 404 /* E-SIG-004: the signer matches no signer rule in the policy */
#define SPELL_ERROR_TRUST_ROOT_INVALID 405 /* E-SIG-005: a trusted root or key in the policy could not be loaded */
#define SPELL_ERROR_SIGNING_FAILED 406 /* E-SIG-006: signing failed */
#define SPELL_ERROR_SIGNATURE_ARTIFACT_MISMATCH 407 /* E-SIG-007: the signature does not cover this spell.json; the package was altered after signing, sign it again */
#define SPELL_ERROR_SPELL_REVOKED 408 /* E-SIG-008: the spell was revoked by a rescan (the message names the refusal); fix the cause and load it again */
#define SPELL_ERROR_DIGEST_REVOKED 409 /* E-SIG-009: the spell's digest is in trust.revoked_digests; this release was withdrawn */
#define SPELL_ERROR_SIGNER_REVOKED 410 /* E-SIG-010: the signer is in trust.revoked_signers; have the spell signed by a trusted signer */
#define SPELL_ERROR_SIGNATURE_REVOKED 411 /* E-SIG-011: the signature was made before trust.revoked_before; sign the spell again with the rotated key */
#define SPELL_ERROR_SBOM_MISSING 501 /* E-SBOM-001: the policy requires an SBOM; add sbom.cdx.json to the package */
#define SPELL_ERROR_SBOM_INVALID 502 /* E-SBOM-002: the SBOM is not a valid CycloneDX JSON document */
#define SPELL_ERROR_SBOM_MODULE_MISMATCH 503 /* E-SBOM-003: the SBOM does not describe this module (sha256 differs) */
#define SPELL_ERROR_LICENSE_DENIED 504 /* E-SBOM-004: a license is denied by the policy */
#define SPELL_ERROR_VULNERABILITY_FOUND 505 /* E-SBOM-005: a component has a known vulnerability the policy refuses */
#define SPELL_ERROR_OSV_DATABASE_INVALID 506 /* E-SBOM-006: the OSV database could not be read */
#define SPELL_ERROR_MODULE_TOO_LARGE 601 /* E-MOD-001: the module exceeds `max_module_bytes` */
#define SPELL_ERROR_MODULE_INVALID 602 /* E-MOD-002: the module is not valid WebAssembly for this runtime */
#define SPELL_ERROR_IMPORT_NOT_GRANTED 603 /* E-MOD-003: the module imports functions the policy does not grant */
#define SPELL_ERROR_ENTRYPOINT_INVALID 604 /* E-MOD-004: the entrypoint is missing or is not a function without parameters */
#define SPELL_ERROR_MODULE_TOO_COMPLEX 605 /* E-MOD-005: compiling the module would exceed the runtime's compile budget (loops nested too deep, or too long a chain of branches); raise `compile_budget` if the module is trusted */
#define SPELL_ERROR_BUSY 701 /* E-RUN-001: too many casts in flight; retry later or raise `max_concurrent_casts` */
#define SPELL_ERROR_RUNTIME_CONFIG 702 /* E-RUN-002: the runtime configuration is invalid */
#define SPELL_ERROR_HOST_FUNCTION_INVALID 703 /* E-RUN-003: a host function registration is invalid */
#define SPELL_ERROR_HOOK_FAILED 704 /* E-RUN-004: a host hook failed */
#define SPELL_ERROR_CAST_SETUP 705 /* E-RUN-005: the cast could not be set up */
#define SPELL_ERROR_INVALID_ARGUMENT 706 /* E-RUN-006: an argument is invalid */
#define SPELL_ERROR_INTERNAL 707 /* E-RUN-007: Spell hit an internal error (a bug); please report it with the message */
#define SPELL_ERROR_DENIED 708 /* E-RUN-008: the authorize hook refused the cast */
#define SPELL_ERROR_NET_NOT_GRANTED 801 /* E-NET-001: the URL is not granted to this spell */
#define SPELL_ERROR_NET_ADDRESS_BLOCKED 802 /* E-NET-002: the host resolves to a blocked address (SSRF guard) */
#define SPELL_ERROR_NET_LIMIT 803 /* E-NET-003: a network limit was reached */
#define SPELL_ERROR_NET_TIMEOUT 804 /* E-NET-004: the request timed out */
#define SPELL_ERROR_NET_REQUEST_INVALID 805 /* E-NET-005: the request is malformed */
#define SPELL_ERROR_NET_TRANSPORT 806 /* E-NET-006: the connection or HTTP exchange failed */
#define SPELL_ERROR_BILL_BUDGET_EXHAUSTED 901 /* E-BILL-001: the account cannot pay for this cast; raise its budget, top up its balance or wait for the next period */
#define SPELL_ERROR_BILL_ACCOUNT_UNKNOWN 902 /* E-BILL-002: the account is not in the ledger; add it with `spell ledger account set` */
#define SPELL_ERROR_BILL_PRICES_INVALID 903 /* E-BILL-003: the price list is invalid; check it against examples/prices.toml */
#define SPELL_ERROR_LEDGER_TAMPERED 904 /* E-BILL-004: the ledger was altered outside Spell; `spell ledger verify` names the first broken row */
#define SPELL_ERROR_LEDGER_STORAGE 905 /* E-BILL-005: the ledger database could not be read or written */
#define SPELL_ERROR_SERVICE_UNREACHABLE 1001 /* E-SVC-001: the NATS server could not be reached; check `--nats`, the credentials and TLS settings */
#define SPELL_ERROR_SERVICE_STREAM_MISSING 1002 /* E-SVC-002: a service-mode stream or bucket is missing; start a worker (`spell worker`) to create them */
#define SPELL_ERROR_SERVICE_REQUEST_TOO_LARGE 1003 /* E-SVC-003: the cast request exceeds the size cap; send less stdin or fewer arguments */
#define SPELL_ERROR_SERVICE_UNKNOWN_SPELL 1004 /* E-SVC-004: no package with this digest is published; run `spell publish` first */
#define SPELL_ERROR_SERVICE_REQUEST_INVALID 1005 /* E-SVC-005: the cast request is malformed; see schema/cast-request.schema.json */
#define SPELL_ERROR_SERVICE_TRANSPORT 1006 /* E-SVC-006: a NATS operation failed; it is safe to retry with the same idempotency key */
#define SPELL_ERROR_SERVICE_TIMEOUT 1007 /* E-SVC-007: no result before the deadline; the cast may still complete, query its status */
#define SPELL_ERROR_SERVICE_UNKNOWN_CAST 1008 /* E-SVC-008: no cast with this id is known */
#define SPELL_ERROR_SERVICE_ATTEMPTS_EXHAUSTED 1009 /* E-SVC-009: the cast failed on every attempt and was dead-lettered */
#define SPELL_ERROR_SERVICE_CONNECT_OPTIONS 1010 /* E-SVC-010: the NATS connection options are invalid (credentials, certificates) */
#define SPELL_ERROR_SERVICE_RESULT_EXPIRED 1011 /* E-SVC-011: the cast finished but its result is past the retention (`spell worker --retention`); its usage entry is in the usage stream */
#define SPELL_ERROR_TOOL_ARGUMENTS_INVALID 1101 /* E-MCP-001: the tool's arguments do not match its input schema; fix them and call again */
#define SPELL_ERROR_TOOL_UNKNOWN 1102 /* E-MCP-002: no tool by this name is offered; list the tools again */
#define SPELL_ERROR_TOOL_OUTPUT_INVALID 1103 /* E-MCP-003: the spell's output does not match its declared output schema; report it to the spell's maker */


// Cancels the casts it is attached to, from any thread. Free it with `spell_cancel_delete`.
typedef struct spell_cancel_t spell_cancel_t;

// A runtime configuration. Free it with `spell_config_delete` unless `spell_runtime_new`
// consumed it.
typedef struct spell_config_t spell_config_t;

// An error: a catalog code and a message. Free it with `spell_error_delete`.
typedef struct spell_error_t spell_error_t;

// The calling guest, during a host function call: read and write its memory (the export
// named `memory`), bounds-checked. Only valid inside the callback.
typedef struct spell_host_call_t spell_host_call_t;

// A ledger file, open. Thread-safe; free it with `spell_ledger_delete`.
typedef struct spell_ledger_t spell_ledger_t;

// How a cast ended. Free it with `spell_outcome_delete`.
typedef struct spell_outcome_t spell_outcome_t;

// A policy. Thread-safe; free it with `spell_policy_delete`.
typedef struct spell_policy_t spell_policy_t;

// A cast request. Not thread-safe; reusable for many casts. Free it with
// `spell_request_delete`.
typedef struct spell_request_t spell_request_t;

// A runtime: one engine, its caches and host functions. Thread-safe; one per process is
// typical. Free it with `spell_runtime_delete` (spells loaded from it stay usable).
typedef struct spell_runtime_t spell_runtime_t;

// A loaded spell. Thread-safe: cast it from many threads at once. Free it with `spell_delete`.
typedef struct spell_t spell_t;

// Bytes the caller owns; free them with `spell_buf_delete`.
typedef struct spell_buf_t {
  // The first byte (NULL when empty).
  uint8_t *data;
  // The length in bytes.
  size_t len;
} spell_buf_t;

// A value type: one of the `SPELL_I32`, `SPELL_I64`, `SPELL_F32`, `SPELL_F64` constants.
typedef uint8_t spell_valkind_t;

// The payload of a `spell_val_t`, read by its `kind`.
typedef union spell_valunion_t {
  // For `SPELL_I32`.
  int32_t i32;
  // For `SPELL_I64`.
  int64_t i64;
  // For `SPELL_F32`.
  float f32;
  // For `SPELL_F64`.
  double f64;
} spell_valunion_t;

// A WebAssembly value.
typedef struct spell_val_t {
  // Which member of `of` is set.
  spell_valkind_t kind;
  // The value.
  union spell_valunion_t of;
} spell_val_t;

// A host function. `args` holds `nargs` values of the declared parameter types; `results`
// holds `nresults` zero values of the declared result types to overwrite (keep each `kind`).
// Return NULL, or an error from `spell_error_new` to trap the guest (the outcome is
// `SPELL_OUTCOME_TRAP` of kind `host_error` with the message).
typedef struct spell_error_t *(*spell_host_fn)(void *env,
                                               struct spell_host_call_t *call,
                                               const struct spell_val_t *args,
                                               size_t nargs,
                                               struct spell_val_t *results,
                                               size_t nresults);

// Called once with a callback's `env` when Spell no longer needs it (may be NULL).
typedef void (*spell_finalize_fn)(void *env);

// A borrowed UTF-8 string: `len` bytes at `data`, not NUL-terminated. Valid as long as the
// object it was read from.
typedef struct spell_str_t {
  // The first byte.
  const char *data;
  // The length in bytes.
  size_t len;
} spell_str_t;

// Limits, in the units of `spell.json`. In a cast context all are set; in a request (see
// `spell_request_limits`) 0 keeps the grant's value.
typedef struct spell_limits_t {
  // Linear memories plus tables, bytes.
  uint64_t memory_bytes;
  // Fuel units.
  uint64_t fuel;
  // Wall-clock milliseconds.
  uint64_t wall_time_ms;
  // stdout plus stderr bytes.
  uint64_t output_bytes;
  // Outbound requests.
  uint64_t net_requests;
  // Network bytes, in plus out.
  uint64_t net_bytes;
  // Descriptors the spell may hold open at once.
  uint64_t open_files;
  // Bytes written to files (holes and growth by truncation included).
  uint64_t disk_write_bytes;
} spell_limits_t;

// What the authorize hook sees. Views are valid during the callback.
typedef struct spell_cast_context_t {
  // Unique id of this cast (32 hex digits).
  struct spell_str_t cast_id;
  // sha256 of the spell's `spell.json`, hex.
  struct spell_str_t spell_digest;
  // The spell's name.
  struct spell_str_t spell_name;
  // The spell's version.
  struct spell_str_t spell_version;
  // The limits the cast will run under (before any allowance).
  struct spell_limits_t limits;
} spell_cast_context_t;

// What the authorize hook grants: with `has_max_fuel`, at most `max_fuel` fuel for this cast.
// Zeroed before the callback.
typedef struct spell_allowance_t {
  // Whether `max_fuel` applies.
  bool has_max_fuel;
  // The fuel cap for this cast.
  uint64_t max_fuel;
} spell_allowance_t;

// Runs before a cast. Return NULL to let it run (optionally filling `allowance`), an error from
// `spell_denied_new` to refuse it (the outcome is then `SPELL_OUTCOME_DENIED` with the error's
// message as the detail), or any other error (`spell_error_new`) when the hook itself failed:
// the cast is denied all the same (fail closed) and the failure is the outcome's hook error.
typedef struct spell_error_t *(*spell_authorize_fn)(void *env,
                                                    const struct spell_cast_context_t *ctx,
                                                    struct spell_allowance_t *allowance);

// How a cast ended: one of the `SPELL_OUTCOME_*` constants.
typedef uint8_t spell_outcome_kind_t;

// Everything one cast consumed. Views are valid as long as what it was read from (the outcome,
// or the record callback).
typedef struct spell_usage_t {
  // Unique id of the cast.
  struct spell_str_t cast_id;
  // sha256 of the spell's `spell.json`, hex.
  struct spell_str_t spell_digest;
  // The spell's name.
  struct spell_str_t spell_name;
  // How the cast ended.
  spell_outcome_kind_t outcome;
  // Whether the guest exited (then `exit_code` is its code).
  bool has_exit_code;
  // The guest's exit code.
  int32_t exit_code;
  // Whether fuel was metered (then `fuel` is what the cast consumed).
  bool has_fuel;
  // Fuel consumed.
  uint64_t fuel;
  // Wall-clock time of the cast, nanoseconds.
  uint64_t wall_ns;
  // CPU time of the thread running the guest, nanoseconds.
  uint64_t cpu_ns;
  // Peak of linear memories plus tables, bytes.
  uint64_t memory_peak_bytes;
  // Bytes captured from stdout.
  uint64_t stdout_bytes;
  // Bytes captured from stderr.
  uint64_t stderr_bytes;
  // Outbound requests made.
  uint64_t net_requests;
  // Network bytes received.
  uint64_t net_bytes_in;
  // Network bytes sent.
  uint64_t net_bytes_out;
  // When the cast started, milliseconds since the Unix epoch.
  uint64_t started_at_ms;
  // Bytes written to files, plus holes and growth by truncation.
  uint64_t disk_bytes_written;
  // The W3C trace the cast joined (32 hex digits); empty without a traceparent.
  struct spell_str_t trace_id;
} spell_usage_t;

// Runs exactly once after every cast that started. An error (from `spell_error_new`) does not
// change the outcome; it is the outcome's hook error (`spell_outcome_hook_error`), ahead of any
// earlier failure of the cast.
typedef struct spell_error_t *(*spell_record_fn)(void *env, const struct spell_usage_t *usage);

// The kind of a `spell_event_t`: one of the `SPELL_EVENT_*` constants.
typedef uint8_t spell_event_kind_t;

// Something that happened during a cast, or to a loaded spell. Views are valid during the
// callback.
typedef struct spell_event_t {
  // The cast it happened in.
  struct spell_str_t cast_id;
  // What happened.
  spell_event_kind_t kind;
  // For `SPELL_EVENT_LIMIT_HIT`: the outcome the limit caused.
  spell_outcome_kind_t outcome;
  // For `SPELL_EVENT_POLICY_VIOLATION`: the capability involved (`network`, ...); else empty.
  struct spell_str_t capability;
  // Details: which limit and its value, what was attempted, or the refusal.
  struct spell_str_t detail;
  // For `SPELL_EVENT_SPELL_REVOKED`: the spell's digest (hex); else empty.
  struct spell_str_t spell_digest;
  // For `SPELL_EVENT_SPELL_REVOKED`: the spell's name; else empty.
  struct spell_str_t spell_name;
  // For `SPELL_EVENT_SPELL_REVOKED`: the refusal's code (`E-SBOM-005`, ...); else empty.
  struct spell_str_t code;
} spell_event_t;

// Runs as limits are hit and policy violations happen, from inside the cast. Return NULL, or an
// error (from `spell_error_new`) that does not stop the cast but is its hook error unless an
// earlier failure is.
typedef struct spell_error_t *(*spell_observe_fn)(void *env, const struct spell_event_t *event);

// A metering hook: callbacks sharing one `env`. A NULL callback keeps the default (allow,
// ignore). `finalize(env)` runs once when Spell drops the hook. Callbacks run on the casting
// thread; keep them quick.
typedef struct spell_meter_t {
  // Passed to every callback.
  void *env;
  // Before each cast.
  spell_authorize_fn authorize;
  // Once after each cast.
  spell_record_fn record;
  // During casts.
  spell_observe_fn observe;
  // Once, when the hook is dropped.
  spell_finalize_fn finalize;
} spell_meter_t;

// How CPU is metered: one of the `SPELL_METERING_*` constants.
typedef uint8_t spell_metering_t;

// A numeric error code: `ErrorCode::as_u16()` of the Spell catalog, one of the `SPELL_ERROR_*`
// constants.
typedef uint16_t spell_error_code_t;

// Where an account stands, in micro-units of the price list's currency.
typedef struct spell_ledger_account_t {
  // Its budget (per period, or the prepaid balance).
  int64_t budget;
  // Charged in the current period (all time for prepaid).
  int64_t spent;
  // Held by casts in flight.
  int64_t reserved;
  // What new casts can still spend: budget − spent − reserved.
  int64_t available;
} spell_ledger_account_t;

// How often an account's budget renews.
typedef uint8_t spell_ledger_period_t;

// Borrowed bytes: `len` bytes at `data`. Valid as long as the object they were read from.
typedef struct spell_bytes_t {
  // The first byte.
  const uint8_t *data;
  // The length in bytes.
  size_t len;
} spell_bytes_t;

// Why a guest trapped: one of the `SPELL_TRAP_*` constants. New kinds are only appended.
typedef uint8_t spell_trap_kind_t;

// Access to a mounted folder: `SPELL_ACCESS_RO` or `SPELL_ACCESS_RW`.
typedef uint8_t spell_access_t;

// An output stream: `SPELL_STREAM_STDOUT` or `SPELL_STREAM_STDERR`.
typedef uint8_t spell_stream_t;

// Sees each captured chunk of output as the guest writes it (`len` bytes at `data`, valid
// during the call). Runs on the casting thread. Return NULL, or an error (from
// `spell_error_new`) that does not stop the cast but is its hook error unless an earlier
// failure is.
typedef struct spell_error_t *(*spell_output_fn)(void *env,
                                                 spell_stream_t stream,
                                                 const uint8_t *data,
                                                 size_t len);

// Counters of a runtime's module cache (`spell_runtime_stats`).
typedef struct spell_cache_stats_t {
  // Modules compiled from WebAssembly.
  uint64_t compiled;
  // Loads served from memory.
  uint64_t memory_hits;
  // Loads served from an on-disk artifact.
  uint64_t disk_hits;
  // On-disk artifacts refused (bad MAC, corrupt, incompatible) and compiled again.
  uint64_t disk_rejected;
} spell_cache_stats_t;

// Read-only.
#define SPELL_ACCESS_RO 0

// Read and write (the grant must allow it).
#define SPELL_ACCESS_RW 1

// A limit ended the cast; `outcome` says which.
#define SPELL_EVENT_LIMIT_HIT 0

// The guest tried something its grant does not allow; `capability` says what.
#define SPELL_EVENT_POLICY_VIOLATION 1

// A rescan revoked a loaded spell (outside any cast: `cast_id` is empty); `spell_digest`,
// `spell_name` and `code` say which and why.
#define SPELL_EVENT_SPELL_REVOKED 2

// 32-bit float.
#define SPELL_F32 2

// 64-bit float.
#define SPELL_F64 3

// 32-bit integer.
#define SPELL_I32 0

// 64-bit integer.
#define SPELL_I64 1

// Every UTC day.
#define SPELL_LEDGER_DAY 1

// Every UTC calendar month.
#define SPELL_LEDGER_MONTH 2

// Never: the budget is a prepaid balance.
#define SPELL_LEDGER_PREPAID 0

// Fuel: deterministic, what billing wants (the default).
#define SPELL_METERING_FUEL 0

// Wall and CPU time only: cheaper on CPU-bound guests; fuel limits are not enforced.
#define SPELL_METERING_TIME 1

// The host cancelled the cast.
#define SPELL_OUTCOME_CANCELLED 8

// The authorize hook refused the cast; nothing ran.
#define SPELL_OUTCOME_DENIED 9

// The disk write limit ended the cast.
#define SPELL_OUTCOME_DISK_LIMIT 10

// A non-zero exit code.
#define SPELL_OUTCOME_EXIT 1

// The memory limit ended the cast.
#define SPELL_OUTCOME_MEMORY_LIMIT 5

// A network limit ended the cast.
#define SPELL_OUTCOME_NETWORK_LIMIT 7

// Exit code 0, or the entrypoint returned.
#define SPELL_OUTCOME_OK 0

// The output limit ended the cast.
#define SPELL_OUTCOME_OUTPUT_LIMIT 6

// The fuel limit (or the authorize hook's allowance) ended the cast.
#define SPELL_OUTCOME_OUT_OF_FUEL 4

// The wall-time limit ended the cast.
#define SPELL_OUTCOME_TIMEOUT 3

// The guest trapped (`spell_outcome_trap` names the kind).
#define SPELL_OUTCOME_TRAP 2

// Standard error.
#define SPELL_STREAM_STDERR 1

// Standard output.
#define SPELL_STREAM_STDOUT 0

// An allocation too large for the GC heap.
#define SPELL_TRAP_ALLOCATION_TOO_LARGE 16

// An out-of-bounds array access.
#define SPELL_TRAP_ARRAY_OUT_OF_BOUNDS 15

// An atomic wait on a non-shared memory.
#define SPELL_TRAP_ATOMIC_WAIT_NON_SHARED_MEMORY 13

// A float-to-integer conversion out of range or of NaN.
#define SPELL_TRAP_BAD_CONVERSION_TO_INTEGER 10

// An indirect call whose signature does not match.
#define SPELL_TRAP_BAD_SIGNATURE 7

// A failed reference cast.
#define SPELL_TRAP_CAST_FAILURE 17

// An unaligned atomic access.
#define SPELL_TRAP_HEAP_MISALIGNED 4

// A host function failed, or the host ended the guest otherwise.
#define SPELL_TRAP_HOST_ERROR 1

// An indirect call through an uninitialized table element.
#define SPELL_TRAP_INDIRECT_CALL_TO_NULL 6

// An integer division or remainder by zero.
#define SPELL_TRAP_INTEGER_DIVISION_BY_ZERO 9

// An integer overflow (`i32.div_s` of `INT_MIN` by -1).
#define SPELL_TRAP_INTEGER_OVERFLOW 8

// An interrupt not caused by Spell's deadline or cancellation.
#define SPELL_TRAP_INTERRUPT 12

// An out-of-bounds linear memory access.
#define SPELL_TRAP_MEMORY_OUT_OF_BOUNDS 3

// A null reference was used.
#define SPELL_TRAP_NULL_REFERENCE 14

// The guest exhausted its call stack.
#define SPELL_TRAP_STACK_OVERFLOW 2

// An out-of-bounds table access.
#define SPELL_TRAP_TABLE_OUT_OF_BOUNDS 5

// An exception no handler caught.
#define SPELL_TRAP_UNHANDLED_TAG 18

// A trap this version of Spell does not name.
#define SPELL_TRAP_UNKNOWN 0

// The `unreachable` instruction ran.
#define SPELL_TRAP_UNREACHABLE_CODE_REACHED 11

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

// Frees the bytes of a buffer Spell filled and empties it. NULL does nothing.
//
// # Safety
// `buf` is NULL or a buffer written by this library (or already emptied by this function).
void spell_buf_delete(struct spell_buf_t *buf);

// Cancels every cast using this handle, now and later (a handle stays cancelled). A cast
// ends within about one epoch tick. Safe to call from any thread, during `spell_cast`.
//
// # Safety
// `cancel` is NULL or live.
void spell_cancel_cancel(const struct spell_cancel_t *cancel);

// Frees a cancel handle (requests keep their own reference). NULL does nothing.
//
// # Safety
// `cancel` is NULL or live, not used afterwards.
void spell_cancel_delete(struct spell_cancel_t *cancel);

// Whether `spell_cancel_cancel` was called.
//
// # Safety
// `cancel` is NULL or live.
bool spell_cancel_is_cancelled(const struct spell_cancel_t *cancel);

// A cancel handle that is not cancelled.
struct spell_cancel_t *spell_cancel_new(void);

// Casts `spell` with `request` (NULL: an empty request) and waits for the outcome, blocking
// this thread.
//
// Fails only when the cast could not start (the request exceeds the grant, no slot became
// free, setup failed). Once started, every end (traps, limits, cancellation, a denial by the
// authorize hook) is an outcome whose usage the metering hook's `record` has already seen,
// exactly once.
//
// # Safety
// `spell` is live; `request` is NULL or live and used by no other thread; `out` is writable.
struct spell_error_t *spell_cast(const struct spell_t *spell,
                                 const struct spell_request_t *request,
                                 struct spell_outcome_t **out);

// `spell_cast` on a thread of Spell's cast pool, blocking this thread until the cast ends: for
// hosts whose callbacks (hooks, host functions, the output callback) must not run on the
// calling thread. Go's binding casts this way when it has callbacks, since Go code may run on
// wasmtime's fiber stack only on a thread Go did not make. Pool threads are started on
// demand and exit after `spell_pool_idle_timeout` without work.
//
// # Safety
// As `spell_cast`.
struct spell_error_t *spell_cast_on_pool(const struct spell_t *spell,
                                         const struct spell_request_t *request,
                                         struct spell_outcome_t **out);

// Keep authenticated compiled modules in this folder (default: none).
//
// # Safety
// `config` is NULL or a live config; `dir` points to `len` bytes.
struct spell_error_t *spell_config_cache_dir(struct spell_config_t *config,
                                             const char *dir,
                                             size_t len);

// Frees a config. NULL does nothing.
//
// # Safety
// `config` is NULL or a live config, not used afterwards.
void spell_config_delete(struct spell_config_t *config);

// The epoch tick in microseconds (default 1000, at least 100): how late a timeout or a
// cancellation may take effect.
//
// # Safety
// `config` is NULL or a live config.
void spell_config_epoch_tick_us(struct spell_config_t *config, uint64_t us);

// Offers the host function `module::name` to spells whose policy grants it
// (`[capabilities] host_functions`). `finalize(env)` runs once when the last runtime built from
// this config is deleted, or at once if this call fails. Registration errors (a reserved module,
// a duplicate) surface from `spell_runtime_new`.
//
// # Safety
// `config` is NULL or a live config; the strings and kind arrays point to their lengths;
// `callback` and `env` follow spell.h's callback rules.
struct spell_error_t *spell_config_host_function(struct spell_config_t *config,
                                                 const char *module,
                                                 size_t module_len,
                                                 const char *name,
                                                 size_t name_len,
                                                 const spell_valkind_t *params,
                                                 size_t nparams,
                                                 const spell_valkind_t *results,
                                                 size_t nresults,
                                                 spell_host_fn callback,
                                                 void *env,
                                                 spell_finalize_fn finalize);

// At most `n` casts run at once (default 256); further casts wait for the queue timeout, then
// fail with `SPELL_ERROR_BUSY`.
//
// # Safety
// `config` is NULL or a live config.
void spell_config_max_concurrent_casts(struct spell_config_t *config, size_t n);

// The largest linear memory any spell may have, in bytes (default 4 GiB); sizes the pooling
// allocator's slots.
//
// # Safety
// `config` is NULL or a live config.
void spell_config_max_memory_bytes(struct spell_config_t *config, uint64_t bytes);

// The metering hook for casts whose request names none (default: none). The runtime keeps it
// until it is deleted.
//
// # Safety
// `config` is NULL or a live config; `meter` follows spell.h's callback rules.
struct spell_error_t *spell_config_meter(struct spell_config_t *config,
                                         const struct spell_meter_t *meter);

// How CPU is metered (default `SPELL_METERING_FUEL`).
//
// # Safety
// `config` is NULL or a live config.
struct spell_error_t *spell_config_metering(struct spell_config_t *config,
                                            spell_metering_t metering);

// Compiled modules kept in memory (default 64).
//
// # Safety
// `config` is NULL or a live config.
void spell_config_module_cache_capacity(struct spell_config_t *config, size_t n);

// A configuration with the secure defaults: no host functions, no disk cache, fuel metering,
// the pooling allocator, 256 casts at once.
struct spell_config_t *spell_config_new(void);

// Whether to use the pooling allocator (default true).
//
// # Safety
// `config` is NULL or a live config.
void spell_config_pooling(struct spell_config_t *config, bool on);

// How long a cast waits for a free slot, in milliseconds (default 1000).
//
// # Safety
// `config` is NULL or a live config.
void spell_config_queue_timeout_ms(struct spell_config_t *config, uint64_t ms);

// Also trust this CA certificate (DER, `len` bytes) for spells' HTTPS requests, besides
// Mozilla's roots: a private deployment's internal CA. `spell_runtime_new` refuses one rustls
// cannot use (`E-RUN` runtime_config).
//
// # Safety
// `config` is NULL or a live config; `der` points to `len` bytes.
struct spell_error_t *spell_config_tls_root_certificate(struct spell_config_t *config,
                                                        const uint8_t *der,
                                                        size_t len);

// Whether to cast WASI preview 3 components (`wasi:cli@0.3`, the async component model) with
// wasmtime's experimental support (default false: they are refused at load with
// `SPELL_ERROR_MODULE_INVALID`).
//
// # Safety
// `config` is NULL or a live config.
void spell_config_wasi_p3(struct spell_config_t *config, bool on);

// Frees a spell. NULL does nothing.
//
// # Safety
// `spell` is NULL or a live spell, not used afterwards (no cast may be running on it).
void spell_delete(struct spell_t *spell);

// A refusal for an authorize hook to return: the outcome is `SPELL_OUTCOME_DENIED` with this
// message (invalid UTF-8 is replaced) as its detail. Its code is `SPELL_ERROR_DENIED`; an
// authorize hook returning any other error failed rather than refused (see `spell_authorize_fn`).
// Never NULL.
//
// # Safety
// `message` points to `len` readable bytes, or is NULL with `len` 0.
struct spell_error_t *spell_denied_new(const char *message, size_t len);

// Writes the spell's identity, the sha256 of its `spell.json` in hex, to `out`.
//
// # Safety
// `spell` is NULL or live; `out` is NULL or writable.
bool spell_digest(const struct spell_t *spell, struct spell_str_t *out);

// Writes the export a cast calls unless the request names another to `out`.
//
// # Safety
// `spell` is NULL or live; `out` is NULL or writable.
bool spell_entrypoint(const struct spell_t *spell, struct spell_str_t *out);

// The error's catalog code (`SPELL_ERROR_*`); 0 for NULL.
//
// # Safety
// `error` is NULL or a live error from this library.
spell_error_code_t spell_error_code(const struct spell_error_t *error);

// Writes the snake_case name of `code` (`"package_path_invalid"`, static) to `out`. Returns
// false for a number that is not in the catalog.
//
// # Safety
// `out` is NULL or writable.
bool spell_error_code_name(spell_error_code_t code, struct spell_str_t *out);

// Writes the public code of `code` (`"E-PKG-003"`, static) to `out`. Returns false for a
// number that is not in the catalog.
//
// # Safety
// `out` is NULL or writable.
bool spell_error_code_str(spell_error_code_t code, struct spell_str_t *out);

// Frees an error. NULL does nothing.
//
// # Safety
// `error` is NULL or a live error, not used afterwards.
void spell_error_delete(struct spell_error_t *error);

// Writes a view of the error's message (valid until the error is deleted) to `out`.
//
// # Safety
// `error` is NULL or a live error; `out` is NULL or writable.
void spell_error_message(const struct spell_error_t *error, struct spell_str_t *out);

// A new error with code `SPELL_ERROR_HOOK_FAILED` and this message (invalid UTF-8 is
// replaced), for a hook or host function callback to return. Never NULL.
//
// # Safety
// `message` points to `len` readable bytes, or is NULL with `len` 0.
struct spell_error_t *spell_error_new(const char *message, size_t len);

// Writes what the spell may use as JSON to `out`: `{"env", "mounts", "network",
// "host_functions", "limits"}`, the serialization Python's `Spell.grant` and Node's
// `spell.grant` give. Made on the first call; valid while the spell lives.
//
// # Safety
// `spell` is NULL or live; `out` is NULL or writable.
bool spell_grant_json(const struct spell_t *spell, struct spell_str_t *out);

// Writes the id of the cast this call belongs to (valid during the callback) to `out`.
//
// # Safety
// `call` is the callback's call; `out` is writable.
struct spell_error_t *spell_host_call_cast_id(struct spell_host_call_t *call,
                                              struct spell_str_t *out);

// Copies `len` bytes of guest memory at `ptr` into `buf`. Out of bounds is an
// `SPELL_ERROR_INVALID_ARGUMENT` error.
//
// # Safety
// `call` is the callback's call; `buf` is writable for `len` bytes.
struct spell_error_t *spell_host_call_read(struct spell_host_call_t *call,
                                           uint32_t ptr,
                                           uint32_t len,
                                           uint8_t *buf);

// Writes `len` bytes at `data` into guest memory at `ptr`. Out of bounds is an
// `SPELL_ERROR_INVALID_ARGUMENT` error.
//
// # Safety
// `call` is the callback's call; `data` points to `len` readable bytes.
struct spell_error_t *spell_host_call_write(struct spell_host_call_t *call,
                                            uint32_t ptr,
                                            const uint8_t *data,
                                            size_t len);

// Writes where `account` stands to `out`.
//
// # Safety
// `ledger` is live; `account` points to `len` bytes; `out` is writable.
struct spell_error_t *spell_ledger_account(const struct spell_ledger_t *ledger,
                                           const char *account,
                                           size_t len,
                                           struct spell_ledger_account_t *out);

// Closes a ledger. NULL does nothing.
//
// # Safety
// `ledger` is NULL or live, not used afterwards.
void spell_ledger_delete(struct spell_ledger_t *ledger);

// Opens (or creates) the ledger at `path`, releasing reservations a crashed process left.
//
// # Safety
// `path` points to `len` bytes; `out` is writable.
struct spell_error_t *spell_ledger_open(const char *path, size_t len, struct spell_ledger_t **out);

// Reservations of crashed processes released when the ledger was opened; 0 for NULL.
//
// # Safety
// `ledger` is NULL or live.
uint64_t spell_ledger_released_reservations(const struct spell_ledger_t *ledger);

// Creates or updates an account: `budget` micro-units per `period` (`SPELL_LEDGER_*`).
//
// # Safety
// `ledger` is live; `account` points to `len` bytes.
struct spell_error_t *spell_ledger_set_account(const struct spell_ledger_t *ledger,
                                               const char *account,
                                               size_t len,
                                               int64_t budget,
                                               spell_ledger_period_t period);

// Installs a price list (TOML, as `spell ledger prices` takes it).
//
// # Safety
// `ledger` is live; `toml` points to `len` bytes.
struct spell_error_t *spell_ledger_set_prices(const struct spell_ledger_t *ledger,
                                              const char *toml,
                                              size_t len);

// Recomputes the hash chain and writes its length to `seq`; a broken chain is
// `SPELL_ERROR_LEDGER_TAMPERED` naming the first broken row.
//
// # Safety
// `ledger` is live; `seq` is writable.
struct spell_error_t *spell_ledger_verify(const struct spell_ledger_t *ledger, int64_t *seq);

// Loads a `.spell` package through the whole verified-loading pipeline (package rules,
// signature and SBOM per `policy`, grant, compile, imports, entrypoint).
//
// # Safety
// `runtime` and `policy` are live; `package` points to `len` bytes; `out` is writable.
struct spell_error_t *spell_load(const struct spell_runtime_t *runtime,
                                 const uint8_t *package,
                                 size_t len,
                                 const struct spell_policy_t *policy,
                                 struct spell_t **out);

// Loads a bare WebAssembly module without a package: no signature, SBOM or license check; the
// host vouches for it. `ask_json` (`ask_len` bytes; NULL with 0 for `{}`) is what it asks for:
// `{"name", "entrypoint", "capabilities", "limits"}`, each optional, the last two as in
// `spell.json`. It gets that, bounded by `policy` when one is given (NULL: all it asks). An
// unknown field is `SPELL_ERROR_MANIFEST_PARSE`; otherwise the errors of `spell_load`.
//
// # Safety
// `runtime` is live; `policy` is NULL or live; `module` points to `len` bytes; `ask_json` to
// `ask_len` bytes or is NULL with 0; `out` is writable.
struct spell_error_t *spell_load_unverified(const struct spell_runtime_t *runtime,
                                            const uint8_t *module,
                                            size_t len,
                                            const char *ask_json,
                                            size_t ask_len,
                                            const struct spell_policy_t *policy,
                                            struct spell_t **out);

// Writes the spell's name (valid while the spell lives) to `out`.
//
// # Safety
// `spell` is NULL or live; `out` is NULL or writable.
bool spell_name(const struct spell_t *spell, struct spell_str_t *out);

// Frees an outcome. NULL does nothing.
//
// # Safety
// `outcome` is NULL or live, not used afterwards.
void spell_outcome_delete(struct spell_outcome_t *outcome);

// The catalog code the authorize hook gave a `SPELL_OUTCOME_DENIED` cast (e.g.
// `SPELL_ERROR_BILL_BUDGET_EXHAUSTED` from a ledger); 0 when it gave none, and for NULL.
//
// # Safety
// `outcome` is NULL or live.
spell_error_code_t spell_outcome_denial_code(const struct spell_outcome_t *outcome);

// Writes the human-readable reason (every outcome but ok and exit has one) to `out`; returns
// whether there is one.
//
// # Safety
// `outcome` is NULL or live; `out` is NULL or writable.
bool spell_outcome_detail(const struct spell_outcome_t *outcome, struct spell_str_t *out);

// Writes the exit code to `out` when the guest exited (a `_start` that returned counts as 0);
// returns whether it did.
//
// # Safety
// `outcome` is NULL or live; `out` is NULL or writable.
bool spell_outcome_exit_code(const struct spell_outcome_t *outcome, int32_t *out);

// When a hook failed during the cast, writes the failure (`"record hook failed: …"`; a host
// function's names it, `"math::div hook failed: …"`) to `out` and returns true: the `record`
// hook's failure if it failed (a host may retry storing the usage), else the first failure of
// `authorize`, `observe`, the output callback or a host function. The outcome stands either way.
//
// # Safety
// `outcome` is NULL or live; `out` is NULL or writable.
bool spell_outcome_hook_error(const struct spell_outcome_t *outcome, struct spell_str_t *out);

// Writes the outcome as JSON to `out`: the shape `spell cast --json` prints and every binding
// shares (field names in `schema/fields.json`), valid while the outcome lives. Made once, on
// the first call. Returns false for NULL.
//
// # Safety
// `outcome` is NULL or live; `out` is NULL or writable.
bool spell_outcome_json(const struct spell_outcome_t *outcome, struct spell_str_t *out);

// How the cast ended: one of `SPELL_OUTCOME_*`; 255 for NULL.
//
// # Safety
// `outcome` is NULL or live.
spell_outcome_kind_t spell_outcome_kind(const struct spell_outcome_t *outcome);

// Writes the snake_case name of an outcome kind (`"out_of_fuel"`, static) to `out`. Returns
// false for an unknown kind.
//
// # Safety
// `out` is NULL or writable.
bool spell_outcome_kind_name(spell_outcome_kind_t kind, struct spell_str_t *out);

// Writes what a named export returned: `*len` values at `*vals` (valid while the outcome
// lives).
//
// # Safety
// `outcome` is NULL or live; `vals` and `len` are NULL or writable.
bool spell_outcome_returned(const struct spell_outcome_t *outcome,
                            const struct spell_val_t **vals,
                            size_t *len);

// Writes the captured stderr to `out`.
//
// # Safety
// `outcome` is NULL or live; `out` is NULL or writable.
bool spell_outcome_stderr(const struct spell_outcome_t *outcome, struct spell_bytes_t *out);

// Writes the captured stdout to `out`.
//
// # Safety
// `outcome` is NULL or live; `out` is NULL or writable.
bool spell_outcome_stdout(const struct spell_outcome_t *outcome, struct spell_bytes_t *out);

// For `SPELL_OUTCOME_TRAP`, writes the trap kind's name (`unreachable_code_reached`,
// `stack_overflow`, `memory_out_of_bounds`, `host_error`, ...; static) to `out`; returns
// whether there is one.
//
// # Safety
// `outcome` is NULL or live; `out` is NULL or writable.
bool spell_outcome_trap(const struct spell_outcome_t *outcome, struct spell_str_t *out);

// For `SPELL_OUTCOME_TRAP`, writes the trap kind (one of `SPELL_TRAP_*`) to `out`; returns
// whether there is one.
//
// # Safety
// `outcome` is NULL or live; `out` is NULL or writable.
bool spell_outcome_trap_kind(const struct spell_outcome_t *outcome, spell_trap_kind_t *out);

// Writes the cast's usage record, the one the metering hook's `record` saw, to `out` (views
// valid while the outcome lives).
//
// # Safety
// `outcome` is NULL or live; `out` is NULL or writable.
bool spell_outcome_usage(const struct spell_outcome_t *outcome, struct spell_usage_t *out);

// Writes what a package says about itself, checked for form and pins only, to `info_json`:
// `{"digest", "manifest", "signed", "has_sbom", "imports", "exports"}` (what `spell inspect --json` prints); free it
// with `spell_buf_delete`. Trust it only after `spell_runtime_verify` or `spell_load`.
//
// # Safety
// `package` points to `len` bytes; `info_json` is writable.
struct spell_error_t *spell_package_inspect(const uint8_t *package,
                                            size_t len,
                                            struct spell_buf_t *info_json);

// Packs `spell.json` text and a module into an unsigned package without SBOM, filling in the
// manifest's module pin (like `spell pack`). `module` is WebAssembly binary or text (WAT).
// Free `out` with `spell_buf_delete`.
//
// # Safety
// `manifest` and `module` point to their lengths; `out` is writable.
struct spell_error_t *spell_package_pack(const char *manifest,
                                         size_t manifest_len,
                                         const uint8_t *module,
                                         size_t module_len,
                                         struct spell_buf_t *out);

// Frees a policy. NULL does nothing.
//
// # Safety
// `policy` is NULL or a live policy, not used afterwards.
void spell_policy_delete(struct spell_policy_t *policy);

// Reads a policy file; relative paths in it start at its folder.
//
// # Safety
// `path` points to `len` bytes; `out` is writable.
struct spell_error_t *spell_policy_from_file(const char *path,
                                             size_t len,
                                             struct spell_policy_t **out);

// Parses a policy from TOML text.
//
// # Safety
// `toml` points to `len` bytes; `out` is writable.
struct spell_error_t *spell_policy_from_toml(const char *toml,
                                             size_t len,
                                             struct spell_policy_t **out);

// The policy that trusts a package the way `wasmtime run` trusts a module (as `spell cast`
// without `--policy` does): unsigned allowed, exactly the capabilities and limits its manifest
// asks for. For development and for packages the host vouches for itself.
//
// # Safety
// `package` points to `len` bytes; `out` is writable.
struct spell_error_t *spell_policy_trusting(const uint8_t *package,
                                            size_t len,
                                            struct spell_policy_t **out);

// Sets how long an idle thread of the cast pool waits for work before it exits, in
// milliseconds (at least 1; 10000 by default).
void spell_pool_idle_timeout(uint64_t ms);

// Appends an argument (after `argv[0]`, the spell's name).
//
// # Safety
// `request` is live; `arg` points to `len` bytes.
struct spell_error_t *spell_request_arg(struct spell_request_t *request,
                                        const char *arg,
                                        size_t len);

// Attaches a cancel handle: cancelling it ends the request's casts as `SPELL_OUTCOME_CANCELLED`.
//
// # Safety
// `request` and `cancel` are live.
struct spell_error_t *spell_request_cancel(struct spell_request_t *request,
                                           const struct spell_cancel_t *cancel);

// Frees a request. NULL does nothing.
//
// # Safety
// `request` is NULL or a live request, not used afterwards.
void spell_request_delete(struct spell_request_t *request);

// Sets an environment variable; its name must be granted (checked by `spell_cast`).
//
// # Safety
// `request` is live; `key` and `value` point to their lengths.
struct spell_error_t *spell_request_env(struct spell_request_t *request,
                                        const char *key,
                                        size_t key_len,
                                        const char *value,
                                        size_t value_len);

// Calls this export (a function without parameters) instead of the spell's entrypoint.
//
// # Safety
// `request` is live; `name` points to `len` bytes.
struct spell_error_t *spell_request_export(struct spell_request_t *request,
                                           const char *name,
                                           size_t len);

// Bills the request's casts to `account` of `ledger` (its meter, instead of the runtime's):
// a cast the account cannot pay for ends `SPELL_OUTCOME_DENIED` with denial code
// `SPELL_ERROR_BILL_BUDGET_EXHAUSTED`, the others run within what it can still pay.
//
// # Safety
// `request` and `ledger` are live; `account` points to `len` bytes.
struct spell_error_t *spell_request_ledger(struct spell_request_t *request,
                                           const struct spell_ledger_t *ledger,
                                           const char *account,
                                           size_t len);

// Lowers limits for the casts of this request; a 0 field keeps the grant's value. Raising a
// limit above the grant makes `spell_cast` fail with `SPELL_ERROR_CAST_REQUEST_DENIED`.
//
// # Safety
// `request` is live; `limits` is readable.
struct spell_error_t *spell_request_limits(struct spell_request_t *request,
                                           const struct spell_limits_t *limits);

// The metering hook for the casts of this request, instead of the runtime's. The request keeps
// it until it is deleted or given another.
//
// # Safety
// `request` is live; `meter` follows spell.h's callback rules.
struct spell_error_t *spell_request_meter(struct spell_request_t *request,
                                          const struct spell_meter_t *meter);

// Mounts the host folder `host` at the granted guest path `guest`.
//
// # Safety
// `request` is live; `host` and `guest` point to their lengths.
struct spell_error_t *spell_request_mount(struct spell_request_t *request,
                                          const char *host,
                                          size_t host_len,
                                          const char *guest,
                                          size_t guest_len,
                                          spell_access_t access);

// An empty request.
struct spell_request_t *spell_request_new(void);

// Streams output: `callback` sees each captured chunk of stdout and stderr as it is written.
// `finalize(env)` runs once when the request no longer needs it (or at once on error).
//
// # Safety
// `request` is live; `callback` and `env` follow spell.h's callback rules.
struct spell_error_t *spell_request_on_output(struct spell_request_t *request,
                                              spell_output_fn callback,
                                              void *env,
                                              spell_finalize_fn finalize);

// The guest's stdin (copied).
//
// # Safety
// `request` is live; `data` points to `len` bytes.
struct spell_error_t *spell_request_stdin(struct spell_request_t *request,
                                          const uint8_t *data,
                                          size_t len);

// Joins the caller's W3C trace: `traceparent` is `00-<trace id>-<span id>-<flags>`. The usage
// record names the trace (`trace_id`) and the spell's outbound requests carry a child
// traceparent; a malformed one refuses the cast (`SPELL_E_CAST_REQUEST_DENIED`).
//
// # Safety
// `request` is live; `traceparent` points to `len` bytes.
struct spell_error_t *spell_request_traceparent(struct spell_request_t *request,
                                                const char *traceparent,
                                                size_t len);

// The W3C `tracestate` passed on with the traceparent.
//
// # Safety
// `request` is live; `tracestate` points to `len` bytes.
struct spell_error_t *spell_request_tracestate(struct spell_request_t *request,
                                               const char *tracestate,
                                               size_t len);

// Frees a runtime. NULL does nothing.
//
// # Safety
// `runtime` is NULL or a live runtime, not used afterwards.
void spell_runtime_delete(struct spell_runtime_t *runtime);

// Writes the runtime's metrics in the Prometheus text format (0.0.4) to `text`, for the host's
// own `/metrics`: casts by spell and outcome, refusals by code, histograms of time, fuel,
// memory and network bytes, casts in flight, queue wait, cache hits and misses. Free `text`
// with `spell_buf_delete`.
//
// # Safety
// `runtime` is live; `text` is writable.
struct spell_error_t *spell_runtime_metrics(const struct spell_runtime_t *runtime,
                                            struct spell_buf_t *text);

// Builds a runtime from `config` (consumed, even on error; NULL for the defaults).
//
// # Safety
// `config` is NULL or a live config, not used afterwards; `out` is writable.
struct spell_error_t *spell_runtime_new(struct spell_config_t *config,
                                        struct spell_runtime_t **out);

// Re-verifies every spell `runtime` loaded against `policy` as it is now (its trusted roots,
// keys and OSV database read again if they changed) and revokes those it refuses: their next
// cast fails with `SPELL_ERROR_SPELL_REVOKED` (E-SIG-008); casts in flight finish; the runtime's
// meter observes a `SPELL_EVENT_SPELL_REVOKED` for each. Writes the spells whose verdict changed
// to `report_json` as JSON: `{"spells": n, "changes": [{"digest", "name", "version", "before",
// "after"}]}`, each verdict `{"verdict": "accepted", "warnings": [...]}` or `{"verdict":
// "refused", "code", "message"}`; free it with `spell_buf_delete`.
//
// # Safety
// `runtime` and `policy` are live; `report_json` is writable.
struct spell_error_t *spell_runtime_rescan(const struct spell_runtime_t *runtime,
                                           const struct spell_policy_t *policy,
                                           struct spell_buf_t *report_json);

// Writes the counters of `runtime`'s module cache to `out`; returns false for NULL.
//
// # Safety
// `runtime` is NULL or live; `out` is NULL or writable.
bool spell_runtime_stats(const struct spell_runtime_t *runtime, struct spell_cache_stats_t *out);

// Checks a `.spell` package exactly as `spell_load` does (package rules, signature and signer
// rule, SBOM rules, grant) without compiling it, and writes what it established to
// `report_json`: `{"name", "version", "digest", "verification": {"signer", "sbom",
// "warnings"}, "grant"}` (what `spell verify --json` prints); free it with `spell_buf_delete`.
// A refusal is the error `spell_load` would return.
//
// # Safety
// `runtime` and `policy` are live; `package` points to `len` bytes; `report_json` is writable.
struct spell_error_t *spell_runtime_verify(const struct spell_runtime_t *runtime,
                                           const uint8_t *package,
                                           size_t len,
                                           const struct spell_policy_t *policy,
                                           struct spell_buf_t *report_json);

// Writes the snake_case name of a trap kind (`"integer_division_by_zero"`, static) to `out`.
// Returns false for an unknown number.
//
// # Safety
// `out` is NULL or writable.
bool spell_trap_kind_name(spell_trap_kind_t kind, struct spell_str_t *out);

// Writes the spell's version to `out`.
//
// # Safety
// `spell` is NULL or live; `out` is NULL or writable.
bool spell_version(const struct spell_t *spell, struct spell_str_t *out);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* SPELL_H */
