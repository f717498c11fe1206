//! The typed write model: a conditional update as values - paths, operands, conditions, actions -
//! that render to DynamoDB's expression strings with their placeholder maps. Every value and every
//! name that is not an item attribute goes through a placeholder the renderer allocates itself, so
//! a placeholder without a value, or a value no expression uses, cannot be written down (DynamoDB
//! rejects both). The in-memory store (`store::memory`) evaluates the same values with DynamoDB's
//! semantics.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use aws_sdk_dynamodb::types::AttributeValue;

/// One step of a document path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Step {
    /// An item attribute or a fixed map field, written out (lock-fn's attribute names are no
    /// DynamoDB reserved words; a unit test checks every name the writes use).
    Name(&'static str),
    /// A map key that is data (an owner digest), written through a `#hint` placeholder.
    Key {
        /// The placeholder's name (`#me`, `#next`, ...).
        hint: &'static str,
        /// The key.
        key: String,
    },
    /// A list index.
    Index(usize),
}

/// A document path: an attribute, then map fields or keys and list indexes (`waiters[3].x`,
/// `sem_holders.#me.f`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path(pub Vec<Step>);

impl Path {
    /// The top-level attribute `name`.
    pub fn attr(name: &'static str) -> Path {
        Path(vec![Step::Name(name)])
    }

    /// The map field `name` of this path (`.x`).
    pub fn field(mut self, name: &'static str) -> Path {
        self.0.push(Step::Name(name));
        self
    }

    /// The map key `key` of this path, named `#hint` in the expression.
    pub fn key(mut self, hint: &'static str, key: impl Into<String>) -> Path {
        self.0.push(Step::Key {
            hint,
            key: key.into(),
        });
        self
    }

    /// Element `i` of this list path.
    pub fn index(mut self, i: usize) -> Path {
        self.0.push(Step::Index(i));
        self
    }
}

/// A value, with the name its placeholder renders as (`:hint`).
#[derive(Debug, Clone, PartialEq)]
pub struct Val {
    /// The placeholder's name.
    pub hint: &'static str,
    /// The value.
    pub value: AttributeValue,
}

/// The value side of a comparison or a `SET`.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// An attribute of the item (its value before the write).
    Path(Path),
    /// A value.
    Value(Val),
    /// `if_not_exists(path, operand)`.
    IfNotExists(Path, Box<Operand>),
    /// `list_append(a, b)`.
    ListAppend(Box<Operand>, Box<Operand>),
    /// `a + b` (numbers).
    Plus(Box<Operand>, Box<Operand>),
    /// `size(path)` (conditions only).
    Size(Path),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Cmp {
    fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ne => "<>",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

/// A condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `a <op> b`.
    Compare(Operand, Cmp, Operand),
    /// `attribute_exists(path)`.
    Exists(Path),
    /// `attribute_not_exists(path)`.
    NotExists(Path),
    /// `contains(path, operand)`.
    Contains(Path, Operand),
    /// All of them.
    And(Vec<Cond>),
    /// Any of them.
    Or(Vec<Cond>),
    /// `NOT c`.
    Not(Box<Cond>),
}

/// The actions of an update, in the clause they go to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Actions {
    /// `SET path = operand`.
    pub set: Vec<(Path, Operand)>,
    /// `REMOVE path` (list elements by their index in the list as read).
    pub remove: Vec<Path>,
    /// `ADD path value` (a number added, or set elements added).
    pub add: Vec<(Path, Val)>,
    /// `DELETE path value` (set elements removed).
    pub delete: Vec<(Path, Val)>,
}

/// A conditional update of one item: what lock-fn sends as an `UpdateItem`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Write {
    /// The actions.
    pub actions: Actions,
    /// Conditions, all of which must hold (none: unconditional).
    pub conditions: Vec<Cond>,
}

/// A write rendered for DynamoDB.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    /// The `UpdateExpression`.
    pub update: String,
    /// The `ConditionExpression`, if any.
    pub condition: Option<String>,
    /// `ExpressionAttributeNames`.
    pub names: BTreeMap<String, String>,
    /// `ExpressionAttributeValues`.
    pub values: BTreeMap<String, AttributeValue>,
}

// Shorthands for building writes.

/// `path = operand`-style operand of an attribute.
pub fn at(name: &'static str) -> Operand {
    Operand::Path(Path::attr(name))
}

