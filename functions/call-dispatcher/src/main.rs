//! `call-dispatcher`: places calls from the dial queue within calling hours,
//! suppression, concurrency and pacing, and sweeps started campaigns.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use leadline_aws::{Aws, DynamoStore};
use leadline_service::dial_worker::DialWorker;
use leadline_service::{config, wiring};
use tokio::sync::OnceCell;

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    // The environment is read at init, so that a deployment missing a
    // variable fails there (wiring reads the queue's and providers' again).
    let table = config::table_name()?;
    let clock = config::clock()?;
    let limits = config::deployment_limits()?;
    config::dial_queue()?;
    config::provider_timeout()?;
    config::retell()?;
    config::vapi()?;
    // The SDK and its clients, and the provider clients, are built by the
    // first job, once: ~0.7 ms out of init (docs/performance.md, "Cold start").
    let worker = OnceCell::new();
    let build = || async {
        let aws = Aws::from_env().await;
        Ok::<_, Error>(DialWorker {
            store: DynamoStore::from_aws(&aws, table.clone()),
            queue: wiring::dial_queue(&aws)?,
            dialers: wiring::dialers()?,
            clock,
            limits,
        })
    };
    let (worker, build) = (&worker, &build);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        let worker = worker.get_or_try_init(build).await?;
        Ok::<_, Error>(worker.handle(event.payload).await)
    }))
    .await
}
