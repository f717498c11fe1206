//! The counter item and its fenced writes: claim, read, write.

use aws_sdk_dynamodb::types::AttributeValue;
use lock_client::fenced::{Fence, FenceItem};

use crate::error::CounterError;

/// The counter table's key attribute (String).
pub const KEY: &str = "id";
/// The counter's value attribute (Number).
pub const VALUE: &str = "n";

/// A counter table written only under the lock.
#[derive(Debug, Clone)]
pub struct Counters {
    ddb: aws_sdk_dynamodb::Client,
    table: String,
}

impl Counters {
    /// The counters in `table` (key [`KEY`]).
    pub fn new(ddb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Counters {
            ddb,
            table: table.into(),
        }
    }

    /// Records `fence` on the counter (a fenced update with no other change): from here on no
    /// older grant's write lands on it, so what [`Counters::read`] returns next is final until this
    /// grant writes. `LockLost` when a newer grant got there first.
    pub async fn claim(&self, id: &str, fence: &Fence) -> Result<(), CounterError> {
        self.ddb
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(id.into()))
            .send_fenced(fence)
            .await?;
        Ok(())
    }

    /// The counter's value (0 when it was never written), read consistently.
    pub async fn read(&self, id: &str) -> Result<u64, CounterError> {
        let item = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(id.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                CounterError::Store(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
            })?
            .item
            .unwrap_or_default();
        Ok(item
            .get(VALUE)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    /// Writes `value`, fenced: refused (`LockLost`) once a newer grant wrote the counter.
    pub async fn write(&self, id: &str, value: u64, fence: &Fence) -> Result<(), CounterError> {
        self.ddb
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(id.into()))
            .update_expression("SET #n = :n")
            .expression_attribute_names("#n", VALUE)
            .expression_attribute_values(":n", AttributeValue::N(value.to_string()))
            .send_fenced(fence)
            .await?;
        Ok(())
    }
}
