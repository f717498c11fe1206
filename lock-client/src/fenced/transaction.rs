//! [`FencedTransaction`]: the caller's `TransactWriteItems` with a `ConditionCheck` on the lock
//! item, so that its writes land only while its grant is the current one.

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};

use super::error::FencedWriteError;
use super::fence::Fence;
use super::holders::holders_now;
use crate::protocol::lock_item::{
    ATTR_FENCE, ATTR_RELEASE_CODE, ATTR_RESOURCE_ID, ATTR_SEM_HOLDERS, SEM_ENTRY_FENCE,
};
use crate::protocol::new_owner_token;

/// The most actions a caller may pass: DynamoDB takes 100 per transaction, the check is one.
pub const MAX_CALLER_ACTIONS: usize = 99;

/// How many times a transaction cancelled by a conflict (another transaction, or a write such as a
/// renewal of the lock item, in flight on the same items) is sent again. A cancelled transaction
/// wrote nothing, so sending it again is safe.
const CONFLICT_TRIES: u32 = 3;

/// Sends a caller's transactional writes together with a check that its grant still stands.
#[derive(Debug, Clone)]
pub struct FencedTransaction {
    ddb: aws_sdk_dynamodb::Client,
    lock_table: String,
}

impl FencedTransaction {
    /// Fenced transactions against the lock table `lock_table` (the one lock-fn writes).
    pub fn new(ddb: aws_sdk_dynamodb::Client, lock_table: impl Into<String>) -> Self {
        FencedTransaction {
            ddb,
            lock_table: lock_table.into(),
        }
    }

