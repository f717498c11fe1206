//! [`FencedTransaction`]: the caller's `TransactWriteItems` with a `ConditionCheck` on the lock
//! item, so that its writes land only while its grant is the current one.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};

use super::error::{dynamo_error, FencedWriteError, HolderNow};
use super::fence::Fence;
use super::holders::holders_now;
use crate::protocol::lock_item::{
    ATTR_FENCE, ATTR_RELEASE_CODE, ATTR_RESOURCE_ID, ATTR_SEM_HOLDERS, SEM_ENTRY_FENCE,
};
use crate::protocol::new_owner_token;

/// The most actions a caller may pass: DynamoDB takes 100 per transaction, the check is one.
pub const MAX_CALLER_ACTIONS: usize = 99;

/// How many times one write sends a transaction that conflicts (another transaction, or a write
/// such as a renewal of the lock item, in flight on the same items): a cancelled transaction wrote
/// nothing, so sending it again is safe.
const CONFLICT_SENDS: u32 = 3;

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
    /// condition, [`FencedWriteError::ConditionFailed`] with its index. Sends carry one fresh
    /// client request token (see [`FencedTransaction::write_with_token`]).
    pub async fn write(
        &self,
        fence: &Fence,
        actions: Vec<TransactWriteItem>,
    ) -> Result<TransactWriteItemsOutput, FencedWriteError> {
        self.write_with_token(fence, actions, &new_owner_token())
            .await
    }

    /// [`FencedTransaction::write`] with the caller's client request token (1 to 36 characters):
    /// every send of this write carries it, so DynamoDB applies it at most once however often it
    /// arrives - the SDK's own retries, a held-up attempt landing late, and the caller's retry with
    /// the same token after an error that says it may have been applied (within 10 minutes). A
    /// send cancelled by a conflict (another transaction, or a write of lock-fn, on the same
    /// items) wrote nothing and is sent again after a short jittered pause, at most twice.
    pub async fn write_with_token(
        &self,
        fence: &Fence,
        actions: Vec<TransactWriteItem>,
        token: &str,
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
        let mut sends = 0;
        loop {
            sends += 1;
            let sent = self
                .ddb
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(token)
                .send()
                .await;
            let err = match sent {
                Ok(out) => return Ok(out),
                Err(err) => err,
            };
            let cancelled = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                    Cancelled::of(check_index, e.cancellation_reasons())
                }
                _ => return Err(dynamo_error(&err)),
            };
            match cancelled {
                Cancelled::LockLost(item) => {
                    let holders = match item {
                        Some(item) => Some(holders_now(&item)),
                        None => self.read_holders(fence).await,
                    };
                    return Err(FencedWriteError::LockLost {
                        resource_id: fence.resource_id().to_string(),
                        fence: fence.value(),
                        holders,
                    });
                }
                Cancelled::ConditionFailed(index) => {
                    return Err(FencedWriteError::ConditionFailed { index: Some(index) })
                }
                Cancelled::Conflict if sends < CONFLICT_SENDS => {
                    let pause = 20 * u64::from(sends) + fastrand::u64(0..20);
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
                Cancelled::Conflict => return Err(FencedWriteError::Conflict),
                Cancelled::Other(said) => {
                    return Err(FencedWriteError::Dynamo {
                        message: format!("transaction cancelled: [{said}]"),
                        maybe_applied: false,
                    })
                }
            }
        }
    }

    /// Who holds the lock, from a consistent read of its item (for a refused check that came back
    /// without the item: the item is absent, or the store returns none): `None` when the read
    /// failed (it needs `dynamodb:GetItem` on the lock table).
    async fn read_holders(&self, fence: &Fence) -> Option<Vec<HolderNow>> {
        let read = self
            .ddb
            .get_item()
            .table_name(&self.lock_table)
            .key(
                ATTR_RESOURCE_ID,
                AttributeValue::S(fence.resource_id().to_string()),
            )
            .consistent_read(true)
            .send()
            .await
            .ok()?;
        Some(read.item.as_ref().map(holders_now).unwrap_or_default())
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

/// What a cancelled transaction's reasons (one per action, in order, the check last) say.
#[derive(Debug, PartialEq)]
enum Cancelled {
    /// The check failed: the grant no longer stands (with the lock item when it came back).
    LockLost(Option<HashMap<String, AttributeValue>>),
    /// The caller's action at this index refused.
    ConditionFailed(usize),
    /// A conflict, and no condition failed: nothing was written, sending again may pass.
    Conflict,
    /// Anything else (the reasons' codes).
    Other(String),
}

impl Cancelled {
    fn of(check_index: usize, reasons: &[CancellationReason]) -> Cancelled {
        let code = |r: &CancellationReason| r.code().unwrap_or("None").to_string();
        if let Some(check) = reasons.get(check_index) {
            if code(check) == "ConditionalCheckFailed" {
                return Cancelled::LockLost(check.item().cloned());
            }
        }
        if let Some(i) = reasons
            .iter()
            .position(|r| code(r) == "ConditionalCheckFailed")
        {
            return Cancelled::ConditionFailed(i);
        }
        if reasons.iter().any(|r| code(r) == "TransactionConflict") {
            return Cancelled::Conflict;
        }
        Cancelled::Other(reasons.iter().map(code).collect::<Vec<_>>().join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_sdk_dynamodb::types::{Put, Update};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn reason(code: &str) -> CancellationReason {
        CancellationReason::builder().code(code).build()
    }

    fn no_sdk_retries(c: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder {
        c.retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
    }

    fn cancelled_by(reasons: Vec<CancellationReason>) -> TransactWriteItemsError {
        TransactWriteItemsError::TransactionCanceledException(
            aws_sdk_dynamodb::types::error::TransactionCanceledException::builder()
                .set_cancellation_reasons(Some(reasons))
                .build(),
        )
    }

    fn put(table: &str, id: &str) -> TransactWriteItem {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(table)
                    .item(ATTR_RESOURCE_ID, AttributeValue::S(id.into()))
                    .build()
                    .unwrap(),
            )
            .build()
    }

    #[tokio::test]
    async fn a_conflict_is_sent_again_a_bounded_number_of_times() {
        let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items)
            .then_error(|| cancelled_by(vec![reason("None"), reason("TransactionConflict")]));
        let ddb = mock_client!(
            aws_sdk_dynamodb,
            RuleMode::MatchAny,
            [&rule],
            no_sdk_retries
        );
        let tx = FencedTransaction::new(ddb, "locks");
        let fence = Fence::mutex("r", "o", 7);
        let err = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tx.write(&fence, vec![put("data", "x")]),
        )
        .await
        .expect("conflicts are sent again a bounded number of times")
        .unwrap_err();
        assert!(matches!(err, FencedWriteError::Conflict), "{err:?}");
        assert_eq!(rule.num_calls(), CONFLICT_SENDS as usize);
    }

    #[tokio::test]
    async fn a_refused_check_without_the_item_reads_who_holds_the_lock() {
        let write = mock!(aws_sdk_dynamodb::Client::transact_write_items)
            .then_error(|| cancelled_by(vec![reason("None"), reason("ConditionalCheckFailed")]));
        let read = mock!(aws_sdk_dynamodb::Client::get_item)
            .match_requests(|r| {
                r.consistent_read() == Some(true) && r.table_name() == Some("locks")
            })
            .then_output(|| {
                GetItemOutput::builder()
                    .item(ATTR_RESOURCE_ID, AttributeValue::S("r".into()))
                    .item("release_code", AttributeValue::S("digest".into()))
                    .item("fence", AttributeValue::N("9".into()))
                    .item("expires_at_ms", AttributeValue::N("5000".into()))
                    .item("holder", AttributeValue::S("worker-2".into()))
                    .build()
            });
        let ddb = mock_client!(
            aws_sdk_dynamodb,
            RuleMode::MatchAny,
            [&write, &read],
            no_sdk_retries
        );
        let tx = FencedTransaction::new(ddb, "locks");
        let err = tx
            .write(&Fence::mutex("r", "o", 7), vec![put("data", "x")])
            .await
            .unwrap_err();
        let FencedWriteError::LockLost { holders, fence, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(fence, 7);
        assert_eq!(
            holders,
            Some(vec![HolderNow {
                label: Some("worker-2".into()),
                fence: Some(9),
                expires_at_ms: Some(5000),
            }])
        );
        assert_eq!(read.num_calls(), 1);
    }

    #[tokio::test]
    async fn at_most_99_actions_and_none_on_the_lock_item() {
        let ddb = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [], no_sdk_retries);
        let tx = FencedTransaction::new(ddb, "locks");
        let fence = Fence::mutex("r", "o", 7);
        let mut actions: Vec<_> = (0..MAX_CALLER_ACTIONS - 1)
            .map(|i| put("data", &i.to_string()))
            .collect();
        // The 99th writes the lock item: refused for that, not for the count.
        actions.push(put("locks", "r"));
        let err = tx.write(&fence, actions.clone()).await.unwrap_err();
        assert!(
            matches!(&err, FencedWriteError::Invalid(m) if m.contains("action 98 writes the lock item")),
            "{err:?}"
        );
        actions.push(put("data", "one too many"));
        let err = tx.write(&fence, actions).await.unwrap_err();
        assert!(
            matches!(&err, FencedWriteError::Invalid(m) if m.contains("1 to 99 actions")),
            "{err:?}"
        );
    }

    #[test]
    fn only_an_action_on_the_lock_tables_item_of_the_resource_touches_it() {
        let ddb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .build(),
        );
        let tx = FencedTransaction::new(ddb, "locks");
        assert!(tx.touches_lock_item(&put("locks", "r"), "r"));
        assert!(
            !tx.touches_lock_item(&put("data", "r"), "r"),
            "another table"
        );
        assert!(
            !tx.touches_lock_item(&put("locks", "q"), "r"),
            "another lock"
        );
        let update = TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name("locks")
                    .key(ATTR_RESOURCE_ID, AttributeValue::S("r".into()))
                    .update_expression("SET x = :x")
                    .build()
                    .unwrap(),
            )
            .build();
        assert!(tx.touches_lock_item(&update, "r"));
    }

    #[test]
    fn the_checks_refusal_is_a_lost_lock_whatever_else_failed() {
        let item = HashMap::from([("fence".to_string(), AttributeValue::N("9".into()))]);
        let check = CancellationReason::builder()
            .code("ConditionalCheckFailed")
            .set_item(Some(item.clone()))
            .build();
        let reasons = [reason("ConditionalCheckFailed"), reason("None"), check];
        assert_eq!(Cancelled::of(2, &reasons), Cancelled::LockLost(Some(item)));
        let without_item = [reason("None"), reason("ConditionalCheckFailed")];
        assert_eq!(Cancelled::of(1, &without_item), Cancelled::LockLost(None));
    }

    #[test]
    fn an_actions_refusal_names_its_index_and_comes_before_a_conflict() {
        let reasons = [
            reason("TransactionConflict"),
            reason("ConditionalCheckFailed"),
            reason("None"),
        ];
        assert_eq!(Cancelled::of(2, &reasons), Cancelled::ConditionFailed(1));
    }

    #[test]
    fn a_conflict_alone_is_sent_again_and_anything_else_is_reported() {
        let conflict = [reason("None"), reason("TransactionConflict")];
        assert_eq!(Cancelled::of(1, &conflict), Cancelled::Conflict);
        let capacity = [reason("ProvisionedThroughputExceeded"), reason("None")];
        assert_eq!(
            Cancelled::of(1, &capacity),
            Cancelled::Other("ProvisionedThroughputExceeded, None".into())
        );
        assert_eq!(Cancelled::of(0, &[]), Cancelled::Other(String::new()));
    }
}
