//! Client for the Lambda-native DynamoDB lock.
//!
//! [`LockClient`] takes locks over the Lambda Invoke API (`acquire`, `try_acquire`,
//! `acquire_timeout`, `with_lock`), [`LockGuard`] holds one, [`LeaseWatch`] tells when it is lost.
//! [`raw`] has the single-invoke operations for callers that manage owners themselves. The wire
//! types are the `lock-protocol` crate, re-exported as [`protocol`].
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

pub use lock_protocol as protocol;

mod aws_http;
mod client;
mod config;
mod credentials_cache;
mod duration;
mod error;
#[cfg(feature = "fenced")]
pub mod fenced;
mod guard;
mod invoke;
mod lambda_api;
mod lambda_endpoint;
pub mod lambda_lease;
mod lease_length;
mod lease_watch;
pub mod raw;
mod wait;
mod with_lock;

pub use client::{LockClient, DEFAULT_WAIT_CHUNK};
pub use config::{DEFAULT_DURATION, DEFAULT_FUNCTION, ENV_DURATION, ENV_FUNCTION};
pub use duration::{parse_duration, DURATION_FORMAT};
pub use error::ClientError;
pub use guard::LockGuard;
pub use lease_watch::{LeaseState, LeaseWatch};
pub use wait::WaitProgress;
