//! lock-fn: a distributed lock run as an AWS Lambda function beside its DynamoDB table. See
//! DESIGN.md for the item format, the writes and the fencing argument.
//!
//! The layers, each depending only on those above it in this list:
//! - [`world`]: time, fresh tokens and backoff (the wall clock, or the simulator's);
//! - [`model`]: the lock item and its mapping from DynamoDB attributes;
//! - `decide`: pure decisions from an item, a request and the time;
//! - [`write`]: the writes as typed values and their rendering to DynamoDB expressions;
//! - [`store`]: sending writes and reads (DynamoDB or the in-memory table) with retries;
//! - [`callbacks`]: waking Step Functions waiters;
//! - [`engine`]: the loops that read, decide, write and answer;
//! - [`lambda`]: the handler and the invocation loop.

pub mod callbacks;
pub(crate) mod decide;
pub mod engine;
pub mod lambda;
#[cfg(test)]
mod layering;
pub mod model;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
pub mod store;
pub mod world;
pub mod write;
