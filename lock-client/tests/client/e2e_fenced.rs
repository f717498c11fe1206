//! Fenced writes (feature `fenced`) against grants lock-fn really made: the per-item form on
//! dynalite under concurrency (its conditional writes are atomic), the transaction form on moto
//! (dynalite has no transactions; moto's writes race, so these run one at a time), with the lock
//! item copied from dynalite - where lock-fn wrote it - into moto's lock table.

use crate::support::*;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, KeySchemaElement, KeyType, Put, ScalarAttributeType,
    TransactWriteItem, Update,
};
use lock_client::fenced::{Fence, FenceItem, FencedTransaction, FencedWriteError, FENCE_ATTRIBUTE};
use lock_client::protocol::{AcquireResponse, Grant};
use lock_client::LockGuard;

fn lock_table() -> String {
    std::env::var("LOCK_TABLE").unwrap_or_else(|_| "dynamo_dlm_locks".into())
}

async fn dynalite() -> aws_sdk_dynamodb::Client {
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    aws_sdk_dynamodb::Client::new(&shared)
}

async fn moto() -> aws_sdk_dynamodb::Client {
    let endpoint = std::env::var("DLM_TEST_MOTO_ENDPOINT")
        .expect("DLM_TEST_MOTO_ENDPOINT is not set: run the tests with `bash scripts/test.sh`");
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&shared)
            .endpoint_url(endpoint)
            .build(),
    )
}

