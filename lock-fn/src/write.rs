//! Writes as values: the typed write model ([`expr`]) that renders to DynamoDB expressions.

pub mod expr;
