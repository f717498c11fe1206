//! A refused release or renew ends its caller's own grant whose lease has run out, for good: a renew
//! of that grant held up in the network compares the lease end with its sender's clock, so when it
//! lands late it would bring the grant back after its owner was told `renewed: false` or
//! `released: false` (found by the simulator: DESIGN.md, failure modes).

use crate::engine::LockEngine;
use crate::model::grant::Grant;
use crate::model::item::LockItem;
use crate::store::error::StoreError;
use crate::store::Attempted;
use crate::write::end_of_grant::end_ended;

/// The end write's outcome: the item as written, or (refused: the item changed since it was read,
/// perhaps a late renew brought the grant back) as DynamoDB returned it (`None`: unseen).
pub(crate) type EndWrite = Attempted<Result<Option<LockItem>, Option<LockItem>>>;

impl LockEngine {
    /// Ends `grant`, which `item` shows run out (`LockItem::ended_grant`), for good.
    pub(crate) async fn end_ended_grant(
        &self,
        resource: &str,
        item: &LockItem,
        grant: &Grant<'_>,
        stop_at: Option<u64>,
    ) -> Result<EndWrite, StoreError> {
        let write = end_ended(item, grant);
        self.store
            .apply("end an ended grant", resource, stop_at, |_| write.clone())
            .await
    }
}
