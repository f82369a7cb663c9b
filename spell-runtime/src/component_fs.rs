//! The preview-2 side of the guards `fs_guard.rs` keeps for modules, on wasmtime-wasi's
//! `wasi:filesystem/types` functions shadowed in the component linker (each checks, then calls
//! wasmtime-wasi's own):
//! - `descriptor.open-at`: only regular files and folders. wasmtime-wasi opens on a blocking
//!   host thread, and opening a FIFO (or a device) the host left in a mount waits there for a
//!   writer: past the cast's end, for ever if none comes, one leaked thread per attempt. So it
//!   looks first (following links as the open would) and refuses anything else with `access`.
//! - `descriptor.symlink-at`: no absolute target and no `..` component, so a link can only point
//!   below its own folder (`not-permitted`).
//! - `descriptor.write`, `set-size`, `write-via-stream`, `append-via-stream`: bytes written to
//!   files, plus the hole a write past the end or a growing `set-size` leaves, are metered and
//!   capped by `disk_write_bytes` on the cast's [`DiskMeter`]; a write that would pass the cap
//!   does nothing and ends the cast as `disk_limit`. A file's streams are wrapped in
//!   [`MeteredFile`], which counts each write the stream accepts (wasmtime-wasi finishes it on a
//!   blocking thread, so a write failing there was still counted).
//!
//! WASI preview 3's filesystem has the same guards, in `component_fs_p3.rs`.
//!
//! Refusals are reported to the observer as `filesystem` policy violations.

use crate::cast::CastState;
use crate::fs_guard::DiskMeter;
use bytes::Bytes;
use std::sync::Arc;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, DescriptorFlags, DescriptorType, ErrorCode, Filesize, HostDescriptor, OpenFlags,
    PathFlags,
};
use wasmtime_wasi::p2::{DynOutputStream, FsError, OutputStream, Pollable, StreamResult};

/// The interface as wasmtime-wasi defines it; components importing any 0.2.x version find it.
const TYPES: &str = "wasi:filesystem/types@0.2.12";

