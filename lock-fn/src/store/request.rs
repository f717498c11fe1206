//! One UpdateItem request as data: what the store sends, to DynamoDB through the SDK or to the
//! simulator's in-memory table, which reads the same expressions DynamoDB would.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use crate::model::item::ATTR_RESOURCE_ID;

/// An UpdateItem of one lock item; it asks for the new item on success (unless told not to) and
/// always for the old one on a failed condition.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateRequest {
    /// The item's key (`resource_id`).
    pub key: String,
    /// `UpdateExpression`.
    pub update: String,
    /// `ConditionExpression`.
    pub condition: Option<String>,
    /// `ExpressionAttributeNames`.
    pub names: HashMap<String, String>,
    /// `ExpressionAttributeValues`.
    pub values: HashMap<String, AttributeValue>,
    /// `ReturnValues=ALL_NEW` (else `NONE`).
    pub return_new: bool,
}

impl UpdateRequest {
    /// An update of the item with key `key`.
    pub fn new(key: &str) -> Self {
        UpdateRequest {
            key: key.to_string(),
            update: String::new(),
            condition: None,
            names: HashMap::new(),
            values: HashMap::new(),
            return_new: true,
        }
    }

    /// Sets the expressions and their placeholder maps from a typed write.
    pub fn write(mut self, w: crate::write::expr::Write) -> Self {
        let r = w.render();
        self.update = r.update;
        self.condition = r.condition;
        self.names = r.names.into_iter().collect();
        self.values = r.values.into_iter().collect();
        self
    }

    /// Asks for no item back on success.
    pub fn return_nothing(mut self) -> Self {
        self.return_new = false;
        self
    }

    /// The request on an SDK builder (table already set).
    pub fn onto(self, b: UpdateItemFluentBuilder) -> UpdateItemFluentBuilder {
        let mut b = b
            .key(ATTR_RESOURCE_ID, AttributeValue::S(self.key))
            .update_expression(self.update)
            .return_values(if self.return_new {
                ReturnValue::AllNew
            } else {
                ReturnValue::None
            })
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        // DynamoDB refuses an empty map; the simulated table reads "no map" the same way.
        if !self.values.is_empty() {
            b = b.set_expression_attribute_values(Some(self.values));
        }
        if let Some(c) = self.condition {
            b = b.condition_expression(c);
        }
        if !self.names.is_empty() {
            b = b.set_expression_attribute_names(Some(self.names));
        }
        b
    }
}
