//! The in-memory store (`store::memory`) held to the real thing: random writes over lock-shaped
//! attributes (numbers, a string, a string set, a map of owner entries, a list of waiter entries),
//! rendered by the typed write model and applied both to the local stack and to the in-memory
//! table, must give the same outcome (applied, refused, or refused as invalid) and leave the same
//! item. On dynalite (atomic conditional writes) the item is read back after every write; on moto
//! the answers are compared too: the item as written (`ALL_NEW`) and the item a refusal returns
//! (`ALL_OLD`, which dynalite does not send).
//!
//! Known emulator differences the generator stays clear of, as lock-fn's writes do (see
//! ../shared/SIMULATION-NOTES.md): dynalite removes several list indexes one after another (the
//! writes remove them highest first, where both agree), compares lists and maps with `=` by
//! reference, and finds no list element that is not a scalar with `contains`.

use crate::support;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use lock_fn::store::memory::{Applied, Item, MemoryTable};
use lock_fn::write::expr::{at, num, text, Cmp, Cond, Operand, Path, Val, Write};
use support::*;

const KEYS: [&str; 2] = ["k0", "k1"];
const DIGESTS: [&str; 3] = ["d1", "d2", "d3"];
const WORDS: [&str; 3] = ["a", "b", "c"];

/// How a write went, as both sides can say it.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Written(Option<Item>),
    Refused(Option<Option<Item>>),
    Invalid,
}

struct Gen(fastrand::Rng);

impl Gen {
    fn pick<T: Copy>(&mut self, of: &[T]) -> T {
        of[self.0.usize(..of.len())]
    }

