//! The preview-2 side of the mount guard that `fs_guard.rs` keeps for modules: a component opens
//! only regular files and folders. wasmtime-wasi opens on a blocking host thread, and opening a
//! FIFO (or a device) the host left in a mount waits there for a writer: past the cast's end,
//! for ever if none comes, one leaked thread per attempt. So `descriptor.open-at` is shadowed by
//! a version that looks first (following links as the open would) and refuses anything else
//! with `access`, reported to the observer as a `filesystem` policy violation; everything else is
//! wasmtime-wasi's own `open-at`.

use crate::cast::CastState;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, DescriptorFlags, DescriptorType, ErrorCode, HostDescriptor, OpenFlags, PathFlags,
};

/// The interface as wasmtime-wasi defines it; components importing any 0.2.x version find it.
const TYPES: &str = "wasi:filesystem/types@0.2.12";

/// Replaces `open-at` in `linker`, which must already hold wasmtime-wasi's filesystem.
pub(crate) fn guard_open(linker: &mut Linker<CastState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.instance(TYPES)?.func_wrap_async(
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
                    state.tripwire.violation(
                        "filesystem",
                        format!(
                            "open `{path}`: a {:?} is neither a regular file nor a folder (access)",
                            stat.type_
                        ),
                    );
                    return Ok((Err(ErrorCode::Access),));
                }
                let mut fs = state.filesystem();
                let opened =
                    HostDescriptor::open_at(&mut fs, dir, path_flags, path, oflags, flags).await;
                Ok((match opened {
                    Ok(fd) => Ok(fd),
                    Err(e) => Err(types::Host::convert_error_code(&mut fs, e)?),
                },))
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
