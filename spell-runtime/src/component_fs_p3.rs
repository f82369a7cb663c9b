//! `component_fs.rs`'s guards for WASI preview 3's `wasi:filesystem/types@0.3.0`, shadowing
//! wasmtime-wasi's functions in the component linker alike:
//! - `descriptor.open-at`: only regular files and folders (a FIFO would hold a blocking host
//!   thread for ever).
//! - `descriptor.symlink-at`: no absolute target and no `..` component.
//! - `descriptor.set-size`: a file's growth is metered and capped by `disk_write_bytes`.
//! - `descriptor.write-via-stream`, `append-via-stream`: the guest's stream is piped into a
//!   [`MeteredWrite`] instead of wasmtime-wasi's writer, which reserves each chunk on the cast's
//!   [`DiskMeter`] before writing it (the hole before a write's offset counted with its first
//!   byte), so a write that would pass the cap writes nothing and ends the cast as `disk_limit`.
//!
//! Preview 3 has no other way to write a file's bytes (no `descriptor.write`).

use crate::cast::CastState;
use crate::component_fs::{CAPABILITY, escaping_link, not_a_file};
use crate::fs_guard::DiskMeter;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, spawn_blocking};
use wasmtime::StoreContextMut;
use wasmtime::component::{
    Accessor, FutureReader, Linker, Resource, Source, StreamConsumer, StreamReader, StreamResult,
};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p3::bindings::filesystem::types::{
    DescriptorFlags, DescriptorType, ErrorCode, Filesize, HostDescriptorWithStore, OpenFlags,
    PathFlags,
};
use wasmtime_wasi::p3::filesystem::FilesystemResult;

