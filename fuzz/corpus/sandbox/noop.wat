;; The trivial guest: an export that returns at once, no memory.
(module
  (func (export "run")))
