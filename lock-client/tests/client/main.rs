//! lock-client's tests in one binary (one link instead of seven): the client and the `dlm` CLI
//! end to end against lock-fn behind the local stack's `cargo lambda watch` (with the fault proxy
//! between them where a test needs it), and against a fake Lambda for answers lock-fn never gives.
//! `e2e_semaphore` sits alone: it bounds in real time (500 ms) how soon a dead holder's slot is
//! taken again, which holds only while no other suite keeps the stack's lock-fn processes busy.

#[path = "../support/mod.rs"]
mod support;

mod client_give_up;
mod dlm_cli;
mod e2e_client;
mod e2e_contention;
#[cfg(feature = "fenced")]
mod e2e_fenced;
mod e2e_give_up;
mod e2e_metrics;
mod e2e_queue;
mod e2e_safety;
mod transport;
