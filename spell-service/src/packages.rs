//! Packages by digest in the `spell_packages` object store: the object's name is the spell's
//! digest (sha256 of its `spell.json`), so publishing is content-addressed and idempotent.

use crate::error::ServiceError;
use crate::streams::Streams;
use async_nats::jetstream::object_store;
use spell_core::{Package, PackageLimits, Sha256Digest};
use tokio::io::AsyncReadExt;

/// Stores a package under its digest; `Ok((digest, false))` when it was already there.
/// The package is read (structure, pinned digests and sizes) first, so a malformed file is
/// refused here rather than by every worker; its signature is for the workers' policies.
pub async fn publish(
    streams: &Streams,
    package: &[u8],
) -> Result<(Sha256Digest, bool), ServiceError> {
    let digest = Package::read(package, &PackageLimits::default())
        .map_err(|e| ServiceError::InvalidRequest(format!("not a valid package: {e}")))?
        .digest();
    let name = digest.to_hex();
    match streams.packages.info(&name).await {
        Ok(_) => return Ok((digest, false)),
        Err(e) if e.kind() == object_store::InfoErrorKind::NotFound => {}
        Err(e) => return Err(ServiceError::transport("object info", e)),
    }
    let mut reader = package;
    streams
        .packages
        .put(name.as_str(), &mut reader)
        .await
        .map_err(|e| ServiceError::transport("object put", e))?;
    Ok((digest, true))
}

/// The digests of the published packages.
pub async fn list(streams: &Streams) -> Result<Vec<Sha256Digest>, ServiceError> {
    use futures_util::StreamExt;
    let mut objects = streams
        .packages
        .list()
        .await
        .map_err(|e| ServiceError::transport("object list", e))?;
    let mut digests = Vec::new();
    while let Some(object) = objects.next().await {
        let object = object.map_err(|e| ServiceError::transport("object list", e))?;
        if let (false, Ok(digest)) = (object.deleted, object.name.parse()) {
            digests.push(digest);
        }
    }
    Ok(digests)
}

/// Fetches the package published under `digest`, refusing one larger than `max_bytes` before
/// reading it. The object store checks the content's SHA-256 while reading; the worker's
/// runtime then checks that the manifest's digest is the one asked for.
pub(crate) async fn fetch(
    streams: &Streams,
    digest: &Sha256Digest,
    max_bytes: u64,
) -> Result<Vec<u8>, ServiceError> {
    let name = digest.to_hex();
    let mut object = match streams.packages.get(&name).await {
        Ok(o) => o,
        Err(e) if e.kind() == object_store::GetErrorKind::NotFound => {
            return Err(ServiceError::UnknownSpell(name));
        }
        Err(e) => return Err(ServiceError::transport("object get", e)),
    };
    let size = object.info().size as u64;
    if size > max_bytes {
        return Err(ServiceError::Runtime(spell_runtime::Error::Package(
            spell_core::PackageError::TooLarge {
                size,
                max: max_bytes,
            },
        )));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    object
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| ServiceError::transport("object read", e))?;
    Ok(bytes)
}
