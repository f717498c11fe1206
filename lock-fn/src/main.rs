//! lock-fn's entry point: settings and the DynamoDB client are made once per cold start.

use lambda_runtime::{tracing, Error, LambdaEvent};
use lock_fn::callbacks::notify::Notifier;
use lock_fn::engine::config::Config;
use lock_fn::engine::LockEngine;
use lock_fn::lambda::emf::EmfWriter;
use lock_fn::lambda::handler::handle;
use lock_fn::lambda::invocation_loop::run_then;
use lock_fn::store::LockStore;
use lock_fn::world::clock::now_ms;
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let store = LockStore::from_env(config.table.clone(), config.store_attempts).await;
    let notifier = Notifier::from_env(config.store_attempts).await;
    let emf = EmfWriter::from_env(&config);
    let engine = LockEngine::new(store, config).with_notifier(notifier);
    // Not `lambda_runtime::run`: it leaks memory on every invocation (see invocation_loop).
    run_then(
        |event: LambdaEvent<Value>| handle(&engine, event),
        || {
            emf.iter()
                .for_each(|w| w.flush(engine.metrics(), &mut std::io::stdout(), now_ms()))
        },
    )
    .await
}
