//! lock-fn's integration tests in one binary (one link instead of twelve): the engine on the local
//! stack (dynalite, moto, the fault proxy), the handler, the differential test of the in-memory store,
//! and the template. Tests that capture logs or point the process at the Runtime API sit in binaries
//! of their own (`lost_lease_logging`, `throttle_logging`, `invocation_loop`): tracing caches per
//! process which log sites are enabled, and the runtime's environment is per process. So do the
//! suites with real-time bounds under load (`faults`: recovery within 2 s, lost leases at most a
//! quarter; `contention`: a release within 1 s while waits run): they hold only with the machine to
//! themselves.

#[path = "../support/mod.rs"]
mod support;

mod callbacks;
mod differential;
mod engine_semantics;
mod handler_rejects_without_writing;
mod lost_answers;
mod mixed_fleet;
mod moto_all_old;
mod queue;
mod safety;
mod semaphore;
mod store_errors;
mod template;