    fn digest(&mut self) -> &'static str {
        self.pick(&DIGESTS)
    }

    fn number_path(&mut self) -> Path {
        match self.0.u8(0..5) {
            0 => Path::attr("n1"),
            1 => Path::attr("n2"),
            2 => Path::attr("m").key("me", self.digest()).field("x"),
            3 => Path::attr("m").key("me", self.digest()).field("f"),
            _ => Path::attr("l").index(self.0.usize(0..3)).field("x"),
        }
    }

    fn any_path(&mut self) -> Path {
        match self.0.u8(0..6) {
            0 => Path::attr("s1"),
            1 => Path::attr("ss"),
            2 => Path::attr("m"),
            3 => Path::attr("m").key("me", self.digest()),
            4 => Path::attr("l").index(self.0.usize(0..3)),
            _ => self.number_path(),
        }
    }

    fn cmp(&mut self) -> Cmp {
        self.pick(&[Cmp::Eq, Cmp::Ne, Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge])
    }

    fn cond(&mut self, depth: u32) -> Cond {
        match self.0.u8(0..12) {
            0..=2 => {
                let a = Operand::Path(self.number_path());
                let b = num("v", self.0.u64(0..6));
                let op = self.cmp();
                if self.0.bool() {
                    Cond::cmp(a, op, b)
                } else {
                    Cond::cmp(b, op, a)
                }
            }
            3 => Cond::Exists(self.any_path()),
            4 => Cond::NotExists(self.any_path()),
            5 => {
                let w = self.pick(&WORDS);
                if self.0.bool() {
                    Cond::Contains(Path::attr("ss"), text("w", w))
                } else {
                    Cond::Contains(Path::attr("s1"), text("w", w))
                }
            }
            6 => {
                // Guarded as lock-fn guards it: dynalite fails (an HTML 500) on `size` of a
                // missing attribute.
                let p = self.pick(&["l", "m", "ss", "s1"]);
                let op = self.cmp();
                Cond::Or(vec![
                    Cond::NotExists(Path::attr(p)),
                    Cond::cmp(
                        Operand::Size(Path::attr(p)),
                        op,
                        num("size", self.0.u64(0..4)),
                    ),
                ])
            }
            7 if depth < 2 => Cond::And(
                (0..self.0.usize(2..4))
                    .map(|_| self.cond(depth + 1))
                    .collect(),
            ),
            8 if depth < 2 => Cond::Or(
                (0..self.0.usize(2..4))
                    .map(|_| self.cond(depth + 1))
                    .collect(),
            ),
            // Never `NOT NOT`: moto cannot parse it (lock-fn never writes it).
            9 if depth < 2 => match self.cond(depth + 1) {
                Cond::Not(inner) => *inner,
                c => !c,
            },
            // lock-fn's one-comparison forms of "absent, or a number below / at most" (`NOT p >= v`,
            // `NOT p > v`), whose meaning rests on a comparison with a missing attribute being false.
            10 => Cond::absent_or_below(self.number_path(), num("v", self.0.u64(0..6))),
            11 => Cond::absent_or_at_most(self.number_path(), num("v", self.0.u64(0..6))),
            _ => Cond::Exists(Path::attr("n1")),
        }
    }

    fn entry(&mut self) -> AttributeValue {
        AttributeValue::M(HashMap::from([
            (
                "x".to_string(),
                AttributeValue::N(self.0.u64(0..6).to_string()),
            ),
            (
                "f".to_string(),
                AttributeValue::N(self.0.u64(0..6).to_string()),
            ),
        ]))
    }

    fn words(&mut self) -> Val {
        let mut set: Vec<String> = WORDS
            .iter()
            .filter(|_| self.0.bool())
            .map(|w| w.to_string())
            .collect();
        if set.is_empty() {
            set.push(self.pick(&WORDS).into());
        }
        Val {
            hint: "set",
            value: AttributeValue::Ss(set),
        }
    }

    fn action(&mut self, w: Write) -> Write {
        match self.0.u8(0..17) {
            0 => w.set(Path::attr("n1"), num("v", self.0.u64(0..6))),
            1 => w.set(
                Path::attr("n1"),
                Operand::IfNotExists(Path::attr("n1"), Box::new(num("zero", 0)))
                    .plus(num("d", self.0.u64(1..3))),
            ),
            2 => w.set(Path::attr("n2"), at("n1").plus(num("d", 1))),
            3 => w.set(Path::attr("s1"), text("s", self.pick(&["ab", "bc", "c"]))),
            4 => w.set(
                Path::attr("m"),
                Operand::IfNotExists(
                    Path::attr("m"),
                    Box::new(Operand::Value(Val {
                        hint: "empty_map",
                        value: AttributeValue::M(HashMap::new()),
                    })),
                ),
            ),
            5 => {
                let entry = self.entry();
                w.set(
                    Path::attr("m").key("me", self.digest()),
                    Operand::Value(Val {
                        hint: "entry",
                        value: entry,
                    }),
                )
            }
            6 => w.set(
                Path::attr("m").key("me", self.digest()).field("x"),
                num("v", self.0.u64(0..6)),
            ),
            7 => w.remove(Path::attr("m").key("me", self.digest())),
            8 | 9 => {
                let entry = self.entry();
                w.set(
                    Path::attr("l"),
                    Operand::ListAppend(
                        Box::new(Operand::IfNotExists(
                            Path::attr("l"),
                            Box::new(Operand::Value(Val {
                                hint: "empty_list",
                                value: AttributeValue::L(vec![]),
                            })),
                        )),
                        Box::new(Operand::Value(Val {
                            hint: "entries",
                            value: AttributeValue::L(vec![entry]),
                        })),
                    ),
                )
            }
            10 => {
                // One or two list elements, highest index first (as lock-fn removes them).
                let hi = self.0.usize(0..4);
                let w = w.remove(Path::attr("l").index(hi));
                if hi > 0 && self.0.bool() {
                    w.remove(Path::attr("l").index(self.0.usize(0..hi)))
                } else {
                    w
                }
            }
            11 => w.set(
                Path::attr("l").index(self.0.usize(0..3)).field("x"),
                num("v", self.0.u64(0..6)),
            ),
            12 => w.add(
                Path::attr("n2"),
                Val {
                    hint: "d",
                    value: AttributeValue::N(self.0.u64(1..3).to_string()),
                },
            ),
            13 => {
                let set = self.words();
                w.add(Path::attr("ss"), set)
            }
            14 => {
                let set = self.words();
                w.delete(Path::attr("ss"), set)
            }
            15 => {
                // A map entry's field set to itself (as a cancel keeps a later mark).
                let field = Path::attr("m").key("me", self.digest()).field("x");
                w.set(field.clone(), Operand::Path(field))
            }
            _ => w.remove(Path::attr(self.pick(&["s1", "n1", "ss"]))),
        }
    }

    fn write(&mut self) -> Write {
        let mut w = Write::default();
        for _ in 0..self.0.usize(1..4) {
            w = self.action(w);
        }
        for _ in 0..self.0.usize(0..3) {
            let c = self.cond(0);
            w = w.require(c);
        }
        w
    }
}

/// Sets and numbers compared by value (an emulator may order a set's elements its own way).
fn normal(v: &AttributeValue) -> AttributeValue {
    match v {
        AttributeValue::Ss(s) => {
            let mut s = s.clone();
            s.sort();
            AttributeValue::Ss(s)
        }
        AttributeValue::M(m) => {
            AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), normal(v))).collect())
        }
        AttributeValue::L(l) => AttributeValue::L(l.iter().map(normal).collect()),
        other => other.clone(),
    }
}

