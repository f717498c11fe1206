//! lock-fn: a distributed lock whose every operation is one DynamoDB conditional write, run as an
//! AWS Lambda function beside its table. See DESIGN.md for the item format and the fencing argument.

mod acquire_queued;
pub mod after_answer;
pub mod backoff;
mod cancel;
pub mod clock;
pub mod config;
pub mod engine;
pub mod error;
pub mod expressions;
pub mod handler;
pub mod invocation_loop;
pub mod item;
pub mod notify;
pub mod owner;
pub mod queue;
pub mod release;
pub mod reply;
pub mod sem_writes;
pub mod semaphore;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
pub mod store;
pub mod store_error;
pub mod wait_budget;
mod wake_head;
pub mod world;
pub mod write;
pub mod writes;
