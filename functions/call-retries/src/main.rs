//! `call-retries`: the sweep every 15 minutes: stuck calls settled with the
//! provider, owed calls (retries, callbacks) whose schedule never fired, and
//! messages that never reached the messenger. The owed calls' own schedules
//! target the dial queue.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use leadline_aws::{Aws, DynamoStore};
use leadline_service::retries::Retries;
use leadline_service::{config, wiring};
use tokio::sync::OnceCell;

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    // The environment is read at init, so that a deployment missing a
    // variable fails there (wiring reads the queues' and providers' again).
    let table = config::table_name()?;
    let clock = config::clock()?;
    config::dial_queue()?;
    config::message_queue_url()?;
    config::provider_timeout()?;
    config::retell()?;
    config::vapi()?;
    // The SDK and its clients, and the provider clients, are built by the
    // first sweep, once: ~0.7 ms out of init (docs/performance.md, "Cold start").
    let retries = OnceCell::new();
    let build = || async {
        let aws = Aws::from_env().await;
        Ok::<_, Error>(Retries {
            store: DynamoStore::from_aws(&aws, table.clone()),
            queue: wiring::dial_queue(&aws)?,
            lookups: wiring::dialers()?,
            follow_ups: wiring::follow_ups(&aws)?,
            messages: wiring::message_queue_with_one_offs(&aws)?,
            clock,
        })
    };
    let (retries, build) = (&retries, &build);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let retries = retries.get_or_try_init(build).await?;
            Ok::<_, Error>(retries.handle(event.payload).await?)
        },
    ))
    .await
}