fn normal_item(item: &Item) -> Item {
    item.iter().map(|(k, v)| (k.clone(), normal(v))).collect()
}

fn normal_outcome(o: Outcome) -> Outcome {
    match o {
        Outcome::Written(i) => Outcome::Written(i.as_ref().map(normal_item)),
        Outcome::Refused(i) => Outcome::Refused(i.map(|i| i.as_ref().map(normal_item))),
        Outcome::Invalid => Outcome::Invalid,
    }
}

/// Sends `write` as an `UpdateItem`; with `answers`, asks for the item as written and, on a
/// refusal, as it was.
async fn remote(client: &Client, table: &str, key: &str, write: &Write, answers: bool) -> Outcome {
    let mut request = write.render().onto(
        client
            .update_item()
            .table_name(table)
            .key("resource_id", AttributeValue::S(key.into())),
    );
    if answers {
        request = request
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    }
    match request.send().await {
        Ok(out) => Outcome::Written(answers.then(|| out.attributes.unwrap_or_default())),
        Err(e) => {
            let e = e.into_service_error();
            if e.is_conditional_check_failed_exception() {
                let old = match &e {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => {
                        c.item.clone()
                    }
                    _ => None,
                };
                Outcome::Refused(answers.then_some(old))
            } else {
                use aws_sdk_dynamodb::error::ProvideErrorMetadata;
                assert_eq!(
                    e.code(),
                    Some("ValidationException"),
                    "{:?} -> {e:?}",
                    write.render()
                );
                Outcome::Invalid
            }
        }
    }
}

fn local(table: &mut MemoryTable, key: &str, write: &Write, answers: bool) -> Outcome {
    match table.update("resource_id", key, write) {
        Ok(Applied::Written(new)) => Outcome::Written(answers.then_some(new)),
        Ok(Applied::Refused(old)) => Outcome::Refused(answers.then_some(old)),
        Err(_) => Outcome::Invalid,
    }
}

async fn run(client: &Client, answers: bool, seeds: std::ops::Range<u64>, writes: usize) -> usize {
    let mut applied = 0;
    for seed in seeds {
        let table = fresh_table(client).await;
        let mut memory = MemoryTable::default();
        let mut gen = Gen(fastrand::Rng::with_seed(seed));
        let mut history = Vec::new();
        for n in 0..writes {
            let key = gen.pick(&KEYS);
            let write = gen.write();
            if answers && lock_fn::store::memory::check_no_overlap(&write).is_err() {
                // moto evaluates the condition before it finds two actions on one path (DynamoDB
                // and dynalite refuse such a write as invalid whatever the item holds; the
                // dynalite run checks that).
                continue;
            }
            history.push(format!("{key}: {:?}", write.render()));
            let there = normal_outcome(remote(client, &table, key, &write, answers).await);
            let here = normal_outcome(local(&mut memory, key, &write, answers));
            let replay = || history[history.len().saturating_sub(6)..].join("\n");
            assert_eq!(
                here,
                there,
                "seed {seed}, write {n} (memory left, emulator right); the last writes:\n{}",
                replay()
            );
            applied += matches!(here, Outcome::Written(_)) as usize;
            let item = client
                .get_item()
                .table_name(&table)
                .key("resource_id", AttributeValue::S(key.into()))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
                .map(|i| normal_item(&i));
            assert_eq!(
                memory.get(key).map(normal_item),
                item,
                "seed {seed}, write {n}: the items differ; the last writes:\n{}",
                replay()
            );
        }
    }
    applied
}

/// Seeds per run: a few by default, more with `DLM_DIFFERENTIAL_SEEDS` (a longer search).
fn seeds(from: u64, default: u64) -> std::ops::Range<u64> {
    let n = std::env::var("DLM_DIFFERENTIAL_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    from..from + n
}

#[tokio::test]
async fn the_memory_store_writes_and_refuses_as_dynalite_does() {
    let client = client(&dynalite_endpoint());
    let seeds = seeds(0, 6);
    let writes = 150 * seeds.clone().count();
    let applied = run(&client, false, seeds, 150).await;
    // The generator must exercise both sides of the conditions.
    assert!(
        (writes / 6..writes * 5 / 6).contains(&applied),
        "{applied} of {writes} applied"
    );
}

#[tokio::test]
async fn the_memory_store_answers_as_moto_does_old_item_on_refusal_included() {
    let client = client(&moto_endpoint());
    let seeds = seeds(1_000_000, 3);
    let writes = 120 * seeds.clone().count();
    let applied = run(&client, true, seeds, 120).await;
    assert!(
        (writes / 6..writes * 5 / 6).contains(&applied),
        "{applied} of {writes} applied (writes on one path twice skipped)"
    );
}
