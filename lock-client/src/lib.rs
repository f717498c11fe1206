//! Client for the Lambda-native DynamoDB lock.
//!
//! [`protocol`] is the wire contract shared with lock-fn and [`history`] checks lock histories (both
//! always built). With the default `client` feature the crate also offers [`LockClient`] (acquire,
//! try, time out, over the Lambda Invoke API), [`LockGuard`] and the `dlm` CLI.
//!
//! ```no_run
//! # async fn demo() -> Result<(), lock_client::ClientError> {
//! let client = lock_client::LockClient::from_env().await?;
//! if let Some(guard) = client.try_acquire("nightly-report").await? {
//!     // ... work, passing guard.fence() to what you write ...
//!     guard.release().await?;
//! }
//! # Ok(()) }
//! ```

pub mod error_chain;
pub mod history;
pub mod protocol;

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod error;
#[cfg(feature = "client")]
mod guard;
#[cfg(feature = "client")]
mod invoke;
#[cfg(feature = "client")]
pub mod lambda_lease;
#[cfg(feature = "client")]
mod lease_watch;

#[cfg(feature = "client")]
pub use client::{
    parse_duration, LockClient, WaitProgress, DEFAULT_DURATION, DEFAULT_FUNCTION, ENV_DURATION,
    ENV_FUNCTION,
};
#[cfg(feature = "client")]
pub use error::ClientError;
#[cfg(feature = "client")]
pub use guard::LockGuard;
#[cfg(feature = "client")]
pub use invoke::{Counted, Invoker};
#[cfg(feature = "client")]
pub use lease_watch::{LeaseState, LeaseWatch};
