//! Size and range limits every request is checked against before anything is written.

/// Longest accepted `resource_id`, in UTF-8 bytes (DynamoDB's partition key limit).
pub const MAX_RESOURCE_ID_BYTES: usize = 2048;

/// Longest accepted `owner`, in UTF-8 bytes.
pub const MAX_OWNER_BYTES: usize = 1024;

/// Longest accepted `wait_ms`: 15 minutes, the longest a Lambda invocation can run.
pub const MAX_WAIT_MS: u64 = 15 * 60 * 1000;

/// Largest accepted semaphore `limit` (holders at once). Every holder lives in the one item of its
/// resource, so each write of a full semaphore costs about one write unit per 10 holders (DESIGN.md).
pub const MAX_LIMIT: u32 = 100;

/// Longest accepted `holder` label, in UTF-8 bytes.
pub const MAX_HOLDER_BYTES: usize = 256;

/// Longest accepted `task_token`, in UTF-8 bytes (Step Functions tokens are up to about 2,048
/// characters; every queued token is stored in the lock item until the waiter is served).
pub const MAX_TASK_TOKEN_BYTES: usize = 4096;

/// Resource ids that start with this are lock-fn's own items (its in-function waiting budget's
/// slots) and are refused in requests.
pub const RESERVED_RESOURCE_PREFIX: &str = ".lock-fn/";