/// Replaces the guarded functions in `linker`, which must already hold wasmtime-wasi's
/// filesystem.
pub(crate) fn guard(linker: &mut Linker<CastState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut types = linker.instance(TYPES)?;
    types.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store,
         (dir, path_flags, path, oflags, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )| {
            Box::new(async move {
                let state = store.data_mut();
                let looked = {
                    let mut fs = state.filesystem();
                    let borrowed = Resource::new_borrow(dir.rep());
                    HostDescriptor::stat_at(&mut fs, borrowed, path_flags, path.clone()).await
                };
                // A lookup that fails (a file about to be created) is left to `open-at` itself.
                if let Ok(stat) = looked
                    && !matches!(
                        stat.type_,
                        DescriptorType::RegularFile | DescriptorType::Directory
                    )
                {
                    state
                        .tripwire
                        .violation(CAPABILITY, not_a_file(&path, stat.type_));
                    return Ok((Err(ErrorCode::Access),));
                }
                let mut fs = state.filesystem();
                let opened =
                    HostDescriptor::open_at(&mut fs, dir, path_flags, path, oflags, flags).await;
                Ok((code(&mut fs, opened)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.symlink-at",
        |mut store, (dir, target, link): (Resource<Descriptor>, String, String)| {
            Box::new(async move {
                let state = store.data_mut();
                if let Some(refused) = escaping_link(&target, &link) {
                    state.tripwire.violation(CAPABILITY, refused);
                    return Ok((Err(ErrorCode::NotPermitted),));
                }
                let mut fs = state.filesystem();
                let linked = HostDescriptor::symlink_at(&mut fs, dir, target, link).await;
                Ok((code(&mut fs, linked)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.write",
        |mut store, (fd, buffer, offset): (Resource<Descriptor>, Vec<u8>, Filesize)| {
            Box::new(async move {
                let state = store.data_mut();
                let disk = state.fs.disk.clone();
                let mut fs = state.filesystem();
                let len = buffer.len() as u64;
                // Only a regular file's writes are disk (anything else fails in the write).
                let hole = file_size(&mut fs, &fd).await.map(|size| {
                    if len > 0 {
                        offset.saturating_sub(size)
                    } else {
                        0
                    }
                });
                if let Some(hole) = hole {
                    disk.reserve(len.saturating_add(hole))?;
                }
                let written = HostDescriptor::write(&mut fs, fd, buffer, offset).await;
                if let (Some(hole), Ok(n @ 1..)) = (hole, &written) {
                    disk.add(n.saturating_add(hole));
                }
                Ok((code(&mut fs, written)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.set-size",
        |mut store, (fd, size): (Resource<Descriptor>, Filesize)| {
            Box::new(async move {
                let state = store.data_mut();
                let disk = state.fs.disk.clone();
                let mut fs = state.filesystem();
                let growth = file_size(&mut fs, &fd)
                    .await
                    .map_or(0, |current| size.saturating_sub(current));
                disk.reserve(growth)?;
                let resized = HostDescriptor::set_size(&mut fs, fd, size).await;
                if resized.is_ok() {
                    disk.add(growth);
                }
                Ok((code(&mut fs, resized)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.write-via-stream",
        |mut store, (fd, offset): (Resource<Descriptor>, Filesize)| {
            Box::new(async move {
                let state = store.data_mut();
                let disk = state.fs.disk.clone();
                let mut fs = state.filesystem();
                let hole = file_size(&mut fs, &fd)
                    .await
                    .map_or(0, |size| offset.saturating_sub(size));
                let stream = HostDescriptor::write_via_stream(&mut fs, fd, offset);
                let stream = code(&mut fs, stream)?;
                Ok((metered(state, stream, disk, hole)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.append-via-stream",
        |mut store, (fd,): (Resource<Descriptor>,)| {
            Box::new(async move {
                let state = store.data_mut();
                let disk = state.fs.disk.clone();
                let mut fs = state.filesystem();
                let stream = HostDescriptor::append_via_stream(&mut fs, fd);
                let stream = code(&mut fs, stream)?;
                Ok((metered(state, stream, disk, 0)?,))
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Why opening `path`, of type `kind`, is refused.
pub(crate) fn not_a_file(path: &str, kind: impl std::fmt::Debug) -> String {
    format!("open `{path}`: a {kind:?} is neither a regular file nor a folder (access)")
}

/// Why a link at `link` to `target` is refused, if it is: it could point out of its folder.
pub(crate) fn escaping_link(target: &str, link: &str) -> Option<String> {
    (target.starts_with('/') || target.split('/').any(|c| c == "..")).then(|| {
        format!(
            "symlink `{link}` -> `{target}`: targets must be relative without `..` (not-permitted)"
        )
    })
}

/// The capability named in the observer's policy-violation events.
pub(crate) const CAPABILITY: &str = "filesystem";

/// wasmtime-wasi's result as the guest gets it: its error code, or a trap.
fn code<T>(
    fs: &mut impl types::Host,
    result: Result<T, FsError>,
) -> wasmtime::Result<Result<T, ErrorCode>> {
    Ok(match result {
        Ok(value) => Ok(value),
        Err(e) => Err(fs.convert_error_code(e)?),
    })
}

/// The size of `fd` when it is a regular file; `None` for anything else.
async fn file_size(fs: &mut impl HostDescriptor, fd: &Resource<Descriptor>) -> Option<u64> {
    let stat = HostDescriptor::stat(fs, Resource::new_borrow(fd.rep()))
        .await
        .ok()?;
    (stat.type_ == DescriptorType::RegularFile).then_some(stat.size)
}

/// Puts `stream` back in the table wrapped in a [`MeteredFile`].
fn metered(
    state: &mut CastState,
    stream: Result<Resource<DynOutputStream>, ErrorCode>,
    disk: Arc<DiskMeter>,
    hole: u64,
) -> wasmtime::Result<Result<Resource<DynOutputStream>, ErrorCode>> {
    let Ok(stream) = stream else {
        return Ok(stream);
    };
    let table = state.ctx().table;
    let inner = table.delete(stream)?;
    let wrapped: DynOutputStream = Box::new(MeteredFile { inner, disk, hole });
    Ok(Ok(table.push(wrapped)?))
}

/// A file's output stream whose writes count against the cast's disk budget.
struct MeteredFile {
    inner: DynOutputStream,
    disk: Arc<DiskMeter>,
    /// The gap between the file's end and where the stream starts: counted with the first
    /// byte written.
    hole: u64,
}

#[wasmtime_wasi::async_trait]
impl OutputStream for MeteredFile {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if bytes.is_empty() {
            return self.inner.write(bytes);
        }
        let charge = (bytes.len() as u64).saturating_add(self.hole);
        self.disk
            .reserve(charge)
            .map_err(wasmtime_wasi::p2::StreamError::Trap)?;
        self.inner.write(bytes)?;
        self.disk.add(charge);
        self.hole = 0;
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await;
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for MeteredFile {
    async fn ready(&mut self) {
        self.inner.ready().await;
    }
}
