//! Client for the Lambda-native DynamoDB lock.
//!
//! [`protocol`] is the wire contract shared with lock-fn (always built). With the default `client`
//! feature the crate also offers the Invoke-API client, the lock guard and the `dlm` CLI.

pub mod history;
pub mod protocol;
