;; Uses the host functions of tests/test_host.py: `run` upper-cases "hello" in its memory through
;; host::upper, then returns host::add(40, 2) and its first byte; `fail` calls host::fail.
(module
  (import "host" "add" (func $add (param i32 i32) (result i32)))
  (import "host" "upper" (func $upper (param i32 i32)))
  (import "host" "fail" (func $fail))
  (memory (export "memory") 1)
  (data (i32.const 0) "hello")
  (func (export "run") (result i32 i32)
    (call $upper (i32.const 0) (i32.const 5))
    (call $add (i32.const 40) (i32.const 2))
    (i32.load8_u (i32.const 0)))
  (func (export "fail")
    (call $fail)))
