//! Size and range limits every request is checked against before anything is written.

/// Longest accepted `resource_id`, in UTF-8 bytes (DynamoDB's partition key limit).
pub const MAX_RESOURCE_ID_BYTES: usize = 2048;

/// Longest accepted `owner`, in UTF-8 bytes.
pub const MAX_OWNER_BYTES: usize = 1024;

/// Longest accepted `wait_ms`: 15 minutes, the longest a Lambda invocation can run.
pub const MAX_WAIT_MS: u64 = 15 * 60 * 1000;

/// Longest accepted `holder` label, in UTF-8 bytes.
pub const MAX_HOLDER_BYTES: usize = 256;
