//! counter-fn: increments a counter item under the lock, once per invocation (see the crate docs).

use counter_fn::app::CounterApp;
use lambda_runtime::{service_fn, tracing, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let app = CounterApp::from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        app.handle(event.payload, event.context.deadline).await
    }))
    .await
}
