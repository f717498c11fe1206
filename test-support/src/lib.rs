//! Test and benchmark tooling shared by lock-fn's, lock-client's and the benchmark's suites (never
//! shipped): a fault-injecting HTTP proxy, the lock-table creator, local processes (ports, the Lambda
//! emulator, function processes), the lock-history checker and the EMF checker.

pub mod contention;
pub mod emf;
pub mod fault_proxy;
pub mod history;
pub mod local_procs;
pub mod lock_table;
pub mod requests;
pub mod stack;
