// Tests of the C API through spell.h, linked against libspell.a: the bundled example, each
// outcome, hooks exactly once per cast, host functions, cancellation from another thread,
// casts from many threads, error codes for bad input, and a per-cast latency figure.
//
// usage: spell_test path/to/examples/hello/hello.spell   (bindings/c/tests/run.sh builds and runs it)

#define _GNU_SOURCE  // memmem
#include "spell.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S(lit) lit, sizeof(lit) - 1

static int failed;
static const char *hello_path;
static spell_runtime_t *rt;

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failed = 1;                                                                \
    }                                                                            \
  } while (0)

// Fails the test on an error, printing its code and message.
#define OK(call) ok_at((call), #call, __LINE__)
static int ok_at(spell_error_t *err, const char *what, int line) {
  if (!err) return 1;
  spell_str_t msg, code = {0};
  spell_error_message(err, &msg);
  spell_error_code_str(spell_error_code(err), &code);
  fprintf(stderr, "line %d: %s failed: %.*s %.*s\n", line, what, (int)code.len, code.data, (int)msg.len,
          msg.data);
  spell_error_delete(err);
  failed = 1;
  return 0;
}

// The error's code; frees it. 0 when the call succeeded.
static spell_error_code_t code_of(spell_error_t *err) {
  spell_error_code_t code = spell_error_code(err);
  spell_error_delete(err);
  return code;
}

static int str_eq(spell_str_t s, const char *want) {
  return s.len == strlen(want) && memcmp(s.data, want, s.len) == 0;
}

static int bytes_eq(spell_bytes_t b, const char *want) {
  return b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
}

static unsigned char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc(*len);
  if (fread(buf, 1, *len, f) != *len) *len = 0;
  fclose(f);
  return buf;
}

static spell_policy_t *unsigned_policy(void) {
  spell_policy_t *p = NULL;
  const char *toml = "allow_unsigned = true\n[capabilities]\nhost_functions = [\"math::*\"]\n";
  OK(spell_policy_from_toml(toml, strlen(toml), &p));
  return p;
}

// Packs a WAT module with `"name":"t"` plus `extra` manifest fields and loads it on `runtime`.
static spell_t *wat_spell_on(spell_runtime_t *runtime, const char *wat, const char *extra) {
  char manifest[1024];
  snprintf(manifest, sizeof manifest, "{\"name\":\"t\",\"version\":\"1.0.0\",\"license\":\"MIT\",%s}", extra);
  spell_buf_t pkg = {0};
  spell_t *spell = NULL;
  if (OK(spell_package_pack(manifest, strlen(manifest), (const uint8_t *)wat, strlen(wat), &pkg))) {
    spell_policy_t *policy = unsigned_policy();
    OK(spell_load(runtime, pkg.data, pkg.len, policy, &spell));
    spell_policy_delete(policy);
  }
  spell_buf_delete(&pkg);
  return spell;
}

static spell_t *wat_spell(const char *wat, const char *extra) { return wat_spell_on(rt, wat, extra); }

// Casts with a request (NULL: empty) and returns the outcome, or NULL after reporting the error.
static spell_outcome_t *cast(spell_t *spell, spell_request_t *req) {
  spell_outcome_t *o = NULL;
  if (!spell || !OK(spell_cast(spell, req, &o))) return NULL;
  return o;
}

static const char *SPIN = "(module (func (export \"run\") (loop br 0)))";

static void test_hello_example_greets_and_echoes_stdin(void) {
  size_t len = 0;
  unsigned char *pkg = read_file(hello_path, &len);
  CHECK(pkg && len > 0);
  spell_policy_t *policy = NULL;
  spell_t *spell = NULL;
  OK(spell_policy_trusting(pkg, len, &policy));
  if (!OK(spell_load(rt, pkg, len, policy, &spell))) return;
  spell_str_t name, digest;
  CHECK(spell_name(spell, &name) && str_eq(name, "hello"));
  CHECK(spell_digest(spell, &digest) && digest.len == 64);
  spell_str_t grant;
  const char *granted_env = "\"env\":[\"HELLO_NAME\"]";
  CHECK(spell_grant_json(spell, &grant) && memmem(grant.data, grant.len, granted_env, strlen(granted_env)));

  spell_request_t *req = spell_request_new();
  OK(spell_request_arg(req, S("world")));
  OK(spell_request_stdin(req, (const uint8_t *)"echo\n", 5));
  spell_outcome_t *o = cast(spell, req);
  spell_bytes_t out;
  int32_t code = -1;
  CHECK(spell_outcome_kind(o) == SPELL_OUTCOME_OK);
  CHECK(spell_outcome_stdout(o, &out) && bytes_eq(out, "Hello, world!\necho\n"));
  CHECK(spell_outcome_exit_code(o, &code) && code == 0);
  spell_usage_t usage;
  CHECK(spell_outcome_usage(o, &usage));
  CHECK(usage.has_fuel && usage.fuel > 0 && usage.outcome == SPELL_OUTCOME_OK);
  CHECK(str_eq(usage.spell_name, "hello") && usage.cast_id.len == 32 && usage.stdout_bytes == 19);
  CHECK(usage.memory_peak_bytes > 0 && usage.wall_ns > 0);
  spell_outcome_delete(o);

  // The granted env variable reaches the guest when there is no argument.
  spell_request_t *env = spell_request_new();
  OK(spell_request_env(env, S("HELLO_NAME"), S("C")));
  o = cast(spell, env);
  CHECK(spell_outcome_stdout(o, &out) && bytes_eq(out, "Hello, C!\n"));
  spell_outcome_delete(o);

  spell_request_delete(env);
  spell_request_delete(req);
  spell_delete(spell);
  spell_policy_delete(policy);
  free(pkg);
}