/// A value operand rendered as `:hint`.
pub fn val(hint: &'static str, value: AttributeValue) -> Operand {
    Operand::Value(Val { hint, value })
}

/// A number value operand.
pub fn num(hint: &'static str, n: u64) -> Operand {
    val(hint, AttributeValue::N(n.to_string()))
}

/// A string value operand.
pub fn text(hint: &'static str, s: &str) -> Operand {
    val(hint, AttributeValue::S(s.to_string()))
}

impl Cond {
    /// `a = b`.
    pub fn eq(a: Operand, b: Operand) -> Cond {
        Cond::Compare(a, Cmp::Eq, b)
    }

    /// `a <op> b`.
    pub fn cmp(a: Operand, op: Cmp, b: Operand) -> Cond {
        Cond::Compare(a, op, b)
    }

    /// The number at `path` is absent or below `v`, written `NOT path >= v`: in DynamoDB a
    /// comparison with a missing attribute is false, so its negation holds where the attribute is
    /// missing. It says what `attribute_not_exists(path) OR path < v` says for a number or nothing
    /// (what lock-fn stores there) in one comparison, which dynalite evaluates faster
    /// (BENCHMARKS.md); the differential test holds the memory store to dynalite and moto on it.
    pub fn absent_or_below(path: Path, v: Operand) -> Cond {
        !Cond::Compare(Operand::Path(path), Cmp::Ge, v)
    }

    /// The number at `path` is absent or at most `v`, written `NOT path > v` (as
    /// [`Cond::absent_or_below`]).
    pub fn absent_or_at_most(path: Path, v: Operand) -> Cond {
        !Cond::Compare(Operand::Path(path), Cmp::Gt, v)
    }
}

impl std::ops::Not for Cond {
    type Output = Cond;

    /// `NOT self`.
    fn not(self) -> Cond {
        Cond::Not(Box::new(self))
    }
}

impl Operand {
    /// `self + b`.
    pub fn plus(self, b: Operand) -> Operand {
        Operand::Plus(Box::new(self), Box::new(b))
    }
}

impl Write {
    /// Adds conditions.
    pub fn require(mut self, c: Cond) -> Write {
        self.conditions.push(c);
        self
    }

    /// Adds a `SET`.
    pub fn set(mut self, path: Path, to: Operand) -> Write {
        self.actions.set.push((path, to));
        self
    }

    /// Adds a `REMOVE`.
    pub fn remove(mut self, path: Path) -> Write {
        self.actions.remove.push(path);
        self
    }

    /// Adds an `ADD` (a number added, or set elements).
    pub fn add(mut self, path: Path, value: Val) -> Write {
        self.actions.add.push((path, value));
        self
    }

    /// Adds a `DELETE` (set elements removed).
    pub fn delete(mut self, path: Path, value: Val) -> Write {
        self.actions.delete.push((path, value));
        self
    }

    /// Adds another write's actions and conditions to this one.
    pub fn with(mut self, other: Write) -> Write {
        self.actions.set.extend(other.actions.set);
        self.actions.remove.extend(other.actions.remove);
        self.actions.add.extend(other.actions.add);
        self.actions.delete.extend(other.actions.delete);
        self.conditions.extend(other.conditions);
        self
    }

