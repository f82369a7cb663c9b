//! `random_get` with a bounded step. wasmtime-wasi fills the guest's whole buffer in one
//! synchronous call (a 60 MiB request takes about 200 ms), so a guest could spend its wall time
//! inside it, out of reach of the epoch and fuel checks. Spell's own fills the buffer in 1 MiB
//! chunks from a CSPRNG and checks the cast's deadline between them.

use crate::cast::CastState;
use rand::RngCore;
use wasmtime::{Caller, Extern, Linker};

/// Bytes filled between two deadline checks (about 3 ms of work).
const CHUNK: usize = 1 << 20;
/// WASI `errno::fault`: the buffer is not inside the guest's memory.
const ERRNO_FAULT: i32 = 21;

/// Replaces WASI's `random_get` on the linker (after WASI was added to it).
pub(crate) fn add_to_linker(linker: &mut Linker<CastState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap("wasi_snapshot_preview1", "random_get", random_get)?;
    linker.allow_shadowing(false);
    Ok(())
}

fn random_get(mut caller: Caller<'_, CastState>, ptr: i32, len: i32) -> wasmtime::Result<i32> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Ok(ERRNO_FAULT);
    };
    let (data, state) = memory.data_and_store_mut(&mut caller);
    // WASI pointers and sizes are unsigned 32-bit.
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    let Some(buf) = start
        .checked_add(len)
        .and_then(|end| data.get_mut(start..end))
    else {
        return Ok(ERRNO_FAULT);
    };
    let mut rng = rand::thread_rng();
    for chunk in buf.chunks_mut(CHUNK) {
        rng.fill_bytes(chunk);
        state.deadline.check()?;
    }
    Ok(0)
}
