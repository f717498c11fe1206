//! Expression strings back to the typed write model: what the in-memory table reads when the
//! engine sends it a request, exactly as DynamoDB would get it (update and condition expressions
//! with their placeholder maps). It reads the subset of DynamoDB's grammar lock-fn and its peers
//! use - `SET` (with `+`, `if_not_exists`, `list_append`), `REMOVE`, `ADD`, `DELETE`; comparisons,
//! `attribute_exists`, `attribute_not_exists`, `contains`, `size`, `AND`, `OR`, `NOT` and
//! parentheses - and refuses, as DynamoDB does, a placeholder without a value and a value or name
//! no expression uses.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::write::expr::{Cmp, Cond, Operand, Path, Step, Val, Write};

/// A write DynamoDB would reject as a whole (`ValidationException`): nothing is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

/// The placeholder hint parsed paths and values carry (rendering them again is not the point).
const NAME: &str = "#p";
const VALUE: &str = ":v";

/// Parses an `UpdateItem`'s expressions (an empty `update` for a conditional put or delete).
pub fn parse_write(
    update: &str,
    condition: Option<&str>,
    names: &HashMap<String, String>,
    values: &HashMap<String, AttributeValue>,
) -> Result<Write, Invalid> {
    let mut p = Parser {
        tokens: Vec::new(),
        at: 0,
        names,
        values,
        used_names: BTreeSet::new(),
        used_values: BTreeSet::new(),
    };
    let mut write = Write::default();
    if !update.trim().is_empty() {
        p.start(update)?;
        p.update(&mut write)?;
    }
    if let Some(c) = condition {
        p.start(c)?;
        let cond = p.or()?;
        p.end()?;
        write.conditions.push(cond);
    }
    let unused: Vec<&String> = values
        .keys()
        .filter(|k| !p.used_values.contains(*k))
        .collect();
    if !unused.is_empty() {
        return Err(Invalid(format!(
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {unused:?}"
        )));
    }
    // DynamoDB has no empty sets: a set value must hold at least one element.
    let mut empty_sets: Vec<&String> = values
        .iter()
        .filter(|(_, v)| match v {
            AttributeValue::Ss(s) | AttributeValue::Ns(s) => s.is_empty(),
            AttributeValue::Bs(s) => s.is_empty(),
            _ => false,
        })
        .map(|(k, _)| k)
        .collect();
    empty_sets.sort();
    if !empty_sets.is_empty() {
        return Err(Invalid(format!(
            "ExpressionAttributeValues contains invalid value: One or more parameter values were \
             invalid: An string set may not be empty for keys {empty_sets:?}"
        )));
    }
    let unused: Vec<&String> = names
        .keys()
        .filter(|k| !p.used_names.contains(*k))
        .collect();
    if !unused.is_empty() {
        return Err(Invalid(format!(
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {unused:?}"
        )));
    }
    Ok(write)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Name(String),
    Value(String),
    Number(usize),
    Punct(&'static str),
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    names: &'a HashMap<String, String>,
    values: &'a HashMap<String, AttributeValue>,
    used_names: BTreeSet<String>,
    used_values: BTreeSet<String>,
}

fn syntax(what: impl std::fmt::Display) -> Invalid {
    Invalid(format!("Invalid expression: {what}"))
}

fn tokenize(s: &str) -> Result<Vec<Token>, Invalid> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let word = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && (chars[*i].is_alphanumeric() || chars[*i] == '_') {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' || c == ':' {
            i += 1;
            let w = word(&mut i);
            if w.is_empty() {
                return Err(syntax(format!("an empty placeholder in {s:?}")));
            }
            out.push(if c == '#' {
                Token::Name(format!("#{w}"))
            } else {
                Token::Value(format!(":{w}"))
            });
        } else if c.is_ascii_digit() {
            let w = word(&mut i);
            out.push(Token::Number(
                w.parse().map_err(|_| syntax(format!("index {w}")))?,
            ));
        } else if c.is_alphabetic() || c == '_' {
            out.push(Token::Word(word(&mut i)));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let p = match two.as_str() {
                "<>" => "<>",
                "<=" => "<=",
                ">=" => ">=",
                _ => match c {
                    '=' => "=",
                    '<' => "<",
                    '>' => ">",
                    '(' => "(",
                    ')' => ")",
                    ',' => ",",
                    '.' => ".",
                    '[' => "[",
                    ']' => "]",
                    '+' => "+",
                    other => return Err(syntax(format!("unexpected {other:?} in {s:?}"))),
                },
            };
            i += p.len();
            out.push(Token::Punct(p));
        }
    }
    Ok(out)
}

