;; Grows its memory 1 MiB at a time until growing fails.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop
      (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))))
