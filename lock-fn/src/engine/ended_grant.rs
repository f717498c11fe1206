//! A refused release or renew ends its caller's own grant whose lease has run out, for good: a renew
//! of that grant held up in the network compares the lease end with its sender's clock, so when it
//! lands late it would bring the grant back after its owner was told `renewed: false` or
//! `released: false` (found by the simulator: DESIGN.md, failure modes).

use crate::engine::LockEngine;
use crate::model::item::LockItem;
use crate::store::error::StoreError;
use crate::store::Attempted;
use crate::write::end_of_grant::end_ended;

/// The end write's outcome: the item as written, or (refused: the item changed since it was read,
/// perhaps a late renew brought the grant back) as DynamoDB returned it (`None`: unseen).
pub(crate) type EndWrite = Attempted<Result<Option<LockItem>, Option<LockItem>>>;

impl LockEngine {
    /// Ends the grant of `me` that `item` (read at `now`) shows ended, when it is the one the
    /// caller names (`fence`, else begun by `since`); `None` when there is none to end.
    pub(crate) async fn end_ended_grant(
        &self,
        resource: &str,
        item: &LockItem,
        me: &str,
        fence: Option<u64>,
        since: u64,
        now: u64,
        stop_at: Option<u64>,
    ) -> Result<Option<EndWrite>, StoreError> {
        let Some(grant) = item.ended_grant(me, fence, since, now) else {
            return Ok(None);
        };
        let write = end_ended(item, &grant);
        let ended = self
            .store
            .apply("end an ended grant", resource, stop_at, |_| write.clone())
            .await?;
        Ok(Some(ended))
    }
}