/// Replaces the guarded functions in `linker`, which must already hold wasmtime-wasi's
/// preview 3 filesystem.
pub(crate) fn guard(linker: &mut Linker<CastState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut types = linker.instance("wasi:filesystem/types@0.3.0")?;
    types.func_wrap_concurrent(
        "[method]descriptor.open-at",
        |accessor: &Accessor<CastState>,
         (dir, path_flags, path, oflags, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )| {
            Box::pin(async move {
                let fs = accessor.with_getter::<WasiFilesystem>(CastState::filesystem);
                let borrowed = Resource::new_borrow(dir.rep());
                let looked = WasiFilesystem::stat_at(&fs, borrowed, path_flags, path.clone()).await;
                // A lookup that fails (a file about to be created) is left to `open-at` itself.
                if let Ok(stat) = looked
                    && !matches!(
                        stat.type_,
                        DescriptorType::RegularFile | DescriptorType::Directory
                    )
                {
                    violation(accessor, not_a_file(&path, stat.type_));
                    return Ok((Err(ErrorCode::Access),));
                }
                let opened =
                    WasiFilesystem::open_at(&fs, dir, path_flags, path, oflags, flags).await;
                Ok((code(opened)?,))
            })
        },
    )?;
    types.func_wrap_concurrent(
        "[method]descriptor.symlink-at",
        |accessor: &Accessor<CastState>,
         (dir, target, link): (Resource<Descriptor>, String, String)| {
            Box::pin(async move {
                if let Some(refused) = escaping_link(&target, &link) {
                    violation(accessor, refused);
                    return Ok((Err(ErrorCode::NotPermitted),));
                }
                let fs = accessor.with_getter::<WasiFilesystem>(CastState::filesystem);
                Ok((code(
                    WasiFilesystem::symlink_at(&fs, dir, target, link).await,
                )?,))
            })
        },
    )?;
    types.func_wrap_concurrent(
        "[method]descriptor.set-size",
        |accessor: &Accessor<CastState>, (fd, size): (Resource<Descriptor>, Filesize)| {
            Box::pin(async move {
                let fs = accessor.with_getter::<WasiFilesystem>(CastState::filesystem);
                let disk = accessor.with(|mut store| store.get().fs.disk.clone());
                let stat = WasiFilesystem::stat(&fs, Resource::new_borrow(fd.rep())).await;
                let growth = match stat {
                    Ok(stat) if matches!(stat.type_, DescriptorType::RegularFile) => {
                        size.saturating_sub(stat.size)
                    }
                    _ => 0,
                };
                disk.reserve(growth)?;
                let resized = WasiFilesystem::set_size(&fs, fd, size).await;
                if resized.is_ok() {
                    disk.add(growth);
                }
                Ok((code(resized)?,))
            })
        },
    )?;
    types.func_wrap(
        "[method]descriptor.write-via-stream",
        |store: StoreContextMut<'_, CastState>,
         (fd, data, offset): (Resource<Descriptor>, StreamReader<u8>, Filesize)| {
            Ok((write_via_stream(store, fd, data, Some(offset))?,))
        },
    )?;
    types.func_wrap(
        "[method]descriptor.append-via-stream",
        |store: StoreContextMut<'_, CastState>,
         (fd, data): (Resource<Descriptor>, StreamReader<u8>)| {
            Ok((write_via_stream(store, fd, data, None)?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Reports a refusal to the observer.
fn violation(accessor: &Accessor<CastState>, detail: String) {
    accessor.with(|mut store| store.get().tripwire.violation(CAPABILITY, detail));
}

/// wasmtime-wasi's result as the guest gets it: its error code, or a trap.
fn code<T>(result: FilesystemResult<T>) -> wasmtime::Result<Result<T, ErrorCode>> {
    Ok(match result {
        Ok(value) => Ok(value),
        Err(e) => Err(e.downcast()?),
    })
}

/// Pipes `data` into `fd` at `offset` (at its end when `None`) through a [`MeteredWrite`]; the
/// future resolves when the stream ends, with the error that ended it if any. What is refused
/// before writing is refused as wasmtime-wasi's own `write-via-stream` does.
fn write_via_stream(
    mut store: StoreContextMut<'_, CastState>,
    fd: Resource<Descriptor>,
    mut data: StreamReader<u8>,
    offset: Option<Filesize>,
) -> wasmtime::Result<FutureReader<Result<(), ErrorCode>>> {
    let (result, outcome) = oneshot::channel();
    let state = store.data_mut();
    let disk = state.fs.disk.clone();
    let writable = match state.filesystem().table.get(&fd)? {
        Descriptor::File(f) if f.perms.write_not_permitted() => Err(ErrorCode::NotPermitted),
        Descriptor::File(f) => Ok(f.file.clone()),
        Descriptor::Dir(_) => Err(ErrorCode::BadDescriptor),
    };
    match writable {
        Ok(file) => {
            // A regular file's fstat: no blocking worth a thread.
            let size = file.metadata().map_or(0, |m| m.len());
            let hole = offset.map_or(0, |at| at.saturating_sub(size));
            let consumer = MeteredWrite {
                file,
                at: offset,
                disk,
                hole,
                result: Some(result),
                task: None,
            };
            data.pipe(&mut store, consumer)?;
        }
        Err(refused) => {
            data.close(&mut store)?;
            let _ = result.send(Err(refused));
        }
    }
    FutureReader::new(&mut store, outcome)
}

/// Bytes taken from the guest's stream and written in one go, on a blocking thread.
const CHUNK: usize = 64 * 1024;

/// A file's writer for a guest's stream whose writes count against the cast's disk budget.
struct MeteredWrite {
    file: Arc<std::fs::File>,
    /// Where the next write goes: an offset that advances, or the file's end.
    at: Option<u64>,
    disk: Arc<DiskMeter>,
    /// The gap between the file's end and where the stream starts: counted with the first
    /// byte written.
    hole: u64,
    /// The stream's outcome, sent once: the guest reads it from the returned future.
    result: Option<oneshot::Sender<Result<(), ErrorCode>>>,
    /// The write in flight: it holds a copy of its chunk, so the guest's buffer is free.
    task: Option<JoinHandle<io::Result<usize>>>,
}

impl MeteredWrite {
    fn close(&mut self, outcome: Result<(), ErrorCode>) -> StreamResult {
        if let Some(result) = self.result.take() {
            let _ = result.send(outcome);
        }
        StreamResult::Dropped
    }
}

impl Drop for MeteredWrite {
    fn drop(&mut self) {
        self.close(Ok(()));
    }
}

impl StreamConsumer<CastState> for MeteredWrite {
    type Item = u8;

    fn poll_consume(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        store: StoreContextMut<CastState>,
        src: Source<Self::Item>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let me = self.get_mut();
        let mut src = src.as_direct(store);
        let task = match &mut me.task {
            Some(task) => task,
            idle @ None => {
                let remaining = src.remaining();
                if remaining.is_empty() {
                    return Poll::Ready(Ok(StreamResult::Completed));
                }
                let chunk = remaining[..remaining.len().min(CHUNK)].to_vec();
                // Past the cap: nothing written, and the trap ends the cast as `disk_limit`.
                me.disk
                    .reserve((chunk.len() as u64).saturating_add(me.hole))?;
                let (file, at) = (me.file.clone(), me.at);
                idle.insert(spawn_blocking(move || write(&file, &chunk, at)))
            }
        };
        let written = match Pin::new(&mut *task).poll(cx) {
            // A write in flight cannot be taken back: aborting only stops one not yet started.
            Poll::Pending if finish => {
                task.abort();
                ready!(Pin::new(task).poll(cx))
            }
            other => ready!(other),
        };
        me.task = None;
        Poll::Ready(Ok(match written {
            Ok(Ok(0)) => me.close(Err(ErrorCode::Io)),
            Ok(Ok(n)) => {
                me.disk
                    .add((n as u64).saturating_add(std::mem::take(&mut me.hole)));
                src.mark_read(n);
                match me.at.map(|at| at.checked_add(n as u64)) {
                    Some(None) => me.close(Err(ErrorCode::Overflow)),
                    next => {
                        me.at = next.flatten();
                        StreamResult::Completed
                    }
                }
            }
            Ok(Err(e)) => me.close(Err(ErrorCode::from(&e))),
            Err(e) if e.is_cancelled() => StreamResult::Cancelled,
            Err(e) => return Poll::Ready(Err(wasmtime::Error::msg(format!("file write: {e}")))),
        }))
    }
}

/// Writes `bytes` to `file` at `at`, or appended at its end.
fn write(file: &std::fs::File, bytes: &[u8], at: Option<u64>) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    match at {
        Some(at) => file.write_at(bytes, at),
        None => append(file, bytes),
    }
}

/// Appends atomically (`RWF_APPEND`), as wasmtime-wasi does: two streams appending to one file
/// never write over each other.
fn append(file: &std::fs::File, bytes: &[u8]) -> io::Result<usize> {
    use rustix::io::{Errno, ReadWriteFlags, pwritev2};
    match pwritev2(file, &[io::IoSlice::new(bytes)], 0, ReadWriteFlags::APPEND) {
        // Kernels before 4.16: at the end as it stands.
        Err(Errno::NOSYS | Errno::NOTSUP) => {
            use std::os::unix::fs::FileExt;
            file.write_at(bytes, file.metadata()?.len())
        }
        written => Ok(written?),
    }
}