// A cast joining a W3C trace names it in its usage; the runtime's metrics count the cast.
static void test_trace_id_and_metrics(void) {
  size_t len = 0;
  unsigned char *pkg = read_file(hello_path, &len);
  spell_runtime_t *own = NULL;
  spell_policy_t *policy = NULL;
  spell_t *spell = NULL;
  OK(spell_runtime_new(NULL, &own));
  OK(spell_policy_trusting(pkg, len, &policy));
  if (!OK(spell_load(own, pkg, len, policy, &spell))) return;
  spell_request_t *req = spell_request_new();
  OK(spell_request_traceparent(req, S("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")));
  OK(spell_request_tracestate(req, S("a=1")));
  spell_outcome_t *o = cast(spell, req);
  spell_usage_t usage;
  CHECK(spell_outcome_usage(o, &usage) && str_eq(usage.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736"));
  spell_outcome_delete(o);
  spell_buf_t text;
  OK(spell_runtime_metrics(own, &text));
  const char *line = "faas_invocations_total{spell=\"hello\",version=\"0.1.0\",outcome=\"ok\"} 1\n";
  CHECK(memmem(text.data, text.len, line, strlen(line)) != NULL);
  spell_buf_delete(&text);
  spell_request_delete(req);
  spell_delete(spell);
  spell_policy_delete(policy);
  spell_runtime_delete(own);
  free(pkg);
}

// One spell whose exports end in each outcome that needs no hook or other thread.
static void test_each_outcome(void) {
  const char *wat =
      "(module"
      " (import \"wasi_snapshot_preview1\" \"proc_exit\" (func $exit (param i32)))"
      " (import \"wasi_snapshot_preview1\" \"fd_write\" (func $w (param i32 i32 i32 i32) (result i32)))"
      " (memory (export \"memory\") 1)"
      " (data (i32.const 0) \"\\10\\00\\00\\00\\06\\00\\00\\00\")"
      " (data (i32.const 16) \"hello\\n\")"
      " (func (export \"answer\") (result i32) i32.const 42)"
      " (func (export \"exit\") (call $exit (i32.const 3)))"
      " (func (export \"trap\") unreachable)"
      " (func (export \"spin\") (loop br 0))"
      " (func (export \"grow\") (loop (drop (memory.grow (i32.const 1))) br 0))"
      " (func (export \"flood\") (loop (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))) br 0)))";
  spell_t *spell = wat_spell(wat, "\"entrypoint\":\"answer\",\"limits\":{\"fuel\":1000000,\"memory_bytes\":1048576,"
                                  "\"output_bytes\":100,\"wall_time_ms\":5000}");
  struct {
    const char *export;
    spell_outcome_kind_t kind;
  } cases[] = {
      {"answer", SPELL_OUTCOME_OK},         {"exit", SPELL_OUTCOME_EXIT},
      {"trap", SPELL_OUTCOME_TRAP},         {"spin", SPELL_OUTCOME_OUT_OF_FUEL},
      {"grow", SPELL_OUTCOME_MEMORY_LIMIT}, {"flood", SPELL_OUTCOME_OUTPUT_LIMIT},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    spell_request_t *req = spell_request_new();
    OK(spell_request_export(req, cases[i].export, strlen(cases[i].export)));
    spell_outcome_t *o = cast(spell, req);
    spell_str_t kind_name = {0};
    spell_outcome_kind_name(spell_outcome_kind(o), &kind_name);
    if (spell_outcome_kind(o) != cases[i].kind)
      fprintf(stderr, "export %s ended as %.*s\n", cases[i].export, (int)kind_name.len, kind_name.data);
    CHECK(spell_outcome_kind(o) == cases[i].kind);
    spell_str_t detail, trap;
    int32_t code = 0;
    switch (cases[i].kind) {
      case SPELL_OUTCOME_OK: {
        const spell_val_t *vals = NULL;
        size_t n = 0;
        CHECK(spell_outcome_returned(o, &vals, &n) && n == 1 && vals[0].kind == SPELL_I32 && vals[0].of.i32 == 42);
        CHECK(!spell_outcome_detail(o, &detail));
        spell_trap_kind_t none;
        CHECK(!spell_outcome_trap_kind(o, &none));
        break;
      }
      case SPELL_OUTCOME_EXIT:
        CHECK(spell_outcome_exit_code(o, &code) && code == 3);
        break;
      case SPELL_OUTCOME_TRAP: {
        spell_trap_kind_t trap_kind = SPELL_TRAP_UNKNOWN;
        CHECK(spell_outcome_trap(o, &trap) && str_eq(trap, "unreachable_code_reached"));
        CHECK(spell_outcome_trap_kind(o, &trap_kind) && trap_kind == SPELL_TRAP_UNREACHABLE_CODE_REACHED);
        CHECK(spell_trap_kind_name(trap_kind, &trap) && str_eq(trap, "unreachable_code_reached"));
        // The shared JSON shape; made once, so a second call gives the same view.
        spell_str_t json, again;
        const char *kind_json = "\"trap\":\"unreachable_code_reached\"";
        CHECK(spell_outcome_json(o, &json) && memmem(json.data, json.len, kind_json, strlen(kind_json)));
        CHECK(memmem(json.data, json.len, "\"disk_bytes_written\":", 21));
        CHECK(spell_outcome_json(o, &again) && again.data == json.data && !spell_outcome_json(NULL, &json));
        break;
      }
      case SPELL_OUTCOME_OUTPUT_LIMIT: {
        spell_bytes_t out;
        CHECK(spell_outcome_stdout(o, &out) && out.len == 100);
        break;
      }
      default:
        CHECK(spell_outcome_detail(o, &detail) && detail.len > 0);
    }
    spell_outcome_delete(o);
    spell_request_delete(req);
  }
  spell_delete(spell);
}

static void test_wall_time_limit_stops_a_spinning_guest(void) {
  spell_t *spell = wat_spell(SPIN, "\"entrypoint\":\"run\",\"limits\":{\"wall_time_ms\":100,\"fuel\":10000000000}");
  spell_outcome_t *o = cast(spell, NULL);
  spell_usage_t usage;
  CHECK(spell_outcome_kind(o) == SPELL_OUTCOME_TIMEOUT);
  CHECK(spell_outcome_usage(o, &usage) && usage.wall_ns >= 100000000ull);
  spell_outcome_delete(o);
  spell_delete(spell);
}

static void *cancel_later(void *cancel) {
  usleep(50 * 1000);
  spell_cancel_cancel(cancel);
  return NULL;
}

static void test_cancel_from_another_thread(void) {
  spell_t *spell = wat_spell(SPIN, "\"entrypoint\":\"run\",\"limits\":{\"fuel\":10000000000}");
  spell_cancel_t *cancel = spell_cancel_new();
  spell_request_t *req = spell_request_new();
  OK(spell_request_cancel(req, cancel));
  pthread_t t;
  pthread_create(&t, NULL, cancel_later, cancel);
  spell_outcome_t *o = cast(spell, req);
  pthread_join(t, NULL);
  CHECK(spell_outcome_kind(o) == SPELL_OUTCOME_CANCELLED);
  CHECK(spell_cancel_is_cancelled(cancel));
  spell_outcome_delete(o);
  spell_request_delete(req);
  spell_cancel_delete(cancel);
  spell_delete(spell);
}

// A metering hook that counts its calls, refuses when `deny` is set, and caps fuel otherwise.
struct meter {
  atomic_int authorized, recorded, observed, finalized;
  int deny, fail_authorize, fail_record, fail_observe;
  spell_outcome_kind_t last;
};

static spell_error_t *meter_authorize(void *env, const spell_cast_context_t *ctx, spell_allowance_t *allowance) {
  struct meter *m = env;
  m->authorized++;
  if (!str_eq(ctx->spell_name, "t") || ctx->limits.fuel != 1000000) return spell_error_new(S("unexpected context"));
  if (m->fail_authorize) return spell_error_new(S("budget store down"));
  if (m->deny) return spell_denied_new(S("no budget left"));
  allowance->has_max_fuel = true;
  allowance->max_fuel = 5000;
  return NULL;
}

static spell_error_t *meter_record(void *env, const spell_usage_t *usage) {
  struct meter *m = env;
  m->recorded++;
  m->last = usage->outcome;
  return m->fail_record ? spell_error_new(S("billing store unreachable")) : NULL;
}

static spell_error_t *meter_observe(void *env, const spell_event_t *event) {
  struct meter *m = env;
  if (event->kind == SPELL_EVENT_LIMIT_HIT) m->observed++;
  return m->fail_observe ? spell_error_new(S("event sink down")) : NULL;
}

static void meter_finalize(void *env) { ((struct meter *)env)->finalized++; }

static void test_hooks_run_exactly_once_per_cast(void) {
  spell_t *spell = wat_spell(SPIN, "\"entrypoint\":\"run\",\"limits\":{\"fuel\":1000000}");
  struct meter m = {0};
  spell_meter_t hook = {&m, meter_authorize, meter_record, meter_observe, meter_finalize};
  spell_request_t *req = spell_request_new();
  OK(spell_request_meter(req, &hook));

  // The allowance caps fuel below the limit.
  spell_outcome_t *o = cast(spell, req);
  spell_usage_t usage;
  spell_str_t detail, hook_error;
  CHECK(spell_outcome_kind(o) == SPELL_OUTCOME_OUT_OF_FUEL);
  CHECK(spell_outcome_usage(o, &usage) && usage.fuel == 5000);
  CHECK(spell_outcome_detail(o, &detail) && memmem(detail.data, detail.len, "allowance", 9));
  CHECK(!spell_outcome_hook_error(o, &hook_error));
  spell_outcome_delete(o);
  CHECK(m.authorized == 1 && m.recorded == 1 && m.observed == 0 && m.last == SPELL_OUTCOME_OUT_OF_FUEL);

  // A refusal: nothing runs, the record hook still runs once, and its failure is reported.
  m.deny = m.fail_record = 1;
  o = cast(spell, req);
  CHECK(spell_outcome_kind(o) == SPELL_OUTCOME_DENIED);
  CHECK(spell_outcome_detail(o, &detail) && str_eq(detail, "no budget left"));
  CHECK(spell_outcome_hook_error(o, &hook_error) && str_eq(hook_error, "record hook failed: billing store unreachable"));
  spell_outcome_delete(o);
  CHECK(m.authorized == 2 && m.recorded == 2 && m.last == SPELL_OUTCOME_DENIED);

  // An authorize hook that fails (not a refusal) denies too, and is the hook error.
  m.deny = m.fail_record = 0;
  m.fail_authorize = 1;
  o = cast(spell, req);
  CHECK(spell_outcome_kind(o) == SPELL_OUTCOME_DENIED);
  CHECK(spell_outcome_detail(o, &detail) && str_eq(detail, "authorize hook failed: budget store down"));
  CHECK(spell_outcome_hook_error(o, &hook_error) && str_eq(hook_error, "authorize hook failed: budget store down"));
  spell_outcome_delete(o);
  CHECK(m.authorized == 3 && m.recorded == 3);

  CHECK(m.finalized == 0);
  spell_request_delete(req);
  CHECK(m.finalized == 1);
  spell_delete(spell);
}

static void test_observe_sees_the_limit_that_ended_the_cast(void) {
  spell_t *spell = wat_spell("(module (memory 1) (func (export \"run\") (loop (drop (memory.grow (i32.const 1))) br 0)))",
                             "\"entrypoint\":\"run\",\"limits\":{\"fuel\":1000000,\"memory_bytes\":1048576}");
  struct meter m = {0};
  spell_meter_t hook = {&m, NULL, meter_record, meter_observe, meter_finalize};
  spell_request_t *req = spell_request_new();
  OK(spell_request_meter(req, &hook));
  spell_outcome_t *o = cast(spell, req);
  CHECK(spell_outcome_kind(o) == SPELL_OUTCOME_MEMORY_LIMIT);
  CHECK(m.observed == 1 && m.recorded == 1);
  spell_str_t hook_error;
  CHECK(!spell_outcome_hook_error(o, &hook_error));
  spell_outcome_delete(o);
  // A failing observe does not change the outcome; it is the hook error.
  m.fail_observe = 1;
  o = cast(spell, req);
  CHECK(spell_outcome_kind(o) == SPELL_OUTCOME_MEMORY_LIMIT);
  CHECK(spell_outcome_hook_error(o, &hook_error) && str_eq(hook_error, "observe hook failed: event sink down"));
  spell_outcome_delete(o);
  spell_request_delete(req);
  spell_delete(spell);
}

static spell_error_t *output_chunk(void *env, spell_stream_t stream, const uint8_t *data, size_t len) {
  if (stream == SPELL_STREAM_STDOUT) *(size_t *)env += len;
  return NULL;
}

static spell_error_t *output_refused(void *env, spell_stream_t stream, const uint8_t *data, size_t len) {
  (*(size_t *)env)++;
  return spell_error_new(S("terminal gone"));
}

static void test_output_streams_to_the_callback(void) {
  size_t len = 0;
  unsigned char *pkg = read_file(hello_path, &len);
  spell_policy_t *policy = NULL;
  spell_t *spell = NULL;
  OK(spell_policy_trusting(pkg, len, &policy));
  OK(spell_load(rt, pkg, len, policy, &spell));
  size_t streamed = 0;
  spell_request_t *req = spell_request_new();
  OK(spell_request_on_output(req, output_chunk, &streamed, NULL));
  spell_outcome_t *o = cast(spell, req);
  CHECK(streamed == strlen("Hello, world!\n"));
  spell_outcome_delete(o);
  spell_request_delete(req);
  // A callback that fails: the cast goes on and keeps its output; the failure is the hook error.
  size_t calls = 0;
  spell_str_t hook_error;
  spell_bytes_t out;
  req = spell_request_new();
  OK(spell_request_on_output(req, output_refused, &calls, NULL));
  o = cast(spell, req);
  CHECK(spell_outcome_kind(o) == SPELL_OUTCOME_OK && calls >= 1);
  CHECK(spell_outcome_stdout(o, &out) && out.len == strlen("Hello, world!\n"));
  CHECK(spell_outcome_hook_error(o, &hook_error) && str_eq(hook_error, "on_output hook failed: terminal gone"));
  spell_outcome_delete(o);
  spell_request_delete(req);
  spell_delete(spell);
  spell_policy_delete(policy);
  free(pkg);
}

// math::add(a, b) = a + b; math::fail traps the guest with a message.
static spell_error_t *host_add(void *env, spell_host_call_t *call, const spell_val_t *args, size_t nargs,
                               spell_val_t *results, size_t nresults) {
  (void)env;
  spell_str_t cast_id;
  if (nargs != 2 || nresults != 1 || spell_host_call_cast_id(call, &cast_id) || cast_id.len != 32)
    return spell_error_new(S("bad call"));
  results[0].of.i32 = args[0].of.i32 + args[1].of.i32;
  return NULL;
}

static spell_error_t *host_fail(void *env, spell_host_call_t *call, const spell_val_t *args, size_t nargs,
                                spell_val_t *results, size_t nresults) {
  uint8_t buf[5];
  spell_error_t *err = spell_host_call_read(call, 0, 5, buf);
  if (err) return err;
  return spell_error_new((const char *)buf, 5);
}

static void count_call(void *counter) { (*(int *)counter)++; }

static void test_host_functions(void) {
  int finalized = 0;
  spell_valkind_t two_i32[] = {SPELL_I32, SPELL_I32};
  spell_config_t *config = spell_config_new();
  OK(spell_config_host_function(config, S("math"), S("add"), two_i32, 2, two_i32, 1, host_add, NULL, NULL));
  OK(spell_config_host_function(config, S("math"), S("fail"), NULL, 0, NULL, 0, host_fail, &finalized, count_call));
  spell_runtime_t *runtime = NULL;
  if (!OK(spell_runtime_new(config, &runtime))) return;
  const char *wat =
      "(module"
      " (import \"math\" \"add\" (func $add (param i32 i32) (result i32)))"
      " (import \"math\" \"fail\" (func $fail))"
      " (memory (export \"memory\") 1) (data (i32.const 0) \"oops!\")"
      " (func (export \"sum\") (result i32) (call $add (i32.const 40) (i32.const 2)))"
      " (func (export \"fail\") (call $fail)))";
  spell_t *spell = wat_spell_on(runtime, wat, "\"entrypoint\":\"sum\",\"capabilities\":{\"host_functions\":[\"math::add\",\"math::fail\"]}");
  spell_outcome_t *o = cast(spell, NULL);
  const spell_val_t *vals = NULL;
  size_t n = 0;
  CHECK(spell_outcome_kind(o) == SPELL_OUTCOME_OK);
  CHECK(spell_outcome_returned(o, &vals, &n) && n == 1 && vals[0].of.i32 == 42);
  spell_outcome_delete(o);

  spell_request_t *req = spell_request_new();
  OK(spell_request_export(req, S("fail")));
  o = cast(spell, req);
  spell_str_t trap, detail;
  CHECK(spell_outcome_kind(o) == SPELL_OUTCOME_TRAP);
  CHECK(spell_outcome_trap(o, &trap) && str_eq(trap, "host_error"));
  spell_trap_kind_t trap_kind = SPELL_TRAP_UNKNOWN;
  CHECK(spell_outcome_trap_kind(o, &trap_kind) && trap_kind == SPELL_TRAP_HOST_ERROR);
  CHECK(!spell_trap_kind_name(200, &trap));
  CHECK(spell_outcome_detail(o, &detail) && memmem(detail.data, detail.len, "oops!", 5));
  spell_str_t hook_error;
  CHECK(spell_outcome_hook_error(o, &hook_error) && str_eq(hook_error, "math::fail hook failed: oops!"));
  spell_outcome_delete(o);
  spell_request_delete(req);
  spell_delete(spell);
  CHECK(finalized == 0);  // the spell kept the runtime, and so the host function, alive
  spell_runtime_delete(runtime);
  CHECK(finalized == 1);
}

struct worker {
  spell_t *spell;
  int ok;
};

static void *cast_many(void *arg) {
  struct worker *w = arg;
  for (int i = 0; i < 50; i++) {
    spell_outcome_t *o = NULL;
    spell_error_t *err = spell_cast(w->spell, NULL, &o);
    const spell_val_t *vals = NULL;
    size_t n = 0;
    if (!err && spell_outcome_kind(o) == SPELL_OUTCOME_OK && spell_outcome_returned(o, &vals, &n) && n == 1 &&
        vals[0].of.i32 == 42)
      w->ok++;
    spell_error_delete(err);
    spell_outcome_delete(o);
  }
  return NULL;
}

static void test_many_threads_cast_one_spell(void) {
  spell_t *spell = wat_spell("(module (func (export \"run\") (result i32) i32.const 42))", "\"entrypoint\":\"run\"");
  pthread_t threads[8];
  struct worker workers[8] = {0};
  for (int i = 0; i < 8; i++) {
    workers[i].spell = spell;
    pthread_create(&threads[i], NULL, cast_many, &workers[i]);
  }
  int ok = 0;
  for (int i = 0; i < 8; i++) {
    pthread_join(threads[i], NULL);
    ok += workers[i].ok;
  }
  CHECK(ok == 8 * 50);
  spell_delete(spell);
}

static void test_bad_input_returns_the_catalog_code(void) {
  spell_policy_t *policy = unsigned_policy();
  spell_t *spell = NULL;
  CHECK(code_of(spell_load(rt, (const uint8_t *)"not a package", 13, policy, &spell)) == SPELL_ERROR_PACKAGE_MALFORMED);
  CHECK(spell == NULL);
  spell_policy_t *bad = NULL;
  CHECK(code_of(spell_policy_from_toml(S("allow_unsigned = 3"), &bad)) == SPELL_ERROR_POLICY_PARSE);
  CHECK(code_of(spell_load(NULL, NULL, 0, policy, &spell)) == SPELL_ERROR_INVALID_ARGUMENT);
  CHECK(code_of(spell_load(rt, NULL, 0, policy, NULL)) == SPELL_ERROR_INVALID_ARGUMENT);

  // Unsigned packages need `allow_unsigned`: an empty policy is deny-all.
  spell_buf_t buf = {0};
  const char *manifest = "{\"name\":\"t\",\"version\":\"1.0.0\",\"license\":\"MIT\",\"entrypoint\":\"run\"}";
  OK(spell_package_pack(manifest, strlen(manifest), (const uint8_t *)S("(module (func (export \"run\")))"), &buf));
  spell_policy_t *deny_all = NULL;
  OK(spell_policy_from_toml(S(""), &deny_all));
  CHECK(code_of(spell_load(rt, buf.data, buf.len, deny_all, &spell)) == SPELL_ERROR_SIGNATURE_MISSING);
  spell_policy_delete(deny_all);
  spell_buf_delete(&buf);
  CHECK(buf.data == NULL && buf.len == 0);

  // A module importing what is not granted.
  const char *wat = "(module (import \"env\" \"secret\" (func)) (func (export \"run\")))";
  OK(spell_package_pack(manifest, strlen(manifest), (const uint8_t *)wat, strlen(wat), &buf));
  CHECK(code_of(spell_load(rt, buf.data, buf.len, policy, &spell)) == SPELL_ERROR_IMPORT_NOT_GRANTED);
  spell_buf_delete(&buf);
  CHECK(code_of(spell_package_pack(manifest, strlen(manifest), (const uint8_t *)S("(module"), &buf)) ==
        SPELL_ERROR_INVALID_ARGUMENT);

  // Requests beyond the grant, and arguments that are not UTF-8.
  spell = wat_spell(SPIN, "\"entrypoint\":\"run\",\"limits\":{\"fuel\":1000}");
  spell_request_t *req = spell_request_new();
  spell_limits_t raise = {.fuel = 1001};
  OK(spell_request_limits(req, &raise));
  spell_outcome_t *o = NULL;
  CHECK(code_of(spell_cast(spell, req, &o)) == SPELL_ERROR_CAST_REQUEST_DENIED);
  CHECK(o == NULL);
  spell_limits_t keep = {0};
  OK(spell_request_limits(req, &keep));
  CHECK(code_of(spell_request_env(req, S("SECRET"), S("x"))) == 0);
  CHECK(code_of(spell_cast(spell, req, &o)) == SPELL_ERROR_CAST_REQUEST_DENIED);
  CHECK(code_of(spell_request_arg(req, "\xff", 1)) == SPELL_ERROR_INVALID_ARGUMENT);
  CHECK(code_of(spell_request_mount(req, S("/tmp"), S("/data"), 7)) == SPELL_ERROR_INVALID_ARGUMENT);
  spell_request_delete(req);
  spell_delete(spell);
  spell_policy_delete(policy);

  // Codes read back as the catalog's strings; unknown numbers have none.
  spell_str_t code, name;
  CHECK(spell_error_code_str(SPELL_ERROR_PACKAGE_MALFORMED, &code) && str_eq(code, "E-PKG-002"));
  CHECK(spell_error_code_name(SPELL_ERROR_BUSY, &name) && str_eq(name, "busy"));
  CHECK(!spell_error_code_str(1, &code));
}

struct spinner {
  spell_t *spell;
  spell_request_t *req;
  spell_outcome_kind_t kind;
};

static void *cast_spinner(void *arg) {
  struct spinner *s = arg;
  spell_outcome_t *o = cast(s->spell, s->req);
  s->kind = spell_outcome_kind(o);
  spell_outcome_delete(o);
  return NULL;
}

static void test_busy_when_every_slot_is_taken(void) {
  spell_config_t *config = spell_config_new();
  spell_config_max_concurrent_casts(config, 1);
  spell_config_queue_timeout_ms(config, 10);
  spell_runtime_t *one = NULL;
  if (!OK(spell_runtime_new(config, &one))) return;
  spell_t *spell = wat_spell_on(one, SPIN, "\"entrypoint\":\"run\",\"limits\":{\"fuel\":10000000000}");
  spell_cancel_t *cancel = spell_cancel_new();
  struct spinner s = {spell, spell_request_new(), 0};
  OK(spell_request_cancel(s.req, cancel));
  pthread_t t;
  pthread_create(&t, NULL, cast_spinner, &s);
  usleep(100 * 1000);
  spell_outcome_t *o = NULL;
  CHECK(code_of(spell_cast(spell, NULL, &o)) == SPELL_ERROR_BUSY);
  spell_cancel_cancel(cancel);
  pthread_join(t, NULL);
  CHECK(s.kind == SPELL_OUTCOME_CANCELLED);
  spell_request_delete(s.req);
  spell_cancel_delete(cancel);
  spell_delete(spell);
  spell_runtime_delete(one);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Not a pass/fail check: prints the per-cast latency of a trivial spell through the C API.
static void report_per_cast_latency(void) {
  spell_t *spell = wat_spell("(module (func (export \"run\")))", "\"entrypoint\":\"run\"");
  spell_request_t *req = spell_request_new();
  const int n = 2000;
  for (int i = 0; i < 100; i++) spell_outcome_delete(cast(spell, req));
  double start = now_s();
  for (int i = 0; i < n; i++) spell_outcome_delete(cast(spell, req));
  printf("per-cast latency (C API, empty export): %.1f us\n", (now_s() - start) / n * 1e6);
  spell_request_delete(req);
  spell_delete(spell);
}

static void test_rescan_revokes_a_withdrawn_digest(void) {
  spell_runtime_t *own = NULL;
  if (!OK(spell_runtime_new(NULL, &own))) return;
  spell_t *spell = wat_spell_on(own, "(module (func (export \"run\")))", "\"entrypoint\":\"run\"");
  // The module cache's counters: compiled once, then served from memory.
  spell_delete(wat_spell_on(own, "(module (func (export \"run\")))", "\"entrypoint\":\"run\""));
  spell_cache_stats_t stats = {0};
  CHECK(spell_runtime_stats(own, &stats) && stats.compiled == 1 && stats.memory_hits == 1 && stats.disk_hits == 0);
  CHECK(!spell_runtime_stats(NULL, &stats) && !spell_runtime_stats(own, NULL));
  spell_str_t digest;
  CHECK(spell && spell_digest(spell, &digest));
  char toml[256];
  snprintf(toml, sizeof toml, "allow_unsigned = true\n[trust]\nrevoked_digests = [\"%.*s\"]\n", (int)digest.len,
           digest.data);
  spell_policy_t *revoking = NULL;
  spell_buf_t report = {0};
  if (spell && OK(spell_policy_from_toml(toml, strlen(toml), &revoking)) &&
      OK(spell_runtime_rescan(own, revoking, &report))) {
    CHECK(memmem(report.data, report.len, "\"code\":\"E-SIG-009\"", 18) != NULL);
    spell_outcome_t *o = NULL;
    CHECK(code_of(spell_cast(spell, NULL, &o)) == SPELL_ERROR_SPELL_REVOKED && o == NULL);
  }
  CHECK(code_of(spell_runtime_rescan(own, NULL, &report)) == SPELL_ERROR_INVALID_ARGUMENT);
  spell_buf_delete(&report);
  spell_policy_delete(revoking);
  spell_delete(spell);
  spell_runtime_delete(own);
}

static void test_inspect_and_verify_without_casting(void) {
  size_t len = 0;
  unsigned char *pkg = read_file(hello_path, &len);
  CHECK(pkg && len > 0);
  spell_buf_t info = {0};
  if (OK(spell_package_inspect(pkg, len, &info))) {
    CHECK(memmem(info.data, info.len, "\"signed\":true", 13) != NULL);
    CHECK(memmem(info.data, info.len, "\"name\":\"hello\"", 14) != NULL);
    CHECK(memmem(info.data, info.len, "\"wasi_snapshot_preview1::fd_write\"", 34) != NULL);
  }
  spell_buf_delete(&info);
  CHECK(code_of(spell_package_inspect((const uint8_t *)"junk", 4, &info)) == SPELL_ERROR_PACKAGE_MALFORMED);

  spell_runtime_t *own = NULL;
  spell_policy_t *trusting = NULL, *deny_all = NULL;
  if (!OK(spell_runtime_new(NULL, &own))) return;
  spell_buf_t report = {0};
  if (OK(spell_policy_trusting(pkg, len, &trusting)) && OK(spell_runtime_verify(own, pkg, len, trusting, &report))) {
    CHECK(memmem(report.data, report.len, "\"name\":\"hello\"", 14) != NULL);
    const char *env = "\"env\":[\"HELLO_NAME\"]";
    CHECK(memmem(report.data, report.len, env, strlen(env)) != NULL);
  }
  spell_buf_delete(&report);
  spell_cache_stats_t stats = {0};
  CHECK(spell_runtime_stats(own, &stats) && stats.compiled == 0);
  if (OK(spell_policy_from_toml("", 0, &deny_all)))
    CHECK(code_of(spell_runtime_verify(own, pkg, len, deny_all, &report)) == SPELL_ERROR_SIGNER_NOT_TRUSTED);
  spell_policy_delete(deny_all);
  spell_policy_delete(trusting);
  spell_runtime_delete(own);
  free(pkg);
}

// (module (func (export "run") (result i32) i32.const 42)), as bytes: a bare module.
static const uint8_t ANSWER_WASM[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00,
                                      0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x07, 0x07, 0x01, 0x03, 'r',  'u',
                                      'n',  0x00, 0x00, 0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x2a, 0x0b};

static void test_load_unverified_gets_what_it_asks_within_the_policy(void) {
  const char *ask = "{\"name\":\"answer\",\"entrypoint\":\"run\",\"limits\":{\"fuel\":5000}}";
  spell_t *spell = NULL;
  OK(spell_load_unverified(rt, ANSWER_WASM, sizeof ANSWER_WASM, ask, strlen(ask), NULL, &spell));
  spell_str_t name, grant;
  CHECK(spell_name(spell, &name) && str_eq(name, "answer"));
  CHECK(spell_grant_json(spell, &grant) && memmem(grant.data, grant.len, "\"fuel\":5000", 11));
  spell_outcome_t *o = cast(spell, NULL);
  const spell_val_t *vals = NULL;
  size_t n = 0;
  CHECK(spell_outcome_kind(o) == SPELL_OUTCOME_OK && spell_outcome_returned(o, &vals, &n) && n == 1 && vals[0].of.i32 == 42);
  spell_outcome_delete(o);
  spell_delete(spell);

  // A policy bounds it; an unknown field and a module that is no module are refused.
  spell_policy_t *policy = NULL;
  OK(spell_policy_from_toml(S("allow_unsigned = true\n[limits.default]\nfuel = 1000\n[limits.max]\nfuel = 1000\n"), &policy));
  spell = NULL;
  CHECK(code_of(spell_load_unverified(rt, ANSWER_WASM, sizeof ANSWER_WASM, ask, strlen(ask), policy, &spell)) == SPELL_ERROR_CAPABILITY_DENIED && !spell);
  CHECK(code_of(spell_load_unverified(rt, ANSWER_WASM, sizeof ANSWER_WASM, S("{\"fule\":1}"), NULL, &spell)) == SPELL_ERROR_MANIFEST_PARSE);
  CHECK(code_of(spell_load_unverified(rt, ANSWER_WASM, 8, NULL, 0, NULL, &spell)) == SPELL_ERROR_ENTRYPOINT_INVALID);
  CHECK(code_of(spell_load_unverified(rt, (const uint8_t *)"\0asm\1\0\0\0junk", 12, NULL, 0, NULL, &spell)) == SPELL_ERROR_MODULE_INVALID);
  spell_policy_delete(policy);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s path/to/hello.spell\n", argv[0]);
    return 2;
  }
  hello_path = argv[1];
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!OK(spell_runtime_new(NULL, &rt))) return 1;
  struct {
    const char *name;
    void (*run)(void);
  } tests[] = {
#define T(f) {#f, f}
      T(test_hello_example_greets_and_echoes_stdin),
      T(test_each_outcome),
      T(test_trace_id_and_metrics),
      T(test_wall_time_limit_stops_a_spinning_guest),
      T(test_cancel_from_another_thread),
      T(test_hooks_run_exactly_once_per_cast),
      T(test_observe_sees_the_limit_that_ended_the_cast),
      T(test_output_streams_to_the_callback),
      T(test_host_functions),
      T(test_many_threads_cast_one_spell),
      T(test_bad_input_returns_the_catalog_code),
      T(test_busy_when_every_slot_is_taken),
      T(test_rescan_revokes_a_withdrawn_digest),
      T(test_inspect_and_verify_without_casting),
      T(test_load_unverified_gets_what_it_asks_within_the_policy),
  };
  int passed = 0, failures = 0;
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    failed = 0;
    tests[i].run();
    printf("%s %s\n", failed ? "FAIL" : "ok  ", tests[i].name);
    if (failed) failures++;
    else passed++;
  }
  report_per_cast_latency();
  spell_runtime_delete(rt);
  printf("%d passed, %d failed\n", passed, failures);
  return failures ? 1 : 0;
}
