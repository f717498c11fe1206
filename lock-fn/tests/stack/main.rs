//! lock-fn's integration tests in one binary (one link instead of fourteen): the engine on the local
//! stack (dynalite, moto, the fault proxy), the handler, the differential test of the in-memory store,
//! and the template. Tests that capture logs or point the process at the Runtime API sit in binaries
//! of their own (`lost_lease_logging`, `throttle_logging`, `invocation_loop`): tracing caches per
//! process which log sites are enabled, and the runtime's environment is per process.

#[path = "../support/mod.rs"]
mod support;

mod callbacks;
mod contention;
mod differential;
mod engine_semantics;
mod faults;
mod handler_rejects_without_writing;
mod lost_answers;
mod mixed_fleet;
mod moto_all_old;
mod queue;
mod safety;
mod semaphore;
mod store_errors;
mod template;
