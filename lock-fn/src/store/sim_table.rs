//! The simulator's lock table: the in-memory table ([`MemoryTable`]) behind the faults a real
//! table shows a client - latency, throttling, an answer lost after the write was applied, a
//! write that lands after its sender timed out (and after later writes), a 500 that applied
//! nothing - each drawn from one seeded generator, and a log of every change in the order the
//! table applied them: the ground truth the history checker judges a run by.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::model::item::{ATTR_PURGE_AT, ATTR_RESOURCE_ID};
use crate::store::error::{Failure, StoreError};
use crate::store::memory::{Applied, Invalid, Item, MemoryTable};
use crate::store::request::UpdateRequest;
use crate::write::parse::parse_write;

tokio::task_local! {
    /// The simulated invocation a request is sent for: the history's link from a write to the
    /// answer its sender gave.
    pub static INVOCATION: u64;
}

/// How long a sender waits for an answer before it counts the attempt as timed out (the SDK's
/// attempt timeout lock-fn sets).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// How often each fault strikes, per mille of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Faults {
    /// Longest latency of a request, ms (each takes 1 ms up to this).
    pub max_latency_ms: u64,
    /// Throttled: not applied.
    pub throttle: u32,
    /// Applied, and the answer lost (the sender sees a timeout).
    pub lost_answer: u32,
    /// Landing late, after 0.1-6 s: past the sender's timeout, after later writes.
    pub late: u32,
    /// A 500 that applied nothing (the sender cannot tell it from a lost answer).
    pub failed: u32,
}

impl Faults {
    /// No faults, short latency.
    pub fn none() -> Faults {
        Faults {
            max_latency_ms: 4,
            throttle: 0,
            lost_answer: 0,
            late: 0,
            failed: 0,
        }
    }
}

/// One change the table applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The table's (true) time, epoch ms.
    pub at_ms: u64,
    /// The item's key.
    pub key: String,
    /// The item before.
    pub before: Option<Item>,
    /// The item after (`None`: deleted).
    pub after: Option<Item>,
    /// Who wrote it (`ttl` for DynamoDB's TTL, else the sender's label).
    pub by: String,
    /// The write as sent: its expressions and values (for a person reading a history).
    pub what: String,
    /// The invocation that sent it ([`INVOCATION`]; `None`: a peer, TTL, or a write sent outside
    /// an invocation).
    pub invocation: Option<u64>,
    /// Whether its sender was told it applied (not lost, not landed after the sender gave up).
    pub seen: bool,
}

/// What happens to one request.
enum Fate {
    Throttled,
    Failed,
    LostAnswer,
    Late(Duration),
    Answered,
}

#[derive(Debug)]
struct Inner {
    table: MemoryTable,
    log: Vec<Change>,
    invalid: Vec<String>,
    rng: fastrand::Rng,
    faults: Faults,
    faulted: BTreeSet<u64>,
}

/// The shared table of one simulation.
#[derive(Debug)]
pub struct SimTable {
    inner: Mutex<Inner>,
    epoch_ms: u64,
    start: tokio::time::Instant,
}

type Outcome = Result<Option<Item>, Option<Item>>;

impl SimTable {
    /// An empty table whose true time is `epoch_ms` now (tokio's paused clock), drawing its faults
    /// from `seed`.
    pub fn new(epoch_ms: u64, seed: u64, faults: Faults) -> Arc<SimTable> {
        Arc::new(SimTable {
            inner: Mutex::new(Inner {
                table: MemoryTable::default(),
                log: Vec::new(),
                invalid: Vec::new(),
                rng: fastrand::Rng::with_seed(seed),
                faults,
                faulted: BTreeSet::new(),
            }),
            epoch_ms,
            start: tokio::time::Instant::now(),
        })
    }

    /// The true time, epoch ms.
    pub fn now_ms(&self) -> u64 {
        self.epoch_ms + self.start.elapsed().as_millis() as u64
    }

    /// Changes the faults from now on.
    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    /// Every change so far, in the order applied.
    pub fn log(&self) -> Vec<Change> {
        self.lock().log.clone()
    }

    /// Requests the table refused as malformed (DynamoDB's `ValidationException`): each is a bug.
    pub fn invalid(&self) -> Vec<String> {
        self.lock().invalid.clone()
    }

