//! Guards on the guest's file-system calls that wasmtime-wasi does not enforce itself.
//!
//! A few WASI preview-1 functions are shadowed in the linker by wrappers that check, then call
//! wasmtime-wasi's own implementation (its generated ABI functions, which also turn its errors
//! into errno results exactly as the unwrapped imports do):
//! - `path_open`: at most `open_files` descriptors opened by the guest at once (the cast goes
//!   on with `mfile`; unbounded, one spell took the whole process's descriptor table), and only
//!   regular files and folders (a FIFO blocks `open()` in a host thread that outlives the cast);
//!   `fd_close` and `fd_renumber` keep the count;
//! - `path_symlink`: no absolute targets and no `..` component, so a link the guest makes can
//!   only point below its own folder, never out of the mount;
//! - `fd_write`, `fd_pwrite`, `fd_filestat_set_size`: bytes written to regular files, plus the
//!   holes a write past the end or a growing truncation leaves (a sparse file is still disk the
//!   host may have to copy or back up), are metered and capped by `disk_write_bytes`; a call
//!   that would pass the cap does nothing and ends the cast as `disk_limit`.
//!
//! The file-type check and the open are two steps: the host (not the single-threaded guest)
//! could swap a file for a FIFO between them.

use crate::cast::CastState;
use crate::limits::{Stop, Tripwire};
use spell_core::EffectiveLimits;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::{AsContextMut, Caller, Extern, Linker};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::types::{Errno, Fdflags, Filetype, Lookupflags, Rights};
use wasmtime_wasi::p1::wasi_snapshot_preview1::{self as abi, WasiSnapshotPreview1};
use wiggle::{GuestMemory, GuestPtr};

const MODULE: &str = "wasi_snapshot_preview1";

/// The capability named in the observer's policy-violation events.
const CAPABILITY: &str = "filesystem";

/// Per-cast file-system accounting.
pub(crate) struct FsGuard {
    max_open: u64,
    /// Descriptors the guest opened with `path_open` and still holds (not the preopens or
    /// stdio, which the host opened).
    opened: HashSet<u32>,
    /// Whether the observer heard of the open-file cap: repeated refusals are the same event.
    open_cap_reported: bool,
    /// Whether the cast has a read-write mount. Without one no descriptor can write to a file
    /// (read-only mounts open nothing for writing; stdio is not a file), so writes skip the
    /// two descriptor look-ups that measure them: 5% of a cast printing one line.
    writable: bool,
    pub(crate) disk: Arc<DiskMeter>,
}

impl FsGuard {
    pub(crate) fn new(
        limits: &EffectiveLimits,
        writable: bool,
        tripwire: Arc<Tripwire>,
    ) -> FsGuard {
        FsGuard {
            max_open: limits.open_files,
            opened: HashSet::new(),
            open_cap_reported: false,
            writable,
            disk: Arc::new(DiskMeter {
                cap: limits.disk_write_bytes,
                written: AtomicU64::new(0),
                tripwire,
            }),
        }
    }
}

/// Bytes a cast wrote to files, holes and growth included, against `disk_write_bytes`. Shared
/// with a component's file streams (`component_fs.rs`), which write outside the host calls that
/// made them.
pub(crate) struct DiskMeter {
    cap: u64,
    written: AtomicU64,
    tripwire: Arc<Tripwire>,
}

impl DiskMeter {
    /// Bytes written to files so far.
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Checks that `bytes` more fit under the cap, or trips the disk limit.
    pub(crate) fn reserve(&self, bytes: u64) -> wasmtime::Result<()> {
        let wanted = self.written().saturating_add(bytes);
        if wanted > self.cap {
            return Err(self.tripwire.trip(Stop::DiskLimit {
                cap: self.cap,
                wanted,
            }));
        }
        Ok(())
    }

