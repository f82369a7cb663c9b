//! Moving a cast's [`Lifecycle`] forward in the `spell_state` bucket by compare-and-set on the
//! entry's revision: concurrent writers (two workers after a redelivery, a client) never move
//! it backwards or lose each other's move.

use crate::error::ServiceError;
use crate::record::Lifecycle;
use async_nats::jetstream::kv;

/// Reads a cast's lifecycle.
pub(crate) async fn get(
    state: &kv::Store,
    cast_id: &str,
) -> Result<Option<(Lifecycle, u64)>, ServiceError> {
    let entry = state
        .entry(cast_id)
        .await
        .map_err(|e| ServiceError::transport("state read", e))?;
    Ok(match entry {
        Some(e) if e.operation == kv::Operation::Put => {
            let value = serde_json::from_slice(&e.value)
                .map_err(|e| ServiceError::transport("state decode", e))?;
            Some((value, e.revision))
        }
        _ => None,
    })
}

/// Moves a cast's lifecycle to what `next` makes of the current one (`None` when absent).
/// Returns the lifecycle in force afterwards and its revision: `next`'s when it was a forward
/// move and won the compare-and-set, else the current one (on a lost race it decides again on
/// the winner's). `known` saves the first read: `Some(None)` when the caller believes the cast
/// has no lifecycle yet, `Some(Some(..))` for one it read or wrote itself.
pub(crate) async fn advance(
    state: &kv::Store,
    cast_id: &str,
    mut known: Option<Option<(Lifecycle, u64)>>,
    next: impl Fn(Option<&Lifecycle>) -> Lifecycle,
) -> Result<(Lifecycle, u64), ServiceError> {
    loop {
        let current = match known.take() {
            Some(k) => k,
            None => get(state, cast_id).await?,
        };
        let proposed = next(current.as_ref().map(|(l, _)| l));
        let value = serde_json::to_vec(&proposed)
            .map_err(|e| ServiceError::transport("state encode", e))?
            .into();
        let written = match &current {
            Some((now, revision)) if !now.may_become(&proposed) => {
                return Ok((now.clone(), *revision));
            }
            Some((_, revision)) => {
                state
                    .update(cast_id, value, *revision)
                    .await
                    .map_err(|e| match e.kind() {
                        kv::UpdateErrorKind::WrongLastRevision => None,
                        _ => Some(ServiceError::transport("state update", e)),
                    })
            }
            None => state
                .create(cast_id, value)
                .await
                .map_err(|e| match e.kind() {
                    kv::CreateErrorKind::AlreadyExists => None,
                    _ => Some(ServiceError::transport("state create", e)),
                }),
        };
        match written {
            Ok(revision) => return Ok((proposed, revision)),
            Err(None) => continue, // someone else moved it first: decide again on theirs
            Err(Some(e)) => return Err(e),
        }
    }
}
