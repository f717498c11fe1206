//! Pure decisions: from an item as read, a request and the time, the step to take (take, join,
//! wait, hand on, end, refuse) and the queue edit that goes with it. No I/O.

pub mod cancel;
pub mod edit;
#[cfg(test)]
mod fixtures;
pub mod queue;
pub mod release;
pub mod semaphore;
pub mod step;
