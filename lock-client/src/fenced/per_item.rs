//! [`FenceItem`]: a fence condition on the caller's own item, for data outside the lock table's
//! account or Region (or where a transaction costs too much).

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::delete_item::{DeleteItemError, DeleteItemOutput};
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::error::{dynamo_error, FencedWriteError};
use super::fence::Fence;
use super::holders::number;

/// The attribute a fenced write keeps on the caller's item: the fence of the last grant that wrote
/// it. Its placeholders `#dlm_fence` and `:dlm_fence` are reserved in a fenced write's expressions.
pub const FENCE_ATTRIBUTE: &str = "dlm_fence";

const FENCE_NAME: &str = "#dlm_fence";
const FENCE_VALUE: &str = ":dlm_fence";
const FENCE_CONDITION: &str = "(attribute_not_exists(#dlm_fence) OR #dlm_fence <= :dlm_fence)";

/// A DynamoDB write (`update_item`, `put_item`, `delete_item`) made conditional on a grant's fence:
/// it lands only if no write of a newer grant reached the item first, and an update or put records
/// the fence in [`FENCE_ATTRIBUTE`]. ANDed onto the write's own condition.
///
/// What it does not stop: a stale holder writing an item that no newer grant has written yet. A
/// holder that must see no stale writes after it starts claims its items first (a fenced update
/// that only records its fence) and reads them after that. A delete loses the fence: delete with a
/// fenced update that marks the item instead (a tombstone).
pub trait FenceItem: Sized {
    /// The operation's output.
    type Output;

    /// The write with the fence condition added (and, for an update or put, the fence recorded).
    /// [`FencedWriteError::Invalid`] when the write already uses a reserved placeholder.
    fn with_fence(self, fence: &Fence) -> Result<Self, FencedWriteError>;

    /// Sends the write with the fence: [`FencedWriteError::Stale`] when a newer grant's write
    /// reached the item first, [`FencedWriteError::ConditionFailed`] when the write's own condition
    /// refused it.
    fn send_fenced(
        self,
        fence: &Fence,
    ) -> impl Future<Output = Result<Self::Output, FencedWriteError>> + Send;
}

/// `FenceItem` for one kind of write: the fence condition ANDed on, its placeholders, `ALL_OLD` on a
/// refusal unless the caller chose otherwise, and `$record` - what records the fence on the item
/// (an update's `SET`, a put's attribute; nothing for a delete).
macro_rules! fence_item {
    ($builder:ty, $output:ty, $error:ident, |$b:ident, $fence:ident| $record:expr) => {
        impl FenceItem for $builder {
            type Output = $output;

            fn with_fence(self, $fence: &Fence) -> Result<Self, FencedWriteError> {
                reserved_unused(
                    self.get_expression_attribute_names(),
                    self.get_expression_attribute_values(),
                )?;
                let condition = fenced_condition(self.get_condition_expression().as_deref());
                let $b = self;
                let b = $record
                    .condition_expression(condition)
                    .expression_attribute_names(FENCE_NAME, FENCE_ATTRIBUTE)
                    .expression_attribute_values(FENCE_VALUE, fence_value($fence));
                Ok(match b.get_return_values_on_condition_check_failure() {
                    Some(_) => b,
                    None => b.return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    ),
                })
            }

            async fn send_fenced(self, fence: &Fence) -> Result<$output, FencedWriteError> {
                let b = self.with_fence(fence)?;
                b.send().await.map_err(|err| {
                    refusal(err, fence, |e| match e {
                        $error::ConditionalCheckFailedException(c) => Some(c.item.clone()),
                        _ => None,
                    })
                })
            }
        }
    };
}

fence_item!(
    UpdateItemFluentBuilder,
    UpdateItemOutput,
    UpdateItemError,
    |b, fence| {
        let update = with_fence_set(b.get_update_expression().as_deref());
        b.update_expression(update)
    }
);
fence_item!(
    PutItemFluentBuilder,
    PutItemOutput,
    PutItemError,
    |b, fence| b.item(FENCE_ATTRIBUTE, fence_value(fence))
);
fence_item!(
    DeleteItemFluentBuilder,
    DeleteItemOutput,
    DeleteItemError,
    |b, fence| {
        let _ = fence;
        b
    }
);

fn fence_value(fence: &Fence) -> AttributeValue {
    AttributeValue::N(fence.value().to_string())
}

/// The write's own condition ANDed with the fence's.
fn fenced_condition(own: Option<&str>) -> String {
    match own {
        Some(own) if !own.trim().is_empty() => format!("({own}) AND {FENCE_CONDITION}"),
        _ => FENCE_CONDITION.to_string(),
    }
}

/// The update expression with `#dlm_fence = :dlm_fence` first in its `SET` clause (a `SET` clause
/// added when it has none). `SET` is a reserved word in DynamoDB expressions, so a whole word `SET`
/// outside a placeholder is the clause's keyword.
fn with_fence_set(update: Option<&str>) -> String {
    let assign = format!("{FENCE_NAME} = {FENCE_VALUE}");
    let Some(update) = update.filter(|u| !u.trim().is_empty()) else {
        return format!("SET {assign}");
    };
    match set_keyword_end(update) {
        Some(end) => format!("{} {assign},{}", &update[..end], &update[end..]),
        None => format!("{update} SET {assign}"),
    }
}

/// Where the `SET` keyword of `update` ends, if it has one.
fn set_keyword_end(update: &str) -> Option<usize> {
    let bytes = update.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'#' || b == b':';
    (0..bytes.len().saturating_sub(2)).find_map(|i| {
        let is_set = bytes[i..i + 3].eq_ignore_ascii_case(b"SET");
        let starts = i == 0 || !(word(bytes[i - 1]) || bytes[i - 1] == b'.');
        let ends = bytes.get(i + 3).is_none_or(|&b| !word(b));
        (is_set && starts && ends).then_some(i + 3)
    })
}

