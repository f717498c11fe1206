//! The lock item: its attributes, holders, queue and records, read from DynamoDB's attribute maps
//! (`TryFrom`), and the fencing scheme's constants. No I/O and no decisions.

pub mod fence;
pub mod grant;
pub mod item;
pub(crate) mod owner;