    /// Every path the write names, in its actions and its conditions (for tests of the writes).
    #[cfg(test)]
    pub fn paths(&self) -> Vec<&Path> {
        fn operand<'a>(o: &'a Operand, out: &mut Vec<&'a Path>) {
            match o {
                Operand::Path(p) | Operand::Size(p) => out.push(p),
                Operand::Value(_) => {}
                Operand::IfNotExists(p, d) => {
                    out.push(p);
                    operand(d, out);
                }
                Operand::ListAppend(a, b) | Operand::Plus(a, b) => {
                    operand(a, out);
                    operand(b, out);
                }
            }
        }
        fn cond<'a>(c: &'a Cond, out: &mut Vec<&'a Path>) {
            match c {
                Cond::Compare(a, _, b) => {
                    operand(a, out);
                    operand(b, out);
                }
                Cond::Exists(p) | Cond::NotExists(p) => out.push(p),
                Cond::Contains(p, o) => {
                    out.push(p);
                    operand(o, out);
                }
                Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| cond(c, out)),
                Cond::Not(c) => cond(c, out),
            }
        }
        let mut out = Vec::new();
        let a = &self.actions;
        for (p, o) in &a.set {
            out.push(p);
            operand(o, &mut out);
        }
        out.extend(a.remove.iter());
        out.extend(a.add.iter().map(|(p, _)| p));
        out.extend(a.delete.iter().map(|(p, _)| p));
        self.conditions.iter().for_each(|c| cond(c, &mut out));
        out
    }

    /// Renders the write: expressions and the placeholder maps they use, nothing more or less.
    /// Two values under one hint get distinct placeholders (`:hint`, `:hint_2`, ...); equal values
    /// under one hint share one. Names likewise.
    pub fn render(&self) -> Rendered {
        let parts = self.parts();
        let mut update = String::new();
        for (keyword, actions) in [
            ("SET", &parts.set),
            ("REMOVE", &parts.remove),
            ("ADD", &parts.add),
            ("DELETE", &parts.delete),
        ] {
            if !actions.is_empty() {
                if !update.is_empty() {
                    update.push(' ');
                }
                let _ = write!(update, "{keyword} {}", actions.join(", "));
            }
        }
        let mut r = parts.renderer;
        let condition = match self.conditions.as_slice() {
            [] => None,
            [one] => Some(r.cond(one, Nest::Top)),
            many => Some(r.cond(&Cond::And(many.to_vec()), Nest::Top)),
        };
        Rendered {
            update,
            condition,
            names: r.names,
            values: r.values,
        }
    }

    /// Each clause's actions rendered, and the renderer holding their placeholders.
    fn parts(&self) -> Parts {
        let mut r = Renderer::default();
        let a = &self.actions;
        let set = a
            .set
            .iter()
            .map(|(p, o)| format!("{} = {}", r.path(p), r.operand(o)))
            .collect();
        let remove = removal_order(&a.remove)
            .into_iter()
            .map(|p| r.path(p))
            .collect();
        let add = a
            .add
            .iter()
            .map(|(p, v)| format!("{} {}", r.path(p), r.value(v)))
            .collect();
        let delete = a
            .delete
            .iter()
            .map(|(p, v)| format!("{} {}", r.path(p), r.value(v)))
            .collect();
        Parts {
            set,
            remove,
            add,
            delete,
            renderer: r,
        }
    }
}

/// A write's actions rendered clause by clause.
struct Parts {
    set: Vec<String>,
    remove: Vec<String>,
    add: Vec<String>,
    delete: Vec<String>,
    renderer: Renderer,
}

impl Rendered {
    /// Puts the expressions and their placeholder maps on an `UpdateItem` request (no empty map:
    /// DynamoDB refuses those).
    pub fn onto(
        self,
        request: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let mut request = request
            .update_expression(self.update)
            .set_condition_expression(self.condition);
        if !self.names.is_empty() {
            request =
                request.set_expression_attribute_names(Some(self.names.into_iter().collect()));
        }
        if !self.values.is_empty() {
            request =
                request.set_expression_attribute_values(Some(self.values.into_iter().collect()));
        }
        request
    }
}

/// `REMOVE` paths with the elements of each list highest index first. DynamoDB takes every index
/// as it was before the write, whatever the order; dynalite removes them one after another, which
/// agrees with DynamoDB only in this order.
fn removal_order(paths: &[Path]) -> Vec<&Path> {
    let mut others: Vec<&Path> = Vec::new();
    let mut elements: Vec<(&[Step], usize, &Path)> = Vec::new();
    for p in paths {
        match p.0.split_last() {
            Some((Step::Index(i), list)) => elements.push((list, *i, p)),
            _ => others.push(p),
        }
    }
    // Stable: lists in their first removal's order, then descending index within each.
    let first_seen = |list: &[Step]| {
        elements
            .iter()
            .position(|(l, _, _)| *l == list)
            .unwrap_or(usize::MAX)
    };
    let mut keyed: Vec<(usize, std::cmp::Reverse<usize>, &Path)> = elements
        .iter()
        .map(|(list, i, p)| (first_seen(list), std::cmp::Reverse(*i), *p))
        .collect();
    keyed.sort_by_key(|(list, i, _)| (*list, *i));
    others.extend(keyed.into_iter().map(|(_, _, p)| p));
    others
}

/// Where a condition is rendered: parentheses where they change the meaning, and around an `AND`
/// inside an `OR` (where `AND` binds tighter anyway) so that the text reads as it evaluates.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nest {
    Top,
    InAnd,
    InOr,
    InNot,
}

