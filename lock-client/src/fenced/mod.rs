//! Fenced writes: a caller's DynamoDB write that only lands while its lock grant still stands
//! (feature `fenced`, which brings in `aws-sdk-dynamodb`; the thin client does without it).
//!
//! Two forms (DESIGN.md, "What a fence protects"):
//! - [`FencedTransaction`]: a `ConditionCheck` on the lock item inside the caller's
//!   `TransactWriteItems` - the writes land only if the grant is still the current one (same owner,
//!   same fence). Same account and Region as the lock table.
//! - [`FenceItem`]: a fence condition on the caller's own item, for data in other tables or
//!   Regions: `attribute_not_exists(#dlm_fence) OR #dlm_fence <= :dlm_fence`, then `SET` it - a
//!   write by an older grant never lands after a newer grant's write reached that item.
//!
//! ```no_run
//! # async fn demo(guard: &lock_client::LockGuard, ddb: aws_sdk_dynamodb::Client) -> Result<(), lock_client::fenced::FencedWriteError> {
//! use lock_client::fenced::{Fence, FenceItem};
//! let fence = Fence::of(guard.grant());
//! ddb.update_item()
//!     .table_name("accounts")
//!     .key("id", aws_sdk_dynamodb::types::AttributeValue::S("42".into()))
//!     .update_expression("SET balance = :b") // idempotent: the SDK may send it more than once
//!     .expression_attribute_values(":b", aws_sdk_dynamodb::types::AttributeValue::N("105".into()))
//!     .send_fenced(&fence)
//!     .await?;
//! # Ok(()) }
//! ```

mod error;
mod fence;
mod holders;
mod per_item;
mod transaction;

pub use error::{FencedWriteError, HolderNow};
pub use fence::Fence;
pub use per_item::{FenceItem, FENCE_ATTRIBUTE};
pub use transaction::{FencedTransaction, MAX_CALLER_ACTIONS};
