//! `call-retries`: the sweep every 15 minutes: stuck calls settled with the
//! provider, owed calls (retries, callbacks) whose schedule never fired, and
//! messages that never reached the messenger. The owed calls' own schedules
//! target the dial queue.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use leadline_aws::{Aws, DynamoStore};
use leadline_service::retries::Retries;
use leadline_service::{config, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    let aws = Aws::from_env().await;
    let retries = Retries {
        store: DynamoStore::from_aws(&aws, config::table_name()?),
        queue: wiring::dial_queue(&aws)?,
        lookups: wiring::dialers()?,
        follow_ups: wiring::follow_ups(&aws)?,
        messages: wiring::message_queue(&aws)?,
        clock: config::clock()?,
    };
    let retries = &retries;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, Error>(retries.handle(event.payload).await?)
        },
    ))
    .await
}