/// The conditions of nested `And`s (or `Or`s) as one list: `a AND (b AND c)` is `a AND b AND c`.
fn flatten<'a>(cs: &'a [Cond], and: bool, out: &mut Vec<&'a Cond>) {
    for c in cs {
        match c {
            Cond::And(inner) if and => flatten(inner, and, out),
            Cond::Or(inner) if !and => flatten(inner, and, out),
            other => out.push(other),
        }
    }
}

#[derive(Default)]
struct Renderer {
    names: BTreeMap<String, String>,
    values: BTreeMap<String, AttributeValue>,
}

impl Renderer {
    fn name(&mut self, hint: &str, key: &str) -> String {
        for n in 1.. {
            let placeholder = if n == 1 {
                format!("#{hint}")
            } else {
                format!("#{hint}_{n}")
            };
            match self.names.get(&placeholder) {
                Some(k) if k == key => return placeholder,
                Some(_) => continue,
                None => {
                    self.names.insert(placeholder.clone(), key.to_string());
                    return placeholder;
                }
            }
        }
        unreachable!()
    }

    fn value(&mut self, v: &Val) -> String {
        for n in 1.. {
            let placeholder = if n == 1 {
                format!(":{}", v.hint)
            } else {
                format!(":{}_{n}", v.hint)
            };
            match self.values.get(&placeholder) {
                Some(existing) if *existing == v.value => return placeholder,
                Some(_) => continue,
                None => {
                    self.values.insert(placeholder.clone(), v.value.clone());
                    return placeholder;
                }
            }
        }
        unreachable!()
    }

    fn path(&mut self, p: &Path) -> String {
        let mut out = String::new();
        for (i, step) in p.0.iter().enumerate() {
            match step {
                Step::Name(n) => {
                    if i > 0 {
                        out.push('.');
                    }
                    out.push_str(n);
                }
                Step::Key { hint, key } => {
                    if i > 0 {
                        out.push('.');
                    }
                    let placeholder = self.name(hint, key);
                    out.push_str(&placeholder);
                }
                Step::Index(k) => {
                    let _ = write!(out, "[{k}]");
                }
            }
        }
        out
    }

    fn operand(&mut self, o: &Operand) -> String {
        match o {
            Operand::Path(p) => self.path(p),
            Operand::Value(v) => self.value(v),
            Operand::IfNotExists(p, d) => {
                let p = self.path(p);
                format!("if_not_exists({p}, {})", self.operand(d))
            }
            Operand::ListAppend(a, b) => {
                let a = self.operand(a);
                format!("list_append({a}, {})", self.operand(b))
            }
            Operand::Plus(a, b) => {
                let a = self.operand(a);
                format!("{a} + {}", self.operand(b))
            }
            Operand::Size(p) => format!("size({})", self.path(p)),
        }
    }

