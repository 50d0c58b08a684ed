//! `call-dispatcher`: places calls from the dial queue within calling hours,
//! suppression, concurrency and pacing, and sweeps started campaigns.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use leadline_aws::{Aws, DynamoStore};
use leadline_service::dial_worker::DialWorker;
use leadline_service::{config, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    let aws = Aws::from_env().await;
    let worker = DialWorker {
        store: DynamoStore::from_aws(&aws, config::table_name()?),
        queue: wiring::dial_queue(&aws)?,
        dialers: wiring::dialers()?,
        clock: config::clock()?,
        limits: config::deployment_limits()?,
    };
    let worker = &worker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(worker.handle(event.payload).await)
    }))
    .await
}
