//! Step Functions waiters: waking a task with its grant (`SendTaskSuccess`) or refusing it
//! (`SendTaskFailure`), through the SDK or the simulator's tasks.

pub(crate) mod grant_output;
pub mod notify;
pub(crate) mod sim_tasks;