    fn cond(&mut self, c: &Cond, nest: Nest) -> String {
        match c {
            Cond::Compare(a, op, b) => {
                let a = self.operand(a);
                format!("{a} {} {}", op.symbol(), self.operand(b))
            }
            Cond::Exists(p) => format!("attribute_exists({})", self.path(p)),
            Cond::NotExists(p) => format!("attribute_not_exists({})", self.path(p)),
            Cond::Contains(p, o) => {
                let p = self.path(p);
                format!("contains({p}, {})", self.operand(o))
            }
            Cond::And(cs) => {
                let mut flat = Vec::new();
                flatten(cs, true, &mut flat);
                let parts: Vec<String> = flat.iter().map(|c| self.cond(c, Nest::InAnd)).collect();
                let s = parts.join(" AND ");
                if matches!(nest, Nest::InNot | Nest::InOr) && parts.len() > 1 {
                    format!("({s})")
                } else {
                    s
                }
            }
            Cond::Or(cs) => {
                let mut flat = Vec::new();
                flatten(cs, false, &mut flat);
                let parts: Vec<String> = flat.iter().map(|c| self.cond(c, Nest::InOr)).collect();
                let s = parts.join(" OR ");
                if matches!(nest, Nest::InAnd | Nest::InNot) && parts.len() > 1 {
                    format!("({s})")
                } else {
                    s
                }
            }
            Cond::Not(inner) => format!("NOT {}", self.cond(inner, Nest::InNot)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: u64) -> AttributeValue {
        AttributeValue::N(v.to_string())
    }

    #[test]
    fn a_write_renders_its_clauses_and_exactly_the_placeholders_it_uses() {
        let w = Write::default()
            .set(Path::attr("release_code"), text("owner", "d1"))
            .set(
                Path::attr("fence"),
                Operand::IfNotExists(Path::attr("fence"), Box::new(num("fence_floor", 7)))
                    .plus(num("one", 1)),
            )
            .remove(Path::attr("holder"))
            .require(Cond::Or(vec![
                Cond::NotExists(Path::attr("resource_id")),
                Cond::cmp(at("expires_at_ms"), Cmp::Le, num("now_ms", 5)),
            ]))
            .require(Cond::cmp(
                Operand::Path(Path::attr("sem_holders").key("me", "d1").field("x")),
                Cmp::Gt,
                num("now_ms", 5),
            ));
        let r = w.render();
        assert_eq!(
            r.update,
            "SET release_code = :owner, fence = if_not_exists(fence, :fence_floor) + :one REMOVE holder"
        );
        assert_eq!(
            r.condition.as_deref(),
            Some(
                "(attribute_not_exists(resource_id) OR expires_at_ms <= :now_ms) \
                 AND sem_holders.#me.x > :now_ms"
            )
        );
        assert_eq!(r.names, BTreeMap::from([("#me".into(), "d1".into())]));
        assert_eq!(
            r.values.keys().collect::<Vec<_>>(),
            [":fence_floor", ":now_ms", ":one", ":owner"]
        );
    }

    #[test]
    fn list_elements_are_removed_highest_index_first() {
        let w = Write::default()
            .remove(Path::attr("waiters").index(0))
            .remove(Path::attr("holder"))
            .remove(Path::attr("waiters").index(2))
            .remove(Path::attr("m").key("k", "d").field("l").index(1))
            .remove(Path::attr("waiters").index(1))
            .remove(Path::attr("m").key("k", "d").field("l").index(4));
        assert_eq!(
            w.render().update,
            "REMOVE holder, waiters[2], waiters[1], waiters[0], m.#k.l[4], m.#k.l[1]"
        );
    }

    #[test]
    fn one_hint_for_two_values_gets_two_placeholders() {
        let r = Write::default()
            .set(Path::attr("a"), num("v", 1))
            .set(Path::attr("b"), num("v", 2))
            .set(Path::attr("c"), num("v", 1))
            .render();
        assert_eq!(r.update, "SET a = :v, b = :v_2, c = :v");
        assert_eq!(r.values.get(":v_2"), Some(&n(2)));
        let r = Write::default()
            .set(Path::attr("m").key("k", "x"), num("v", 1))
            .set(Path::attr("m").key("k", "y"), num("v", 1))
            .render();
        assert_eq!(r.update, "SET m.#k = :v, m.#k_2 = :v");
    }

    #[test]
    fn parentheses_where_they_change_the_meaning_or_show_it() {
        let c = |s: &str| {
            Cond::Exists(Path::attr(match s {
                "a" => "a",
                "b" => "b",
                _ => "c",
            }))
        };
        let render = |cond: Cond| Write::default().require(cond).render().condition.unwrap();
        assert_eq!(
            render(Cond::Or(vec![c("a"), c("b")])),
            "attribute_exists(a) OR attribute_exists(b)"
        );
        assert_eq!(
            render(Cond::And(vec![c("a"), Cond::Or(vec![c("b"), c("c")])])),
            "attribute_exists(a) AND (attribute_exists(b) OR attribute_exists(c))"
        );
        assert_eq!(
            render(Cond::Or(vec![c("a"), Cond::And(vec![c("b"), c("c")])])),
            "attribute_exists(a) OR (attribute_exists(b) AND attribute_exists(c))"
        );
        assert_eq!(
            render(Cond::Not(Box::new(Cond::Contains(
                Path::attr("wset"),
                text("me", "d")
            )))),
            "NOT contains(wset, :me)"
        );
        assert_eq!(
            render(Cond::Not(Box::new(Cond::Or(vec![c("a"), c("b")])))),
            "NOT (attribute_exists(a) OR attribute_exists(b))"
        );
        assert_eq!(
            Write::default()
                .set(Path::attr("waiters").index(3).field("x"), num("x", 1))
                .render()
                .update,
            "SET waiters[3].x = :x"
        );
    }
}
