//! Creating lock tables on a local DynamoDB (test and benchmark tooling, shared by the bench
//! binaries and lock-fn's tests): the dynamo-dlm 1.x schema, or with a sort key the 2.x one.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;

/// Creates `name` (partition key `resource_id` S; with `sort_key`, also `concurrency_id` N as
/// dynamo-dlm 2.x has it) and waits until it is ACTIVE.
pub async fn create_lock_table(client: &Client, name: &str, sort_key: bool) {
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("resource_id", ScalarAttributeType::S))
        .key_schema(key("resource_id", KeyType::Hash));
    if sort_key {
        req = req
            .attribute_definitions(attr("concurrency_id", ScalarAttributeType::N))
            .key_schema(key("concurrency_id", KeyType::Range));
    }
    req.send().await.expect("create table");
    for _ in 0..100 {
        let t = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .expect("describe table");
        if t.table().and_then(|t| t.table_status()).map(|s| s.as_str()) == Some("ACTIVE") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("table {name} never became ACTIVE");
}

fn attr(name: &str, t: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(t)
        .build()
        .unwrap()
}

fn key(name: &str, t: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(t)
        .build()
        .unwrap()
}
