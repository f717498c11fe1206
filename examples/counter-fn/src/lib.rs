//! An example Lambda function that coordinates with its other invocations through the lock.
//!
//! Each invocation increments one counter item under the lock named after it:
//! 1. it sizes the lease from its own deadline ([`lock_client::lambda_lease::InvocationBudget`]) and
//!    refuses the work (`InsufficientTime`) when too little time is left;
//! 2. it takes the lock, waiting no longer than still leaves time to work;
//! 3. it claims the counter item with its fence, reads it and writes it plus one - fenced writes
//!    ([`lock_client::fenced`]), so a holder that lost its lease never overwrites a newer one;
//! 4. it releases the lock on every exit path: success, error and panic.
//!
//! A timed-out invocation that Lambda stops leaves the lock to its lease, which ends one second
//! ([`lock_client::lambda_lease::DEADLINE_GRACE`]) after the deadline.

pub mod app;
pub mod counter;
pub mod error;
pub mod request;
