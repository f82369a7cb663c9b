;; CPU-bound: naive recursive Fibonacci of 27, about 630,000 calls (function entries are where
;; fuel and epoch checks go).
(module
  (func $fib (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "run") (result i32)
    (call $fib (i32.const 27))))
