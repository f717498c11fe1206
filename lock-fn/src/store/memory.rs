//! An in-memory lock table that evaluates the typed write model ([`crate::write::expr`]) with
//! DynamoDB's semantics: one item per key, each write atomic (conditions, then every action on the
//! item as it was before the write), `ALL_NEW` on success and `ALL_OLD` on a failed condition. It
//! is what the deterministic simulator runs the engine against; the differential test
//! (`lock-fn/tests/stack/differential.rs`) holds it to dynalite's and moto's answers.
//!
//! Semantics followed (see ../shared/SIMULATION-NOTES.md for the sources): a comparison with a
//! missing operand or operands of different types is false, except `<>`, which is true; `size` of
//! a string counts its characters, of a list, map or set its elements; `contains` is a substring
//! test on strings and membership on sets and lists; `SET` reads the item as it was before the
//! write, appends on a list index past the end, and needs the parent of a nested path to exist;
//! `REMOVE` of list elements refers to the indexes of the list as read; `ADD` adds to a number
//! (0 when missing) or to a set; `DELETE` takes elements from a set and removes an empty one; an
//! item larger than 400 KB after the write is refused with a `ValidationException`. Where dynalite
//! differs from DynamoDB (it removes list elements one after another; the writes lock-fn sends
//! remove them in descending index order, where both agree) DynamoDB is followed.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::write::expr::{Cmp, Cond, Operand, Path, Step, Val, Write};

/// An item: attribute name to value.
pub type Item = HashMap<String, AttributeValue>;

/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// How a write went.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Applied: the item as written (`ALL_NEW`).
    Written(Item),
    /// A condition failed: the item as it was, if there was one (`ALL_OLD`).
    Refused(Option<Item>),
}

pub use crate::write::parse::Invalid;

/// The table.
#[derive(Debug, Clone, Default)]
pub struct MemoryTable {
    items: BTreeMap<String, Item>,
}

impl MemoryTable {
    /// The item of `key`, as a strongly consistent read sees it.
    pub fn get(&self, key: &str) -> Option<&Item> {
        self.items.get(key)
    }

    /// Every item, by key.
    pub fn items(&self) -> &BTreeMap<String, Item> {
        &self.items
    }

    /// Puts an item as a whole (a peer's `PutItem`, e.g. Python dynamo-dlm).
    pub fn put(&mut self, key: &str, item: Item) {
        self.items.insert(key.to_string(), item);
    }

    /// Deletes an item (a peer's `DeleteItem`, TTL).
    pub fn delete(&mut self, key: &str) -> Option<Item> {
        self.items.remove(key)
    }

    /// Whether every condition of `write` holds on the item of `key` (a missing item reads as one
    /// with no attributes).
    pub fn conditions_hold(&self, key: &str, write: &Write) -> Result<bool, Invalid> {
        let empty = Item::new();
        let item = self.items.get(key).unwrap_or(&empty);
        for c in &write.conditions {
            if !eval(c, item)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Applies an `UpdateItem` of `key` (partition key attribute `key_attr`) atomically.
    pub fn update(&mut self, key_attr: &str, key: &str, write: &Write) -> Result<Applied, Invalid> {
        // A malformed write is refused whatever the item holds; a failed condition before any
        // error that depends on the item's data (dynalite's order; DynamoDB's is not documented).
        // A write with no action is the empty `UpdateExpression` lock-fn would send, which
        // DynamoDB refuses (lock-fn never sends an `UpdateItem` without one).
        let a = &write.actions;
        if a.set.is_empty() && a.remove.is_empty() && a.add.is_empty() && a.delete.is_empty() {
            return Err(Invalid(
                "Invalid UpdateExpression: The expression can not be empty;".into(),
            ));
        }
        check_no_overlap(write)?;
        let old = self.items.get(key).cloned();
        if !self.conditions_hold(key, write)? {
            return Ok(Applied::Refused(old));
        }
        let view = old.unwrap_or_default();
        let mut new = view.clone();
        new.insert(key_attr.to_string(), AttributeValue::S(key.to_string()));
        apply_actions(write, &view, &mut new)?;
        let bytes = item_bytes(&new);
        if bytes > MAX_ITEM_BYTES {
            return Err(Invalid(format!(
                "Item size to update has exceeded the maximum allowed size ({bytes} bytes)"
            )));
        }
        self.items.insert(key.to_string(), new.clone());
        Ok(Applied::Written(new))
    }
}

/// The value at `path` in `item`, if there is one.
pub fn resolve<'a>(item: &'a Item, path: &Path) -> Option<&'a AttributeValue> {
    let mut steps = path.0.iter();
    let mut at = match steps.next()? {
        Step::Name(n) => item.get(*n)?,
        Step::Key { key, .. } => item.get(key)?,
        Step::Index(_) => return None,
    };
    for step in steps {
        at = child(at, step)?;
    }
    Some(at)
}

