//! Writes as values: the typed write model ([`expr`]) that renders to DynamoDB expressions, and
//! its reading back from expression strings ([`parse`], what the in-memory table does).

#[cfg(test)]
pub(crate) mod catalogue;
pub(crate) mod end_of_grant;
pub(crate) mod expressions;
pub(crate) mod mutex;
pub(crate) mod semaphore;

pub mod expr;
pub(crate) mod parse;
