(component
  (core module $m
    (import "" "task.return" (func $task_return (param i32)))
    (func (export "run") (result i32) (call $task_return (i32.const 0)) (i32.const 0))
    (func (export "spin") (result i32) (loop (br 0)) unreachable)
    (func (export "callback") (param i32 i32 i32) (result i32) unreachable))
  (core func $task_return (canon task.return (result (result))))
  (core instance $i (instantiate $m
    (with "" (instance (export "task.return" (func $task_return))))))
  (func $run async (result (result))
    (canon lift (core func $i "run") async (callback (core func $i "callback"))))
  (func $spin async
    (canon lift (core func $i "spin") async (callback (core func $i "callback"))))
  (instance $cli (export "run" (func $run)))
  (export "wasi:cli/run@0.3.0" (instance $cli))
  (export "spin" (func $spin)))
