;; CPU-bound work of a fixed size: counts down from 200 million. `answer` returns a value.
(module
  (func (export "_start")
    (local $n i64)
    (local.set $n (i64.const 200000000))
    (loop
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if 0 (i64.ne (local.get $n) (i64.const 0)))))
  (func (export "answer") (result i32 f64)
    (i32.const 42) (f64.const 2.5)))
