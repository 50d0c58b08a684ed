//! `api`: tenants, campaigns (start, pause, resume), lead import, leads and
//! the do-not-call list under `/v1`.

use lambda_http::{Error, service_fn};
use leadline_aws::{Aws, DynamoStore};
use leadline_service::api::Api;
use leadline_service::{config, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    let aws = Aws::from_env().await;
    let store = DynamoStore::from_aws(&aws, config::table_name()?);
    let queue = wiring::dial_queue(&aws)?;
    let follow_ups = wiring::follow_ups(&aws)?;
    let api = Api::new(
        store,
        queue,
        follow_ups,
        config::clock()?,
        &config::admin_api_key()?,
    );
    let api = &api;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(api.handle(req).await)
    }))
    .await
}