/// A fresh table keyed by `key` (S).
async fn table(ddb: &aws_sdk_dynamodb::Client, name: &str, key: &str) -> String {
    let name = resource(name);
    ddb.create_table()
        .table_name(&name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create table");
    name
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

async fn get(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    id: &str,
) -> HashMap<String, AttributeValue> {
    ddb.get_item()
        .table_name(table)
        .key("id", s(id))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default()
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// A fenced update of the counter item: `SET n = :n` (plus the fence).
async fn write_counter(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    fence: &Fence,
    value: u64,
) -> Result<(), FencedWriteError> {
    ddb.update_item()
        .table_name(table)
        .key("id", s("counter"))
        .update_expression("SET n = :n")
        .expression_attribute_values(":n", n(value))
        .send_fenced(fence)
        .await
        .map(drop)
}

/// A fenced update that only records the grant's fence on the item: after it, no older grant's
/// write lands there.
async fn claim_counter(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    fence: &Fence,
) -> Result<(), FencedWriteError> {
    ddb.update_item()
        .table_name(table)
        .key("id", s("counter"))
        .send_fenced(fence)
        .await
        .map(drop)
}

#[tokio::test]
async fn a_holder_whose_lease_was_lost_has_its_write_refused_and_the_newer_one_kept() {
    let ddb = dynalite().await;
    let data = table(&ddb, "fenced-data", "id").await;
    let r = resource("fenced-lost");
    let client = client().await;
    let old = client
        .with_duration(Duration::from_millis(300))
        .acquire(&r)
        .await
        .unwrap();
    let old_fence = Fence::of(old.grant());
    write_counter(&ddb, &data, &old_fence, 1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await; // the old lease runs out
    let new = client.acquire(&r).await.unwrap();
    let new_fence = Fence::of(new.grant());
    assert!(new_fence.value() > old_fence.value());
    write_counter(&ddb, &data, &new_fence, 2).await.unwrap();

    let late = write_counter(&ddb, &data, &old_fence, 99).await;
    // dynalite returns no item with a refusal, so it cannot tell stale from the write's own
    // condition; DynamoDB (and moto, below) can.
    assert!(
        matches!(
            late,
            Err(FencedWriteError::Stale { .. } | FencedWriteError::Refused)
        ),
        "{late:?}"
    );
    let item = get(&ddb, &data, "counter").await;
    assert_eq!(number(&item, "n"), Some(2), "the stale write must not land");
    assert_eq!(number(&item, FENCE_ATTRIBUTE), Some(new_fence.value()));
    assert!(!old.release().await.unwrap());
    assert!(new.release().await.unwrap());
}

/// Holders take turns on one lock; every third round a holder stalls past its lease first (a
/// zombie). Each round claims the counter with its fence, reads it, and writes it plus one.
/// Whatever the interleaving, the counter equals the number of writes that landed (no lost
/// update), and every refused write was refused because a newer grant had reached the item.
#[tokio::test]
async fn many_holders_and_zombies_lose_no_update() {
    const WORKERS: u64 = 6;
    const ROUNDS: u64 = 6;
    let ddb = dynalite().await;
    let data = table(&ddb, "fenced-counter", "id").await;
    let r = resource("fenced-counter");
    let client = client().await.with_duration(Duration::from_millis(250));
    let landed = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let (ddb, data, r, client) = (ddb.clone(), data.clone(), r.clone(), client.clone());
        let (landed, refused) = (landed.clone(), refused.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                let guard: LockGuard = client.acquire(&r).await.unwrap();
                let fence = Fence::of(guard.grant());
                let stalls = (worker + round) % 3 == 0;
                let outcome = async {
                    claim_counter(&ddb, &data, &fence).await?;
                    let seen = number(&get(&ddb, &data, "counter").await, "n").unwrap_or(0);
                    if stalls {
                        // Past the lease, and (while anyone else still waits) until a newer grant
                        // has claimed the item: a loaded machine's slower takeover does not turn
                        // the zombie's write into one that lands.
                        tokio::time::sleep(Duration::from_millis(350)).await;
                        let until = std::time::Instant::now() + Duration::from_secs(2);
                        while std::time::Instant::now() < until
                            && number(&get(&ddb, &data, "counter").await, FENCE_ATTRIBUTE)
                                <= Some(fence.value())
                        {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    write_counter(&ddb, &data, &fence, seen + 1).await
                }
                .await;
                match outcome {
                    Ok(()) => landed.fetch_add(1, SeqCst),
                    Err(FencedWriteError::Stale { item_fence, .. }) => {
                        assert!(item_fence > fence.value());
                        refused.fetch_add(1, SeqCst)
                    }
                    Err(FencedWriteError::Refused) => {
                        let now = number(&get(&ddb, &data, "counter").await, FENCE_ATTRIBUTE);
                        assert!(now > Some(fence.value()), "refused, yet no newer fence");
                        refused.fetch_add(1, SeqCst)
                    }
                    Err(e) => panic!("{e}"),
                };
                let _ = guard.release().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let item = get(&ddb, &data, "counter").await;
    let (landed, refused) = (landed.load(SeqCst), refused.load(SeqCst));
    assert_eq!(landed + refused, WORKERS * ROUNDS);
    assert!(
        refused > 0,
        "no zombie was refused: the test proved nothing"
    );
    assert_eq!(
        number(&item, "n"),
        Some(landed),
        "a lost update: {landed} writes landed, {refused} refused"
    );
}

/// Copies `resource`'s lock item from dynalite (where lock-fn wrote it) into moto's lock table.
async fn copy_lock_item(moto: &aws_sdk_dynamodb::Client, moto_locks: &str, resource: &str) {
    let item = dynalite()
        .await
        .get_item()
        .table_name(lock_table())
        .key("resource_id", s(resource))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("lock-fn wrote the lock item");
    moto.put_item()
        .table_name(moto_locks)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

fn put_action(table: &str, id: &str, value: u64) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .item("id", s(id))
                .item("n", n(value))
                .build()
                .unwrap(),
        )
        .build()
}

#[tokio::test]
async fn a_fenced_transaction_lands_while_the_grant_stands_and_names_the_new_holder_after() {
    let moto = moto().await;
    let moto_locks = table(&moto, "moto-locks", "resource_id").await;
    let data = table(&moto, "moto-data", "id").await;
    let tx = FencedTransaction::new(moto.clone(), &moto_locks);
    let r = resource("fenced-tx");
    let client = client().await;

    let first = client.with_holder("first").acquire(&r).await.unwrap();
    let first_fence = Fence::of(first.grant());
    copy_lock_item(&moto, &moto_locks, &r).await;
    tx.write(&first_fence, vec![put_action(&data, "a", 1)])
        .await
        .unwrap();
    assert_eq!(number(&get(&moto, &data, "a").await, "n"), Some(1));

    assert!(first.release().await.unwrap());
    copy_lock_item(&moto, &moto_locks, &r).await;
    match tx
        .write(&first_fence, vec![put_action(&data, "a", 2)])
        .await
    {
        Err(FencedWriteError::LockLost { holders, fence, .. }) => {
            assert_eq!(fence, first_fence.value());
            assert_eq!(holders, Some(vec![]), "released: nobody holds it");
        }
        other => panic!("{other:?}"),
    }

    let second = client.with_holder("second").acquire(&r).await.unwrap();
    copy_lock_item(&moto, &moto_locks, &r).await;
    let err = tx
        .write(&first_fence, vec![put_action(&data, "a", 3)])
        .await
        .unwrap_err();
    let FencedWriteError::LockLost {
        holders: Some(holders),
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0].label.as_deref(), Some("second"));
    assert_eq!(holders[0].fence, Some(second.fence()));
    let said = err.to_string();
    assert!(
        said.contains("second") && !said.contains(second.owner()),
        "{said}"
    );
    assert_eq!(
        number(&get(&moto, &data, "a").await, "n"),
        Some(1),
        "no refused transaction wrote"
    );

    // The caller's own condition refusing is told apart, by its index.
    let second_fence = Fence::of(second.grant());
    let guarded = TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(&data)
                .key("id", s("a"))
                .update_expression("SET n = :n")
                .condition_expression("n = :expected")
                .expression_attribute_values(":n", n(5))
                .expression_attribute_values(":expected", n(7))
                .build()
                .unwrap(),
        )
        .build();
    let refused = tx
        .write(&second_fence, vec![put_action(&data, "b", 1), guarded])
        .await;
    assert!(
        matches!(
            refused,
            Err(FencedWriteError::ConditionFailed { index: Some(1) })
        ),
        "{refused:?}"
    );
    assert!(get(&moto, &data, "b").await.is_empty());
    assert!(second.release().await.unwrap());
}

#[tokio::test]
async fn a_semaphore_holders_fenced_transaction_checks_its_own_entry() {
    let moto = moto().await;
    let moto_locks = table(&moto, "moto-sem-locks", "resource_id").await;
    let data = table(&moto, "moto-sem-data", "id").await;
    let tx = FencedTransaction::new(moto.clone(), &moto_locks);
    let r = resource("fenced-sem");
    let client = client().await.with_duration(Duration::from_secs(30));
    let a = client.with_holder("a").semaphore(&r, 2).await.unwrap();
    let b = client.with_holder("b").semaphore(&r, 2).await.unwrap();
    let (fa, fb) = (Fence::of(a.grant()), Fence::of(b.grant()));
    assert!(fa.is_semaphore());
    copy_lock_item(&moto, &moto_locks, &r).await;
    tx.write(&fa, vec![put_action(&data, "x", 1)])
        .await
        .unwrap();
    tx.write(&fb, vec![put_action(&data, "y", 1)])
        .await
        .unwrap();

    assert!(a.release().await.unwrap());
    copy_lock_item(&moto, &moto_locks, &r).await;
    let err = tx
        .write(&fa, vec![put_action(&data, "x", 2)])
        .await
        .unwrap_err();
    let FencedWriteError::LockLost {
        holders: Some(holders),
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    let labels: Vec<_> = holders.iter().map(|h| h.label.as_deref()).collect();
    assert_eq!(labels, vec![Some("b")]);
    assert_eq!(number(&get(&moto, &data, "x").await, "n"), Some(1));
    tx.write(&fb, vec![put_action(&data, "y", 2)])
        .await
        .unwrap();
    assert!(b.release().await.unwrap());
}

#[tokio::test]
async fn per_item_refusals_are_typed_where_the_store_returns_the_item() {
    let moto = moto().await;
    let data = table(&moto, "moto-item", "id").await;
    let grant = |fence: u64| Fence::mutex("r", "o", fence);
    write_counter(&moto, &data, &grant(10), 1).await.unwrap();
    let stale = write_counter(&moto, &data, &grant(9), 2).await;
    assert!(
        matches!(
            stale,
            Err(FencedWriteError::Stale {
                fence: 9,
                item_fence: 10
            })
        ),
        "{stale:?}"
    );
    let own = moto
        .update_item()
        .table_name(&data)
        .key("id", s("counter"))
        .update_expression("SET n = :n")
        .condition_expression("n = :other")
        .expression_attribute_values(":n", n(3))
        .expression_attribute_values(":other", n(42))
        .send_fenced(&grant(11))
        .await;
    assert!(
        matches!(own, Err(FencedWriteError::ConditionFailed { index: None })),
        "{own:?}"
    );
    // A put records the fence; a delete by an older grant is refused.
    moto.put_item()
        .table_name(&data)
        .item("id", s("p"))
        .send_fenced(&grant(20))
        .await
        .unwrap();
    assert_eq!(
        number(&get(&moto, &data, "p").await, FENCE_ATTRIBUTE),
        Some(20)
    );
    let old_delete = moto
        .delete_item()
        .table_name(&data)
        .key("id", s("p"))
        .send_fenced(&grant(19))
        .await;
    assert!(
        matches!(old_delete, Err(FencedWriteError::Stale { .. })),
        "{old_delete:?}"
    );
    assert!(!get(&moto, &data, "p").await.is_empty());
    assert_eq!(number(&get(&moto, &data, "counter").await, "n"), Some(1));
}

#[tokio::test]
async fn a_fenced_transaction_that_cannot_be_sent_is_refused_before_sending() {
    let moto = moto().await;
    let tx = FencedTransaction::new(moto, "locks");
    let fence = Fence::mutex("r", "o", 1);
    let too_many: Vec<_> = (0..100)
        .map(|i| put_action("t", &i.to_string(), 1))
        .collect();
    assert!(matches!(
        tx.write(&fence, too_many).await,
        Err(FencedWriteError::Invalid(_))
    ));
    assert!(matches!(
        tx.write(&fence, vec![]).await,
        Err(FencedWriteError::Invalid(_))
    ));
    let lock_item = TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name("locks")
                .item("resource_id", s("r"))
                .build()
                .unwrap(),
        )
        .build();
    assert!(matches!(
        tx.write(&fence, vec![lock_item]).await,
        Err(FencedWriteError::Invalid(_))
    ));
}

/// One owner's grant, through the raw client (an owner a caller chose, as a Step Functions
/// execution's ARN is).
async fn raw_grant(client: &lock_client::LockClient, r: &str, owner: &str) -> Grant {
    let (answer, _) = client
        .raw()
        .acquire(
            r,
            owner,
            Duration::from_secs(30),
            Duration::ZERO,
            lock_client::raw::Mode::Try { fresh_owner: false },
        )
        .await
        .unwrap();
    match answer.answer {
        AcquireResponse::Granted(grant) => grant,
        other => panic!("{other:?}"),
    }
}

/// The same owner releasing and taking the lock again gets a new fence: the old grant's check
/// fails on the fence alone (the item names the same owner).
#[tokio::test]
async fn a_fenced_transaction_of_an_earlier_grant_of_the_same_owner_is_refused() {
    let moto = moto().await;
    let moto_locks = table(&moto, "moto-owner-locks", "resource_id").await;
    let data = table(&moto, "moto-owner-data", "id").await;
    let tx = FencedTransaction::new(moto.clone(), &moto_locks);
    let r = resource("fenced-owner");
    let client = client().await;
    let owner = lock_client::protocol::new_owner_token();
    let first = raw_grant(&client, &r, &owner).await;
    assert!(client
        .raw()
        .release(&r, &owner, Some(first.fence))
        .await
        .unwrap()
        .released());
    let second = raw_grant(&client, &r, &owner).await;
    assert!(second.fence > first.fence);
    copy_lock_item(&moto, &moto_locks, &r).await;
    let refused = tx
        .write(&Fence::of(&first), vec![put_action(&data, "a", 1)])
        .await;
    assert!(
        matches!(refused, Err(FencedWriteError::LockLost { .. })),
        "{refused:?}"
    );
    tx.write(&Fence::of(&second), vec![put_action(&data, "a", 2)])
        .await
        .unwrap();
    assert_eq!(number(&get(&moto, &data, "a").await, "n"), Some(2));
    client
        .raw()
        .release(&r, &owner, Some(second.fence))
        .await
        .unwrap();
}