fn child<'a>(v: &'a AttributeValue, step: &Step) -> Option<&'a AttributeValue> {
    match (v, step) {
        (AttributeValue::M(m), Step::Name(n)) => m.get(*n),
        (AttributeValue::M(m), Step::Key { key, .. }) => m.get(key),
        (AttributeValue::L(l), Step::Index(i)) => l.get(*i),
        _ => None,
    }
}

/// The value of an operand in a condition (`None`: missing, which makes comparisons false).
fn operand_value(o: &Operand, item: &Item) -> Result<Option<AttributeValue>, Invalid> {
    Ok(match o {
        Operand::Path(p) => resolve(item, p).cloned(),
        Operand::Value(Val { value, .. }) => Some(value.clone()),
        Operand::Size(p) => resolve(item, p)
            .and_then(size)
            .map(|n| AttributeValue::N(n.to_string())),
        other => {
            return Err(Invalid(format!(
                "a function that only updates may use in a condition: {other:?}"
            )))
        }
    })
}

fn size(v: &AttributeValue) -> Option<usize> {
    match v {
        AttributeValue::S(s) => Some(s.chars().count()),
        AttributeValue::B(b) => Some(b.as_ref().len()),
        AttributeValue::Ss(s) => Some(s.len()),
        AttributeValue::Ns(s) => Some(s.len()),
        AttributeValue::L(l) => Some(l.len()),
        AttributeValue::M(m) => Some(m.len()),
        _ => None,
    }
}

/// A number attribute value that is not a whole number (Python clients may write `10.0`), as a
/// float: close enough for comparing lock times, not exact beyond 15 digits.
fn number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok()
}

