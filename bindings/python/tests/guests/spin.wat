;; Loops forever: ends by fuel, wall time or cancellation.
(module
  (func (export "_start") (loop br 0)))