impl Parser<'_> {
    fn start(&mut self, s: &str) -> Result<(), Invalid> {
        self.tokens = tokenize(s)?;
        self.at = 0;
        Ok(())
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Result<Token, Invalid> {
        let t = self
            .tokens
            .get(self.at)
            .cloned()
            .ok_or_else(|| syntax("unexpected end"))?;
        self.at += 1;
        Ok(t)
    }

    fn end(&self) -> Result<(), Invalid> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(syntax(format!("unexpected {t:?}"))),
        }
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Token::Punct(q)) if *q == p)
    }

    /// A keyword (`SET`, `AND`, ...): any case.
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    /// A function name followed by `(`: its exact spelling, as DynamoDB requires.
    fn is_call(&self, f: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(x)) if x == f)
            && self.tokens.get(self.at + 1) == Some(&Token::Punct("("))
    }

    fn expect(&mut self, p: &str) -> Result<(), Invalid> {
        match self.next()? {
            Token::Punct(q) if q == p => Ok(()),
            t => Err(syntax(format!("expected {p:?}, found {t:?}"))),
        }
    }

    fn update(&mut self, w: &mut Write) -> Result<(), Invalid> {
        let mut seen = BTreeSet::new();
        while let Some(t) = self.peek().cloned() {
            let Token::Word(clause) = t else {
                return Err(syntax(format!("expected a clause, found {t:?}")));
            };
            let clause = clause.to_ascii_uppercase();
            if !seen.insert(clause.clone()) {
                return Err(syntax(format!("the {clause} clause twice")));
            }
            self.at += 1;
            loop {
                match clause.as_str() {
                    "SET" => {
                        let path = self.path()?;
                        self.expect("=")?;
                        let to = self.set_operand()?;
                        w.actions.set.push((path, to));
                    }
                    "REMOVE" => {
                        let path = self.path()?;
                        w.actions.remove.push(path);
                    }
                    "ADD" | "DELETE" => {
                        let path = self.path()?;
                        let v = self.value()?;
                        if clause == "ADD" {
                            w.actions.add.push((path, v));
                        } else {
                            w.actions.delete.push((path, v));
                        }
                    }
                    other => return Err(syntax(format!("unknown clause {other}"))),
                }
                if self.is_punct(",") {
                    self.at += 1;
                } else {
                    break;
                }
            }
        }
        Ok(())
    }

    fn path(&mut self) -> Result<Path, Invalid> {
        let mut steps = vec![self.path_name()?];
        loop {
            if self.is_punct(".") {
                self.at += 1;
                steps.push(self.path_name()?);
            } else if self.is_punct("[") {
                self.at += 1;
                let Token::Number(i) = self.next()? else {
                    return Err(syntax("a list index must be a number"));
                };
                self.expect("]")?;
                steps.push(Step::Index(i));
            } else {
                return Ok(Path(steps));
            }
        }
    }

    fn path_name(&mut self) -> Result<Step, Invalid> {
        let key = match self.next()? {
            Token::Word(w) => w,
            Token::Name(n) => {
                let key = self.names.get(&n).cloned().ok_or_else(|| {
                    Invalid(format!(
                        "An expression attribute name used in the document path is not defined; attribute name: {n}"
                    ))
                })?;
                self.used_names.insert(n);
                key
            }
            t => return Err(syntax(format!("expected a path, found {t:?}"))),
        };
        Ok(Step::Key { hint: NAME, key })
    }

    fn value(&mut self) -> Result<Val, Invalid> {
        let Token::Value(v) = self.next()? else {
            return Err(syntax("expected a value placeholder"));
        };
        let value = self.values.get(&v).cloned().ok_or_else(|| {
            Invalid(format!(
                "An expression attribute value used in expression is not defined; attribute value: {v}"
            ))
        })?;
        self.used_values.insert(v);
        Ok(Val { hint: VALUE, value })
    }

    /// A `SET` operand: a term, or two added.
    fn set_operand(&mut self) -> Result<Operand, Invalid> {
        let a = self.set_term()?;
        if self.is_punct("+") {
            self.at += 1;
            let b = self.set_term()?;
            return Ok(a.plus(b));
        }
        Ok(a)
    }

    fn set_term(&mut self) -> Result<Operand, Invalid> {
        if self.is_call("if_not_exists") {
            self.at += 1;
            self.expect("(")?;
            let p = self.path()?;
            self.expect(",")?;
            let o = self.set_operand()?;
            self.expect(")")?;
            return Ok(Operand::IfNotExists(p, Box::new(o)));
        }
        if self.is_call("list_append") {
            self.at += 1;
            self.expect("(")?;
            let a = self.set_operand()?;
            self.expect(",")?;
            let b = self.set_operand()?;
            self.expect(")")?;
            return Ok(Operand::ListAppend(Box::new(a), Box::new(b)));
        }
        self.operand()
    }

    /// A condition operand: a path, a value or `size(path)`.
    fn operand(&mut self) -> Result<Operand, Invalid> {
        if matches!(self.peek(), Some(Token::Value(_))) {
            return Ok(Operand::Value(self.value()?));
        }
        if self.is_call("size") {
            self.at += 2;
            let p = self.path()?;
            self.expect(")")?;
            return Ok(Operand::Size(p));
        }
        Ok(Operand::Path(self.path()?))
    }

    fn or(&mut self) -> Result<Cond, Invalid> {
        let mut any = vec![self.and()?];
        while self.is_word("OR") {
            self.at += 1;
            any.push(self.and()?);
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Cond::Or(any)
        })
    }

    fn and(&mut self) -> Result<Cond, Invalid> {
        let mut all = vec![self.not()?];
        while self.is_word("AND") {
            self.at += 1;
            all.push(self.not()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Cond::And(all)
        })
    }

    fn not(&mut self) -> Result<Cond, Invalid> {
        if self.is_word("NOT") {
            self.at += 1;
            return Ok(!self.not()?);
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, Invalid> {
        if self.is_punct("(") {
            self.at += 1;
            let c = self.or()?;
            self.expect(")")?;
            return Ok(c);
        }
        for f in ["attribute_exists", "attribute_not_exists", "contains"] {
            if self.is_call(f) {
                self.at += 2;
                let p = self.path()?;
                let c = if f == "contains" {
                    self.expect(",")?;
                    Cond::Contains(p, self.operand()?)
                } else if f == "attribute_exists" {
                    Cond::Exists(p)
                } else {
                    Cond::NotExists(p)
                };
                self.expect(")")?;
                return Ok(c);
            }
        }
        let a = self.operand()?;
        let op = match self.next()? {
            Token::Punct("=") => Cmp::Eq,
            Token::Punct("<>") => Cmp::Ne,
            Token::Punct("<") => Cmp::Lt,
            Token::Punct("<=") => Cmp::Le,
            Token::Punct(">") => Cmp::Gt,
            Token::Punct(">=") => Cmp::Ge,
            t => return Err(syntax(format!("expected a comparison, found {t:?}"))),
        };
        let b = self.operand()?;
        if let (Operand::Path(x), Operand::Path(y)) = (&a, &b) {
            if x == y {
                return Err(Invalid(
                    "The first operand must be distinct from the remaining operands".into(),
                ));
            }
        }
        Ok(Cond::cmp(a, op, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::{Applied, MemoryTable};

    fn n(v: u64) -> AttributeValue {
        AttributeValue::N(v.to_string())
    }

    fn vals(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn a_parsed_write_applies_as_dynamodb_would() {
        let mut t = MemoryTable::default();
        let names = HashMap::from([("#me".to_string(), "abc".to_string())]);
        let values = vals(&[(":now", n(5)), (":x", n(9)), (":one", n(1))]);
        let w = parse_write(
            "SET expires_at_ms = :x, fence = if_not_exists(fence, :now) + :one, m = if_not_exists(m, :x) REMOVE gone",
            Some("attribute_not_exists(resource_id) OR (expires_at_ms <= :now AND NOT contains(#me, :one))"),
            &names,
            &values,
        )
        .unwrap();
        let Applied::Written(item) = t.update("resource_id", "r", &w).unwrap() else {
            panic!("refused")
        };
        assert_eq!(item["fence"], n(6));
        assert_eq!(item["expires_at_ms"], n(9));
        // Now the lease ends at 9 > 5: refused, and the old item comes back.
        assert!(matches!(
            t.update("resource_id", "r", &w).unwrap(),
            Applied::Refused(Some(_))
        ));
    }

    #[test]
    fn placeholders_missing_or_unused_are_refused_as_dynamodb_refuses_them() {
        let none = HashMap::new();
        let one = vals(&[(":a", n(1))]);
        assert!(parse_write("SET x = :b", None, &none, &one).is_err());
        assert!(parse_write(
            "SET x = :a",
            Some("y = :a"),
            &none,
            &vals(&[(":a", n(1)), (":a1", n(2))])
        )
        .is_err());
        let names = HashMap::from([("#n".to_string(), "x".to_string())]);
        assert!(parse_write("SET x = :a", None, &names, &one).is_err());
        assert!(parse_write("SET #n = :a", None, &names, &one).is_ok());
        assert!(parse_write("SET x = :a", Some("#m = :a"), &none, &one).is_err());
        // No empty sets (a `DELETE wset :gone` with nothing to remove is no request at all).
        let set = |v: &[&str]| AttributeValue::Ss(v.iter().map(|s| s.to_string()).collect());
        assert!(parse_write("DELETE s :g", None, &none, &vals(&[(":g", set(&[]))])).is_err());
        assert!(parse_write("DELETE s :g", None, &none, &vals(&[(":g", set(&["a"]))])).is_ok());
    }

    #[test]
    fn the_grammar_lock_fn_uses_parses_with_the_precedence_dynamodb_gives_it() {
        let v = vals(&[(":a", n(1)), (":b", n(2))]);
        let w = parse_write(
            "",
            Some("x = :a OR y = :b AND NOT z = :a"),
            &HashMap::new(),
            &v,
        )
        .unwrap();
        let Cond::Or(any) = &w.conditions[0] else {
            panic!("{w:?}")
        };
        assert!(matches!(&any[1], Cond::And(all) if matches!(all[1], Cond::Not(_))));
        let w = parse_write(
            "REMOVE l[3], l[1] ADD s :a DELETE t :b",
            None,
            &HashMap::new(),
            &v,
        )
        .unwrap();
        assert_eq!(w.actions.remove.len(), 2);
        assert_eq!(w.actions.remove[0].0[1], Step::Index(3));
        assert!(parse_write("SET x = :a SET y = :b", None, &HashMap::new(), &v).is_err());
        assert!(parse_write("", Some("x = x"), &HashMap::new(), &HashMap::new()).is_err());
        assert!(parse_write("", Some("size(w) > :a AND :b > :a"), &HashMap::new(), &v).is_ok());
    }
}
