//! A Lambda function that answers its payload: the emulator's invoke floor for the benchmarks. It
//! runs on lock-fn's own invocation loop, so the floor is the invoke path lock-fn itself uses.

use lambda_runtime::{Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lock_fn::lambda::invocation_loop::run(|event: LambdaEvent<Value>| async move {
        Ok::<_, Diagnostic>(event.payload)
    })
    .await
}