    /// Counts `bytes` written.
    pub(crate) fn add(&self, bytes: u64) {
        self.written.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// What a guarded call needs: guest memory, the WASI context, the guard and the tripwire.
struct Parts<'a> {
    mem: GuestMemory<'a>,
    wasi: &'a mut WasiP1Ctx,
    guard: &'a mut FsGuard,
    tripwire: &'a Tripwire,
}

/// Splits the caller as wiggle's generated glue does (and passes on the host-call fuel that
/// bounds how much guest memory a call may copy).
fn parts<'a>(
    caller: &'a mut Caller<'_, CastState>,
    export: &'a Option<Extern>,
) -> wasmtime::Result<Parts<'a>> {
    let fuel = caller.as_context_mut().hostcall_fuel();
    let (mem, state) = match export {
        Some(Extern::Memory(m)) => {
            let (mem, state) = m.data_and_store_mut(caller);
            (GuestMemory::Unshared(mem), state)
        }
        Some(Extern::SharedMemory(m)) => (GuestMemory::Shared(m.data()), caller.data_mut()),
        _ => wasmtime::bail!("missing required memory export"),
    };
    let CastState {
        wasi, fs, tripwire, ..
    } = state;
    // As `CastState::wasi`: a module calling WASI imports it, so this is always `Some`.
    let wasi = wasi.get_or_insert_with(|| WasiCtxBuilder::new().build_p1());
    wasi.set_hostcall_fuel(fuel);
    Ok(Parts {
        mem,
        wasi,
        guard: fs,
        tripwire,
    })
}

fn errno(e: Errno) -> i32 {
    i32::from(u16::from(e))
}

fn str_ptr(ptr: i32, len: i32) -> GuestPtr<str> {
    GuestPtr::new((ptr as u32, len as u32))
}

/// A guest string for the observer's events; empty when unreadable.
fn guest_str(mem: &GuestMemory<'_>, ptr: i32, len: i32) -> String {
    mem.as_cow_str(str_ptr(ptr, len))
        .map(|s| s.into_owned())
        .unwrap_or_default()
}