    /// The `ConditionCheck` on the lock item that holds while `fence`'s grant is the current one:
    /// a mutex's `release_code = :owner_digest AND fence = :fence`, a semaphore holder's
    /// `sem_holders.<digest>.f = :fence`. For callers who assemble their own transaction; it asks
    /// for the lock item on failure (`ALL_OLD`).
    pub fn condition_check(&self, fence: &Fence) -> TransactWriteItem {
        let check = ConditionCheck::builder()
            .table_name(&self.lock_table)
            .key(
                ATTR_RESOURCE_ID,
                AttributeValue::S(fence.resource_id().to_string()),
            )
            .expression_attribute_values(":dlm_fence", AttributeValue::N(fence.value().to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let check = if fence.is_semaphore() {
            check
                .condition_expression("#dlm_holders.#dlm_me.#dlm_f = :dlm_fence")
                .expression_attribute_names("#dlm_holders", ATTR_SEM_HOLDERS)
                .expression_attribute_names("#dlm_me", fence.owner_digest())
                .expression_attribute_names("#dlm_f", SEM_ENTRY_FENCE)
        } else {
            check
                .condition_expression("#dlm_code = :dlm_owner AND #dlm_fence = :dlm_fence")
                .expression_attribute_names("#dlm_code", ATTR_RELEASE_CODE)
                .expression_attribute_names("#dlm_fence", ATTR_FENCE)
                .expression_attribute_values(
                    ":dlm_owner",
                    AttributeValue::S(fence.owner_digest().to_string()),
                )
        };
        let check = check
            .build()
            .expect("table name, key and condition are set");
        TransactWriteItem::builder().condition_check(check).build()
    }

    /// Writes `actions` (at most [`MAX_CALLER_ACTIONS`]) in one transaction with the check of
    /// `fence` after them: all land while the grant stands, none otherwise. A refusal by the check
    /// is [`FencedWriteError::LockLost`] naming who holds the lock now; by an action's own
    /// condition, [`FencedWriteError::ConditionFailed`] with its index. Each send carries a fresh
    /// client request token, so the SDK's own retries of a send never apply it twice; a send
    /// cancelled by a conflict is sent again up to 3 times.
    pub async fn write(
        &self,
        fence: &Fence,
        actions: Vec<TransactWriteItem>,
    ) -> Result<TransactWriteItemsOutput, FencedWriteError> {
        if actions.is_empty() || actions.len() > MAX_CALLER_ACTIONS {
            return Err(FencedWriteError::Invalid(format!(
                "a fenced transaction takes 1 to {MAX_CALLER_ACTIONS} actions, not {}",
                actions.len()
            )));
        }
        if let Some(i) = actions
            .iter()
            .position(|a| self.touches_lock_item(a, fence.resource_id()))
        {
            return Err(FencedWriteError::Invalid(format!(
                "action {i} writes the lock item itself, which the check already reads"
            )));
        }
        let check_index = actions.len();
        let mut items = actions;
        items.push(self.condition_check(fence));
        let mut tries = 0;
        loop {
            tries += 1;
            let sent = self
                .ddb
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(new_owner_token())
                .send()
                .await;
            let err = match sent {
                Ok(out) => return Ok(out),
                Err(err) => err,
            };
            let refusal = match err.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(e) => {
                    self.refusal(fence, check_index, e.cancellation_reasons())
                        .await
                }
                other => FencedWriteError::Dynamo(DisplayErrorContext(&other).to_string()),
            };
            if !matches!(refusal, FencedWriteError::Conflict) || tries >= CONFLICT_TRIES {
                return Err(refusal);
            }
        }
    }

    /// What a cancelled transaction's reasons (one per action, in order) say.
    async fn refusal(
        &self,
        fence: &Fence,
        check_index: usize,
        reasons: &[CancellationReason],
    ) -> FencedWriteError {
        let code = |r: &CancellationReason| r.code().unwrap_or("None").to_string();
        if let Some(check) = reasons.get(check_index) {
            if code(check) == "ConditionalCheckFailed" {
                let item = match check.item() {
                    Some(item) => Some(item.clone()),
                    None => self.read_lock_item(fence).await,
                };
                return FencedWriteError::LockLost {
                    resource_id: fence.resource_id().to_string(),
                    fence: fence.value(),
                    holders: item.as_ref().map(holders_now).unwrap_or_default(),
                };
            }
        }
        if let Some(i) = reasons
            .iter()
            .position(|r| code(r) == "ConditionalCheckFailed")
        {
            return FencedWriteError::ConditionFailed { index: Some(i) };
        }
        if reasons.iter().any(|r| code(r) == "TransactionConflict") {
            return FencedWriteError::Conflict;
        }
        let said: Vec<String> = reasons.iter().map(code).collect();
        FencedWriteError::Dynamo(format!("transaction cancelled: [{}]", said.join(", ")))
    }

    /// The lock item, read consistently (for a store that returns no `ALL_OLD` with a refused check).
    async fn read_lock_item(
        &self,
        fence: &Fence,
    ) -> Option<std::collections::HashMap<String, AttributeValue>> {
        self.ddb
            .get_item()
            .table_name(&self.lock_table)
            .key(
                ATTR_RESOURCE_ID,
                AttributeValue::S(fence.resource_id().to_string()),
            )
            .consistent_read(true)
            .send()
            .await
            .ok()?
            .item
    }

    fn touches_lock_item(&self, action: &TransactWriteItem, resource_id: &str) -> bool {
        let key = AttributeValue::S(resource_id.to_string());
        let targets = [
            action
                .put()
                .map(|p| (p.table_name(), p.item().get(ATTR_RESOURCE_ID))),
            action
                .update()
                .map(|u| (u.table_name(), u.key().get(ATTR_RESOURCE_ID))),
            action
                .delete()
                .map(|d| (d.table_name(), d.key().get(ATTR_RESOURCE_ID))),
            action
                .condition_check()
                .map(|c| (c.table_name(), c.key().get(ATTR_RESOURCE_ID))),
        ];
        targets
            .into_iter()
            .flatten()
            .any(|(table, k)| table == self.lock_table && k == Some(&key))
    }
}
