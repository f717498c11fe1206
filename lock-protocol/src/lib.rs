//! The wire protocol between callers (our client, Step Functions, boto3) and lock-fn.
//!
//! This crate is the one definition lock-fn and lock-client use: requests are JSON objects with an `op`, answers are
//! the response structs below, failures are Lambda function errors whose `errorType` is an [`ErrorType`].
//! Fields may be added over time; none is ever renamed.

/// The function name the SAM template deploys by default, and the client's default target.
pub const DEFAULT_FUNCTION: &str = "dynamo-dlm-lock";

mod clock;
mod decode;
pub mod error_chain;
mod error_type;
mod limits;
pub mod lock_item;
mod owner_token;
mod request;
mod response;

pub use clock::{deadline_epoch_ms, now_ms};
pub use decode::InvalidRequest;
pub use error_type::{ErrorType, FunctionError, MAYBE_APPLIED};
pub use limits::{
    MAX_HOLDER_BYTES, MAX_LIMIT, MAX_OWNER_BYTES, MAX_RESOURCE_ID_BYTES, MAX_TASK_TOKEN_BYTES,
    MAX_WAIT_MS, RESERVED_RESOURCE_PREFIX,
};
pub use owner_token::{new_owner_token, owner_digest};
pub use request::{
    AcquireRequest, CancelRequest, DescribeRequest, OnBusy, ReleaseRequest, RenewRequest, Request,
};
pub use response::{
    AcquireResponse, Busy, CancelResponse, DescribeResponse, Grant, HolderInfo, QueuedWaiter,
    ReleaseResponse, RenewResponse, Renewal,
};
