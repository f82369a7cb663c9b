//! Integration tests of spell-runtime with real guests: WAT for each limit and outcome, a C
//! guest built by Debian's clang for WASI behaviour (also as a component), and the real
//! micropython-wasi.wasm.

mod cache;
mod componentize_py;
mod components;
mod components_p3;
mod components_p3_fibers;
mod components_p3_fs;
mod concurrency;
mod fs_guard;
mod guests;
mod hooks;
mod host_functions;
mod hostile;
mod limits;
#[cfg(feature = "metrics")]
mod metrics;
mod micropython;
mod parity;
mod supply;
mod wasi;