    /// The invocations that met a fault of the table (throttled, failed, answer lost, or late).
    pub fn faulted(&self) -> BTreeSet<u64> {
        self.lock().faulted.clone()
    }

    /// The item of `key` now.
    pub fn item(&self, key: &str) -> Option<Item> {
        self.lock().table.get(key).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("the simulated table")
    }

    fn fate(&self) -> (Duration, Fate) {
        let mut i = self.lock();
        let f = i.faults;
        let latency = Duration::from_millis(i.rng.u64(1..=f.max_latency_ms.max(1)));
        let roll = i.rng.u32(0..1000);
        let fate = if roll < f.throttle {
            Fate::Throttled
        } else if roll < f.throttle + f.failed {
            Fate::Failed
        } else if roll < f.throttle + f.failed + f.lost_answer {
            Fate::LostAnswer
        } else if roll < f.throttle + f.failed + f.lost_answer + f.late {
            Fate::Late(Duration::from_millis(i.rng.u64(100..=6000)))
        } else {
            Fate::Answered
        };
        (latency, fate)
    }

    /// Sends `apply` through the faults: its result, or the failure the sender sees.
    async fn through_faults<F>(self: &Arc<Self>, apply: F) -> Result<Outcome, Failure>
    where
        F: FnOnce(&SimTable) -> Result<Outcome, Failure> + Send + 'static,
    {
        let (latency, fate) = self.fate();
        if let (Ok(invocation), false) =
            (INVOCATION.try_with(|i| *i), matches!(fate, Fate::Answered))
        {
            self.lock().faulted.insert(invocation);
        }
        tokio::time::sleep(latency).await;
        match fate {
            Fate::Throttled => Err(Failure::Throttled(
                "ProvisionedThroughputExceededException (simulated)".into(),
            )),
            Fate::Failed => Err(Failure::Transient("InternalServerError (simulated)".into())),
            Fate::LostAnswer => {
                let _applied = apply(self)?;
                Err(Failure::Transient(
                    "request timed out (simulated, applied)".into(),
                ))
            }
            Fate::Late(after) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let table = Arc::clone(self);
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = tx.send(apply(&table));
                });
                match tokio::time::timeout(ATTEMPT_TIMEOUT, rx).await {
                    Ok(Ok(result)) => result,
                    _ => Err(Failure::Transient(
                        "request timed out (simulated, lands late)".into(),
                    )),
                }
            }
            Fate::Answered => apply(self),
        }
    }

    /// An UpdateItem from the store of `by`.
    pub async fn update(
        self: &Arc<Self>,
        request: UpdateRequest,
        by: &str,
    ) -> Result<Outcome, Failure> {
        let by = by.to_string();
        let invocation = INVOCATION.try_with(|i| *i).ok();
        let landed = Arc::new(Mutex::new(None));
        let index = Arc::clone(&landed);
        let done = self
            .through_faults(move |t| {
                let write = t.parsed(
                    &request.update,
                    request.condition.as_deref(),
                    &request.names,
                    &request.values,
                )?;
                let mut i = t.lock();
                let before = i.table.get(&request.key).cloned();
                match i.table.update(ATTR_RESOURCE_ID, &request.key, &write) {
                    Ok(Applied::Written(after)) => {
                        let change = Change {
                            at_ms: t.now_ms(),
                            key: request.key.clone(),
                            before,
                            after: Some(after.clone()),
                            by,
                            what: described(
                                &request.update,
                                request.condition.as_deref().unwrap_or(""),
                                &request.values,
                            ),
                            invocation,
                            seen: false,
                        };
                        i.log.push(change);
                        *index.lock().expect("index") = Some(i.log.len() - 1);
                        Ok(Ok(request.return_new.then_some(after)))
                    }
                    Ok(Applied::Refused(old)) => Ok(Err(old)),
                    Err(Invalid(m)) => {
                        i.invalid.push(format!("{m}: {request:?}"));
                        Err(validation(m))
                    }
                }
            })
            .await;
        if let (Ok(Ok(_)), Some(at)) = (&done, *landed.lock().expect("index")) {
            self.lock().log[at].seen = true;
        }
        done
    }

    /// A consistent GetItem.
    pub async fn read(self: &Arc<Self>, key: &str) -> Result<Option<Item>, Failure> {
        let key = key.to_string();
        let got = self
            .through_faults(move |t| Ok(Ok(t.lock().table.get(&key).cloned())))
            .await?;
        Ok(got.unwrap_or_else(|old| old))
    }

    /// A peer's conditional PutItem (dynamo-dlm's acquire): `Ok(true)` when written.
    pub async fn put_if(
        self: &Arc<Self>,
        item: Item,
        condition: &str,
        values: HashMap<String, AttributeValue>,
        by: &str,
    ) -> Result<bool, Failure> {
        let (condition, by) = (condition.to_string(), by.to_string());
        let done = self
            .through_faults(move |t| {
                let AttributeValue::S(key) = &item[ATTR_RESOURCE_ID] else {
                    return Err(validation("the key is not a string".into()));
                };
                t.conditional(key, Some(item.clone()), &condition, &values, by)
            })
            .await?;
        Ok(done.is_ok())
    }

    /// A peer's conditional DeleteItem (dynamo-dlm's release): `Ok(true)` when deleted.
    pub async fn delete_if(
        self: &Arc<Self>,
        key: &str,
        condition: &str,
        values: HashMap<String, AttributeValue>,
        by: &str,
    ) -> Result<bool, Failure> {
        let (key, condition, by) = (key.to_string(), condition.to_string(), by.to_string());
        let done = self
            .through_faults(move |t| t.conditional(&key, None, &condition, &values, by))
            .await?;
        Ok(done.is_ok())
    }

    /// DynamoDB's TTL: deletes every item whose `purge_at` (epoch seconds) has passed.
    pub fn sweep_ttl(&self) {
        let now_s = self.now_ms() / 1000;
        let mut i = self.lock();
        let due: Vec<String> = i
            .table
            .items()
            .iter()
            .filter(|(_, item)| {
                matches!(item.get(ATTR_PURGE_AT), Some(AttributeValue::N(n)) if n.parse::<u64>().is_ok_and(|p| p < now_s))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let before = i.table.delete(&key);
            let at_ms = self.now_ms();
            i.log.push(Change {
                at_ms,
                key,
                before,
                after: None,
                by: "ttl".into(),
                what: "TTL".into(),
                invocation: None,
                seen: false,
            });
        }
    }

    /// Puts (`Some`) or deletes (`None`) the item of `key` if `condition` holds.
    fn conditional(
        &self,
        key: &str,
        put: Option<Item>,
        condition: &str,
        values: &HashMap<String, AttributeValue>,
        by: String,
    ) -> Result<Outcome, Failure> {
        let write = self.parsed("", Some(condition), &HashMap::new(), values)?;
        let mut i = self.lock();
        let before = i.table.get(key).cloned();
        match i.table.conditions_hold(key, &write) {
            Ok(true) => {}
            Ok(false) => return Ok(Err(before)),
            Err(Invalid(m)) => return Err(validation(m)),
        }
        match &put {
            Some(item) => i.table.put(key, item.clone()),
            None => {
                i.table.delete(key);
            }
        }
        let at_ms = self.now_ms();
        i.log.push(Change {
            at_ms,
            key: key.to_string(),
            before,
            after: put.clone(),
            what: described(
                if put.is_some() { "PUT" } else { "DELETE" },
                condition,
                values,
            ),
            by,
            invocation: None,
            seen: false,
        });
        Ok(Ok(put))
    }

    fn parsed(
        &self,
        update: &str,
        condition: Option<&str>,
        names: &HashMap<String, String>,
        values: &HashMap<String, AttributeValue>,
    ) -> Result<crate::write::expr::Write, Failure> {
        parse_write(update, condition, names, values).map_err(|Invalid(m)| {
            self.lock()
                .invalid
                .push(format!("{m}: {update} / {condition:?}"));
            validation(m)
        })
    }
}

fn validation(m: String) -> Failure {
    Failure::Final(StoreError::Misconfigured(format!(
        "ValidationException: {m} (simulated)"
    )))
}

/// A write written out for a person: `update IF condition WITH :a=1, :b=x` (values in name order).
fn described(update: &str, condition: &str, values: &HashMap<String, AttributeValue>) -> String {
    let mut vals: Vec<String> = values
        .iter()
        .map(|(k, v)| match v {
            AttributeValue::N(n) => format!("{k}={n}"),
            AttributeValue::S(s) => format!("{k}={s}"),
            other => format!("{k}={other:?}"),
        })
        .collect();
    vals.sort();
    format!("{update} IF {condition} WITH {}", vals.join(", "))
}