fn reserved_unused(
    names: &Option<HashMap<String, String>>,
    values: &Option<HashMap<String, AttributeValue>>,
) -> Result<(), FencedWriteError> {
    let named = names.as_ref().is_some_and(|n| n.contains_key(FENCE_NAME));
    let valued = values.as_ref().is_some_and(|v| v.contains_key(FENCE_VALUE));
    if named || valued {
        return Err(FencedWriteError::Invalid(format!(
            "{FENCE_NAME} and {FENCE_VALUE} are reserved for the fence"
        )));
    }
    Ok(())
}

/// What a failed fenced write says: stale when the refused item (`ALL_OLD`) carries a newer fence,
/// the caller's own condition when it does not, [`FencedWriteError::Refused`] when no item came
/// back (the item is absent - then the write's own condition refused it - or the store returns
/// none, as dynalite), otherwise the SDK's error.
fn refusal<E, R>(
    err: SdkError<E, R>,
    fence: &Fence,
    refused_item: impl Fn(&E) -> Option<Option<HashMap<String, AttributeValue>>>,
) -> FencedWriteError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let Some(item) = err.as_service_error().and_then(&refused_item) else {
        return dynamo_error(&err);
    };
    match item {
        Some(item) => judge(fence, &item),
        None => FencedWriteError::Refused,
    }
}

/// Stale when the refused item carries a newer fence.
fn judge(fence: &Fence, item: &HashMap<String, AttributeValue>) -> FencedWriteError {
    match number(item, FENCE_ATTRIBUTE) {
        Some(item_fence) if item_fence > fence.value() => FencedWriteError::Stale {
            fence: fence.value(),
            item_fence,
        },
        _ => FencedWriteError::ConditionFailed { index: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fence(value: u64) -> Fence {
        Fence::mutex("r", "o", value)
    }

    #[test]
    fn the_fence_goes_first_into_the_set_clause_wherever_it_is() {
        let cases = [
            (None, "SET #dlm_fence = :dlm_fence"),
            (Some("  "), "SET #dlm_fence = :dlm_fence"),
            (Some("SET a = :a"), "SET #dlm_fence = :dlm_fence, a = :a"),
            (Some("set a = :a"), "set #dlm_fence = :dlm_fence, a = :a"),
            (
                Some("REMOVE b SET a = :a"),
                "REMOVE b SET #dlm_fence = :dlm_fence, a = :a",
            ),
            (Some("ADD n :one"), "ADD n :one SET #dlm_fence = :dlm_fence"),
            // Placeholders, values and paths that spell "set" are not the keyword.
            (
                Some("ADD #set :set, offset.set_x :v"),
                "ADD #set :set, offset.set_x :v SET #dlm_fence = :dlm_fence",
            ),
            (
                Some("REMOVE #set\nSET\ta = :a"),
                "REMOVE #set\nSET #dlm_fence = :dlm_fence,\ta = :a",
            ),
        ];
        for (update, expected) in cases {
            assert_eq!(with_fence_set(update), expected, "{update:?}");
        }
    }

    #[test]
    fn the_set_keyword_is_found_anywhere_and_only_as_a_word() {
        assert_eq!(set_keyword_end("REMOVE #a, #b SET #c = :c"), Some(17));
        assert_eq!(set_keyword_end("set #c = :c"), Some(3));
        assert_eq!(set_keyword_end("REMOVE #settings, #a"), None);
        assert_eq!(
            set_keyword_end("REMOVE #m.SET"),
            None,
            "a path element, not the keyword"
        );
        assert_eq!(set_keyword_end("ADD #n :one"), None);
        assert_eq!(set_keyword_end("SE"), None);
    }

    #[test]
    fn the_fence_condition_is_anded_onto_the_writes_own() {
        assert_eq!(fenced_condition(None), FENCE_CONDITION);
        assert_eq!(fenced_condition(Some("  ")), FENCE_CONDITION);
        assert_eq!(
            fenced_condition(Some("a = :a OR b = :b")),
            format!("(a = :a OR b = :b) AND {FENCE_CONDITION}")
        );
    }

    #[test]
    fn a_refused_item_with_a_newer_fence_is_stale_otherwise_the_writes_own_condition() {
        let item = |f: Option<u64>| -> HashMap<String, AttributeValue> {
            f.map(|f| {
                (
                    FENCE_ATTRIBUTE.to_string(),
                    AttributeValue::N(f.to_string()),
                )
            })
            .into_iter()
            .collect()
        };
        assert!(matches!(
            judge(&fence(5), &item(Some(6))),
            FencedWriteError::Stale {
                fence: 5,
                item_fence: 6
            }
        ));
        for same_or_older_or_none in [Some(5), Some(4), None] {
            assert!(matches!(
                judge(&fence(5), &item(same_or_older_or_none)),
                FencedWriteError::ConditionFailed { index: None }
            ));
        }
    }

    #[test]
    fn a_write_that_uses_a_reserved_placeholder_is_invalid() {
        let names = Some(HashMap::from([(FENCE_NAME.to_string(), "x".to_string())]));
        let values = Some(HashMap::from([(
            FENCE_VALUE.to_string(),
            AttributeValue::N("1".into()),
        )]));
        assert!(reserved_unused(&names, &None).is_err());
        assert!(reserved_unused(&None, &values).is_err());
        assert!(reserved_unused(&None, &None).is_ok());
    }
}
