;; A component (module.kind "component"): exports without parameters, called by name.
(component
  (core module $m
    (func (export "answer") (result i32) i32.const 42)
    (func (export "spin") (loop br 0)))
  (core instance $i (instantiate $m))
  (func $answer (export "answer") (result s32) (canon lift (core func $i "answer")))
  (func (export "spin") (canon lift (core func $i "spin")))
  (instance $api (export "answer" (func $answer)))
  (export "acme:demo/api" (instance $api)))
