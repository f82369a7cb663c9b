(component
  (import "wasi:sockets/network@0.2.0" (instance $network
    (export "network" (type (sub resource)))
    (type $ec (enum "unknown" "access-denied" "not-supported"
      "invalid-argument" "out-of-memory" "timeout" "concurrency-conflict" "not-in-progress"
      "would-block" "invalid-state" "new-socket-limit" "address-not-bindable" "address-in-use"
      "remote-unreachable" "connection-refused" "connection-reset" "connection-aborted"
      "datagram-too-large" "name-unresolvable" "temporary-resolver-failure"
      "permanent-resolver-failure"))
    (export "error-code" (type (eq $ec)))
    (type $af (enum "ipv4" "ipv6"))
    (export "ip-address-family" (type (eq $af)))))
  (alias export $network "network" (type $net))
  (alias export $network "error-code" (type $code))
  (alias export $network "ip-address-family" (type $family))
  (import "wasi:sockets/instance-network@0.2.0" (instance $instance_network
    (alias outer 1 $net (type $net))
    (export "instance-network" (func (result (own $net))))))
  (import "wasi:sockets/tcp@0.2.0" (instance $tcp
    (export "tcp-socket" (type (sub resource)))))
  (alias export $tcp "tcp-socket" (type $tcp_socket))
  (import "wasi:sockets/tcp-create-socket@0.2.0" (instance $tcp_create
    (alias outer 1 $code (type $code)) (alias outer 1 $family (type $family))
    (alias outer 1 $tcp_socket (type $tcp_socket))
    (export "create-tcp-socket" (func (param "address-family" $family)
      (result (result (own $tcp_socket) (error $code)))))))
  (import "wasi:sockets/udp@0.2.0" (instance $udp
    (export "udp-socket" (type (sub resource)))))
  (alias export $udp "udp-socket" (type $udp_socket))
  (import "wasi:sockets/udp-create-socket@0.2.0" (instance $udp_create
    (alias outer 1 $code (type $code)) (alias outer 1 $family (type $family))
    (alias outer 1 $udp_socket (type $udp_socket))
    (export "create-udp-socket" (func (param "address-family" $family)
      (result (result (own $udp_socket) (error $code)))))))
  (import "wasi:sockets/ip-name-lookup@0.2.0" (instance $lookup
    (alias outer 1 $net (type $net)) (alias outer 1 $code (type $code))
    (export "resolve-address-stream" (type $stream (sub resource)))
    (export "resolve-addresses" (func (param "network" (borrow $net)) (param "name" string)
      (result (result (own $stream) (error $code)))))))
  (core module $mem (memory (export "memory") 1))
  (core instance $mem (instantiate $mem))
  (alias core export $mem "memory" (core memory $memory))
  (core func $instance_network (canon lower (func $instance_network "instance-network")))
  (core func $create_tcp (canon lower (func $tcp_create "create-tcp-socket") (memory $memory)))
  (core func $create_udp (canon lower (func $udp_create "create-udp-socket") (memory $memory)))
  (core func $resolve (canon lower (func $lookup "resolve-addresses") (memory $memory)))
  (core module $m
    (import "mem" "memory" (memory 1))
    (import "wasi" "instance-network" (func $instance_network (result i32)))
    (import "wasi" "create-tcp" (func $create_tcp (param i32 i32)))
    (import "wasi" "create-udp" (func $create_udp (param i32 i32)))
    (import "wasi" "resolve" (func $resolve (param i32 i32 i32 i32)))
    (data (i32.const 64) "localhost")
    (func $answer (result i32)
      (i32.or (i32.shl (i32.load8_u (i32.const 0)) (i32.const 8)) (i32.load8_u (i32.const 4))))
    (func (export "tcp") (result i32) (call $create_tcp (i32.const 0) (i32.const 0)) (call $answer))
    (func (export "udp") (result i32) (call $create_udp (i32.const 0) (i32.const 0)) (call $answer))
    (func (export "lookup") (result i32)
      (call $resolve (call $instance_network) (i32.const 64) (i32.const 9) (i32.const 0))
      (call $answer)))
  (core instance $i (instantiate $m
    (with "mem" (instance $mem))
    (with "wasi" (instance
      (export "instance-network" (func $instance_network))
      (export "create-tcp" (func $create_tcp))
      (export "create-udp" (func $create_udp))
      (export "resolve" (func $resolve))))))
  (func (export "tcp") (result u32) (canon lift (core func $i "tcp")))
  (func (export "udp") (result u32) (canon lift (core func $i "udp")))
  (func (export "lookup") (result u32) (canon lift (core func $i "lookup"))))