/// Shadows the guarded WASI functions; call after wasmtime-wasi is in the linker.
pub(crate) fn add_to_linker(linker: &mut Linker<CastState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap_async(
        MODULE,
        "path_open",
        |mut caller: Caller<'_, CastState>,
         (dirfd, dirflags, path, path_len, oflags, base, inheriting, fdflags, out): (
            i32,
            i32,
            i32,
            i32,
            i32,
            i64,
            i64,
            i32,
            i32,
        )| {
            Box::new(async move {
                let export = caller.get_export("memory");
                let Parts {
                    mut mem,
                    wasi,
                    guard,
                    tripwire,
                } = parts(&mut caller, &export)?;
                if guard.opened.len() as u64 >= guard.max_open {
                    if !guard.open_cap_reported {
                        guard.open_cap_reported = true;
                        tripwire.violation(
                            CAPABILITY,
                            format!(
                                "open `{}`: the open-file limit of {} is reached (mfile)",
                                guest_str(&mem, path, path_len),
                                guard.max_open
                            ),
                        );
                    }
                    return Ok(errno(Errno::Mfile));
                }
                // Lookup errors (a file about to be created, a bad descriptor) are left to
                // `path_open` itself to report.
                if let Ok(flags) = Lookupflags::try_from(dirflags)
                    && let Ok(stat) = wasi
                        .path_filestat_get(&mut mem, dirfd.into(), flags, str_ptr(path, path_len))
                        .await
                    && !matches!(stat.filetype, Filetype::RegularFile | Filetype::Directory)
                {
                    tripwire.violation(
                        CAPABILITY,
                        format!(
                            "open `{}`: a {:?} is neither a regular file nor a folder (acces)",
                            guest_str(&mem, path, path_len),
                            stat.filetype
                        ),
                    );
                    return Ok(errno(Errno::Acces));
                }
                let rc = abi::path_open(
                    &mut *wasi, &mut mem, dirfd, dirflags, path, path_len, oflags, base,
                    inheriting, fdflags, out,
                )
                .await?;
                if rc == errno(Errno::Success) {
                    guard
                        .opened
                        .insert(mem.read(GuestPtr::<u32>::new(out as u32))?);
                }
                Ok(rc)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_close",
        |mut caller: Caller<'_, CastState>, (fd,): (i32,)| {
            Box::new(async move {
                let export = caller.get_export("memory");
                let Parts {
                    mut mem,
                    wasi,
                    guard,
                    ..
                } = parts(&mut caller, &export)?;
                let rc = abi::fd_close(&mut *wasi, &mut mem, fd).await?;
                if rc == errno(Errno::Success) {
                    guard.opened.remove(&(fd as u32));
                }
                Ok(rc)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_renumber",
        |mut caller: Caller<'_, CastState>, (from, to): (i32, i32)| {
            Box::new(async move {
                let export = caller.get_export("memory");
                let Parts {
                    mut mem,
                    wasi,
                    guard,
                    ..
                } = parts(&mut caller, &export)?;
                let rc = abi::fd_renumber(&mut *wasi, &mut mem, from, to).await?;
                if rc == errno(Errno::Success) && from != to {
                    // `to` was closed and now holds what `from` held.
                    let moved = guard.opened.remove(&(from as u32));
                    guard.opened.remove(&(to as u32));
                    if moved {
                        guard.opened.insert(to as u32);
                    }
                }
                Ok(rc)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "path_symlink",
        |mut caller: Caller<'_, CastState>,
         (target, target_len, dirfd, link, link_len): (i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let export = caller.get_export("memory");
                let Parts {
                    mut mem,
                    wasi,
                    tripwire,
                    ..
                } = parts(&mut caller, &export)?;
                // An unreadable target is left to `path_symlink` itself to report.
                if let Ok(t) = mem.as_cow_str(str_ptr(target, target_len))
                    && (t.starts_with('/') || t.split('/').any(|c| c == ".."))
                {
                    let link = guest_str(&mem, link, link_len);
                    tripwire.violation(
                        CAPABILITY,
                        format!(
                            "symlink `{link}` -> `{t}`: targets must be relative without `..` (perm)"
                        ),
                    );
                    return Ok(errno(Errno::Perm));
                }
                abi::path_symlink(&mut *wasi, &mut mem, target, target_len, dirfd, link, link_len)
                    .await
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_write",
        |mut caller: Caller<'_, CastState>, (fd, iovs, iovs_len, out): (i32, i32, i32, i32)| {
            Box::new(async move {
                let export = caller.get_export("memory");
                let Parts {
                    mut mem,
                    wasi,
                    guard,
                    ..
                } = parts(&mut caller, &export)?;
                let Some(plan) =
                    plan_write(guard.writable, wasi, &mut mem, fd, iovs, iovs_len, None).await
                else {
                    return abi::fd_write(&mut *wasi, &mut mem, fd, iovs, iovs_len, out).await;
                };
                guard.disk.reserve(plan.charge())?;
                let rc = abi::fd_write(&mut *wasi, &mut mem, fd, iovs, iovs_len, out).await?;
                plan.settle(guard, &mem, rc, out)?;
                Ok(rc)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_pwrite",
        |mut caller: Caller<'_, CastState>,
         (fd, iovs, iovs_len, offset, out): (i32, i32, i32, i64, i32)| {
            Box::new(async move {
                let export = caller.get_export("memory");
                let Parts {
                    mut mem,
                    wasi,
                    guard,
                    ..
                } = parts(&mut caller, &export)?;
                let at = Some(offset as u64);
                let Some(plan) =
                    plan_write(guard.writable, wasi, &mut mem, fd, iovs, iovs_len, at).await
                else {
                    return abi::fd_pwrite(&mut *wasi, &mut mem, fd, iovs, iovs_len, offset, out)
                        .await;
                };
                guard.disk.reserve(plan.charge())?;
                let rc =
                    abi::fd_pwrite(&mut *wasi, &mut mem, fd, iovs, iovs_len, offset, out).await?;
                plan.settle(guard, &mem, rc, out)?;
                Ok(rc)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_filestat_set_size",
        |mut caller: Caller<'_, CastState>, (fd, size): (i32, i64)| {
            Box::new(async move {
                let export = caller.get_export("memory");
                let Parts {
                    mut mem,
                    wasi,
                    guard,
                    ..
                } = parts(&mut caller, &export)?;
                let growth = match writable_file_size(guard.writable, wasi, &mut mem, fd).await {
                    Some((_, current)) => (size as u64).saturating_sub(current),
                    None => 0,
                };
                guard.disk.reserve(growth)?;
                let rc = abi::fd_filestat_set_size(&mut *wasi, &mut mem, fd, size).await?;
                if rc == errno(Errno::Success) {
                    guard.disk.add(growth);
                }
                Ok(rc)
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The flags and size of `fd` when it is a regular file open for writing; `None` for
/// everything else (stdout, stderr, pipes, bad descriptors), which is not disk, and at once
/// when the cast has no read-write mount (`FsGuard::writable`).
async fn writable_file_size(
    writable: bool,
    wasi: &mut WasiP1Ctx,
    mem: &mut GuestMemory<'_>,
    fd: i32,
) -> Option<(Fdflags, u64)> {
    if !writable {
        return None;
    }
    let stat = wasi.fd_fdstat_get(mem, fd.into()).await.ok()?;
    if stat.fs_filetype != Filetype::RegularFile || !stat.fs_rights_base.contains(Rights::FD_WRITE)
    {
        return None;
    }
    let size = wasi.fd_filestat_get(mem, fd.into()).await.ok()?.size;
    Some((stat.fs_flags, size))
}

/// A write to a regular file, measured before it happens.
struct WritePlan {
    /// The bytes the guest asks to write (all its buffers).
    len: u64,
    /// The gap between the end of the file and where the write starts.
    hole: u64,
}

impl WritePlan {
    /// The most the write can add to the disk count.
    fn charge(&self) -> u64 {
        self.len.saturating_add(self.hole)
    }

    /// Counts what was written (and the hole, if anything was).
    fn settle(
        &self,
        guard: &mut FsGuard,
        mem: &GuestMemory<'_>,
        rc: i32,
        out: i32,
    ) -> wasmtime::Result<()> {
        if rc == errno(Errno::Success) {
            let written = u64::from(mem.read(GuestPtr::<u32>::new(out as u32))?);
            let hole = if written > 0 { self.hole } else { 0 };
            guard.disk.add(written + hole);
        }
        Ok(())
    }
}

/// Measures a write of `iovs` to `fd` at `at` (or the current position); `None` when `fd` is
/// not a writable regular file or the buffers cannot be read (the write itself reports that).
async fn plan_write(
    writable: bool,
    wasi: &mut WasiP1Ctx,
    mem: &mut GuestMemory<'_>,
    fd: i32,
    iovs: i32,
    iovs_len: i32,
    at: Option<u64>,
) -> Option<WritePlan> {
    let (flags, size) = writable_file_size(writable, wasi, mem, fd).await?;
    let mut len = 0u64;
    let array = GuestPtr::<[wasmtime_wasi::p1::types::Ciovec]>::new((iovs as u32, iovs_len as u32));
    for iov in array.iter() {
        len = len.saturating_add(u64::from(mem.read(iov.ok()?).ok()?.buf_len));
    }
    // Appends go to the end whatever the offset (Linux `pwrite` semantics, as wasmtime-wasi).
    let start = if flags.contains(Fdflags::APPEND) {
        size
    } else {
        match at {
            Some(offset) => offset,
            None => wasi.fd_tell(mem, fd.into()).ok()?,
        }
    };
    let hole = if len > 0 {
        start.saturating_sub(size)
    } else {
        0
    };
    Some(WritePlan { len, hole })
}
