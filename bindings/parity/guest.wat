;; The guest of the cross-language parity scenarios (scenarios.json): one export per outcome.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "parity" "fail" (func $fail (result i32)))
  (memory (export "memory") 1)
  ;; An iovec at 0 pointing to "hi\n" at 16; fd_write stores the count written at 8.
  (data (i32.const 0) "\10\00\00\00\03\00\00\00")
  (data (i32.const 16) "hi\n")
  (func $hi (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (call $hi))
  (func (export "exit3") (call $hi) (call $exit (i32.const 3)))
  (func (export "trap") unreachable)
  (func (export "div") (drop (i32.div_s (i32.const 1) (i32.const 0))))
  (func (export "spin") (loop br 0))
  (func (export "grow") (loop (drop (memory.grow (i32.const 1))) br 0))
  (func (export "flood") (loop (call $hi) br 0))
  (func (export "answer") (result i32 i64) (i32.const 42) (i64.const -7))
  (func (export "host") (drop (call $fail))))