fn compare(a: &AttributeValue, op: Cmp, b: &AttributeValue) -> bool {
    use std::cmp::Ordering;
    let ordering = match (a, b) {
        (AttributeValue::N(x), AttributeValue::N(y)) => {
            match (x.parse::<i128>(), y.parse::<i128>()) {
                (Ok(x), Ok(y)) => Some(x.cmp(&y)),
                _ => match (number(x), number(y)) {
                    (Some(x), Some(y)) => x.partial_cmp(&y),
                    _ => None,
                },
            }
        }
        (AttributeValue::S(x), AttributeValue::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (x, y) if std::mem::discriminant(x) == std::mem::discriminant(y) => {
            // Sets, lists, maps, booleans: only equality is defined.
            return match op {
                Cmp::Eq => equal(x, y),
                Cmp::Ne => !equal(x, y),
                _ => false,
            };
        }
        _ => None,
    };
    match ordering {
        None => op == Cmp::Ne,
        Some(o) => match op {
            Cmp::Eq => o == Ordering::Equal,
            Cmp::Ne => o != Ordering::Equal,
            Cmp::Lt => o == Ordering::Less,
            Cmp::Le => o != Ordering::Greater,
            Cmp::Gt => o == Ordering::Greater,
            Cmp::Ge => o != Ordering::Less,
        },
    }
}

fn equal(a: &AttributeValue, b: &AttributeValue) -> bool {
    match (a, b) {
        (AttributeValue::Ss(x), AttributeValue::Ss(y)) => {
            let (mut x, mut y) = (x.clone(), y.clone());
            x.sort();
            y.sort();
            x == y
        }
        (AttributeValue::N(_), AttributeValue::N(_)) => compare(a, Cmp::Eq, b),
        _ => a == b,
    }
}

/// Evaluates a condition on the item as read (an absent item: no attributes).
pub fn eval(c: &Cond, item: &Item) -> Result<bool, Invalid> {
    Ok(match c {
        Cond::Compare(a, op, b) => match (operand_value(a, item)?, operand_value(b, item)?) {
            (Some(a), Some(b)) => compare(&a, *op, &b),
            _ => *op == Cmp::Ne,
        },
        Cond::Exists(p) => resolve(item, p).is_some(),
        Cond::NotExists(p) => resolve(item, p).is_none(),
        Cond::Contains(p, o) => {
            let needle = operand_value(o, item)?;
            match (resolve(item, p), needle) {
                (Some(AttributeValue::S(hay)), Some(AttributeValue::S(n))) => hay.contains(&n),
                (Some(AttributeValue::Ss(set)), Some(AttributeValue::S(n))) => set.contains(&n),
                (Some(AttributeValue::Ns(set)), Some(AttributeValue::N(n))) => {
                    set.iter().any(|m| {
                        compare(
                            &AttributeValue::N(m.clone()),
                            Cmp::Eq,
                            &AttributeValue::N(n.clone()),
                        )
                    })
                }
                (Some(AttributeValue::L(list)), Some(n)) => list.iter().any(|e| equal(e, &n)),
                _ => false,
            }
        }
        Cond::And(cs) => {
            for c in cs {
                if !eval(c, item)? {
                    return Ok(false);
                }
            }
            true
        }
        Cond::Or(cs) => {
            for c in cs {
                if eval(c, item)? {
                    return Ok(true);
                }
            }
            false
        }
        Cond::Not(c) => !eval(c, item)?,
    })
}

/// The value a `SET` operand gives, from the item as read.
fn set_value(o: &Operand, old: &Item) -> Result<AttributeValue, Invalid> {
    let missing = || {
        Invalid(
            "The provided expression refers to an attribute that does not exist in the item".into(),
        )
    };
    match o {
        Operand::Path(p) => resolve(old, p).cloned().ok_or_else(missing),
        Operand::Value(Val { value, .. }) => Ok(value.clone()),
        Operand::IfNotExists(p, d) => match resolve(old, p) {
            Some(v) => Ok(v.clone()),
            None => set_value(d, old),
        },
        Operand::ListAppend(a, b) => match (set_value(a, old)?, set_value(b, old)?) {
            (AttributeValue::L(mut a), AttributeValue::L(b)) => {
                a.extend(b);
                Ok(AttributeValue::L(a))
            }
            _ => Err(Invalid("list_append needs two lists".into())),
        },
        Operand::Plus(a, b) => match (set_value(a, old)?, set_value(b, old)?) {
            (AttributeValue::N(a), AttributeValue::N(b)) => add_whole_numbers(&a, &b),
            _ => Err(Invalid(
                "An operand in the update expression has an incorrect data type".into(),
            )),
        },
        Operand::Size(_) => Err(Invalid("size() is a condition function".into())),
    }
}

/// `a + b` for `SET` and `ADD` (lock-fn adds whole numbers only).
fn add_whole_numbers(a: &str, b: &str) -> Result<AttributeValue, Invalid> {
    let whole = |n: &str| {
        n.parse::<i128>()
            .map_err(|_| Invalid(format!("not a whole number: {n}")))
    };
    Ok(AttributeValue::N((whole(a)? + whole(b)?).to_string()))
}

/// A `SET` or `REMOVE` path whose parent is missing or of another type.
fn invalid_path() -> Invalid {
    Invalid("The document path provided in the update expression is invalid for update".into())
}

fn apply_actions(write: &Write, old: &Item, new: &mut Item) -> Result<(), Invalid> {
    let a = &write.actions;
    for (path, operand) in &a.set {
        let v = set_value(operand, old)?;
        set_at(new, path, v)?;
    }
    // List elements are removed by their index in the list as read: highest first, so that the
    // lower indexes still point where they did.
    let mut removes: Vec<&Path> = a.remove.iter().collect();
    removes.sort_by_key(|p| std::cmp::Reverse(last_index(p)));
    for path in removes {
        remove_at(new, path)?;
    }
    for (path, Val { value, .. }) in &a.add {
        let current = resolve(new, path).cloned();
        let v = match (current, value) {
            (None, v) => v.clone(),
            (Some(AttributeValue::N(x)), AttributeValue::N(y)) => add_whole_numbers(&x, y)?,
            (Some(AttributeValue::Ss(mut x)), AttributeValue::Ss(y)) => {
                for e in y {
                    if !x.contains(e) {
                        x.push(e.clone());
                    }
                }
                AttributeValue::Ss(x)
            }
            _ => return Err(Invalid("ADD: an operand has an incorrect data type".into())),
        };
        set_at(new, path, v)?;
    }
    for (path, Val { value, .. }) in &a.delete {
        match (resolve(new, path).cloned(), value) {
            (None, _) => {}
            (Some(AttributeValue::Ss(x)), AttributeValue::Ss(y)) => {
                let left: Vec<String> = x.into_iter().filter(|e| !y.contains(e)).collect();
                if left.is_empty() {
                    remove_at(new, path)?;
                } else {
                    set_at(new, path, AttributeValue::Ss(left))?;
                }
            }
            _ => {
                return Err(Invalid(
                    "DELETE: an operand has an incorrect data type".into(),
                ))
            }
        }
    }
    Ok(())
}

fn last_index(p: &Path) -> Option<usize> {
    match p.0.last() {
        Some(Step::Index(i)) => Some(*i),
        _ => None,
    }
}

/// DynamoDB refuses a write whose actions name one document path twice, or one path and a part of
/// it ("Two document paths overlap"), before it looks at the item.
pub fn check_no_overlap(write: &Write) -> Result<(), Invalid> {
    let a = &write.actions;
    let paths: Vec<&Path> = a
        .set
        .iter()
        .map(|(p, _)| p)
        .chain(a.remove.iter())
        .chain(a.add.iter().map(|(p, _)| p))
        .chain(a.delete.iter().map(|(p, _)| p))
        .collect();
    for (i, x) in paths.iter().enumerate() {
        for y in &paths[i + 1..] {
            let n = x.0.len().min(y.0.len());
            if x.0[..n] == y.0[..n] {
                return Err(Invalid(format!(
                    "Two document paths overlap: {x:?} and {y:?}"
                )));
            }
        }
    }
    Ok(())
}

fn set_at(item: &mut Item, path: &Path, v: AttributeValue) -> Result<(), Invalid> {
    let (last, parents) = path.0.split_last().ok_or_else(invalid_path)?;
    if parents.is_empty() {
        match last {
            Step::Name(n) => item.insert(n.to_string(), v),
            Step::Key { key, .. } => item.insert(key.clone(), v),
            Step::Index(_) => return Err(invalid_path()),
        };
        return Ok(());
    }
    let parent = parent_mut(item, parents).ok_or_else(invalid_path)?;
    match (parent, last) {
        (AttributeValue::M(m), Step::Name(n)) => {
            m.insert(n.to_string(), v);
        }
        (AttributeValue::M(m), Step::Key { key, .. }) => {
            m.insert(key.clone(), v);
        }
        (AttributeValue::L(l), Step::Index(i)) => {
            if *i < l.len() {
                l[*i] = v;
            } else {
                l.push(v);
            }
        }
        _ => return Err(invalid_path()),
    }
    Ok(())
}

/// `REMOVE`: an absent attribute, map key or list index past the end is nothing to do; a nested
/// path whose parent is missing (or not a map or list) is refused as DynamoDB, dynalite and moto
/// refuse it.
fn remove_at(item: &mut Item, path: &Path) -> Result<(), Invalid> {
    let Some((last, parents)) = path.0.split_last() else {
        return Ok(());
    };
    if parents.is_empty() {
        match last {
            Step::Name(n) => item.remove(*n),
            Step::Key { key, .. } => item.remove(key),
            Step::Index(_) => return Err(invalid_path()),
        };
        return Ok(());
    }
    match (parent_mut(item, parents), last) {
        (Some(AttributeValue::M(m)), Step::Name(n)) => {
            m.remove(*n);
        }
        (Some(AttributeValue::M(m)), Step::Key { key, .. }) => {
            m.remove(key);
        }
        (Some(AttributeValue::L(l)), Step::Index(i)) => {
            if *i < l.len() {
                l.remove(*i);
            }
        }
        _ => return Err(invalid_path()),
    }
    Ok(())
}

fn parent_mut<'a>(item: &'a mut Item, steps: &[Step]) -> Option<&'a mut AttributeValue> {
    let (first, rest) = steps.split_first()?;
    let mut at = match first {
        Step::Name(n) => item.get_mut(*n)?,
        Step::Key { key, .. } => item.get_mut(key)?,
        Step::Index(_) => return None,
    };
    for step in rest {
        at = match (at, step) {
            (AttributeValue::M(m), Step::Name(n)) => m.get_mut(*n)?,
            (AttributeValue::M(m), Step::Key { key, .. }) => m.get_mut(key)?,
            (AttributeValue::L(l), Step::Index(i)) => l.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(at)
}

/// An item's size as DynamoDB counts it: UTF-8 names and values; a number about one byte per two
/// digits plus one; a list or map three bytes plus one per element.
pub fn item_bytes(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_bytes(v)).sum()
}

fn value_bytes(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(s) => s.iter().map(String::len).sum(),
        AttributeValue::Ns(s) => s.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        AttributeValue::L(l) => 3 + l.iter().map(|e| 1 + value_bytes(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_bytes(e))
                .sum::<usize>()
        }
        _ => 0,
    }
}
