//! `api`: tenants, campaigns, lead import and leads under `/v1`.

use lambda_http::{Error, service_fn};
use leadline_aws::{Aws, DynamoStore};
use leadline_core::time::SystemClock;
use leadline_service::api::Api;
use leadline_service::config;

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    let aws = Aws::from_env().await;
    let store = DynamoStore::new(aws.dynamodb(), config::table_name()?);
    let api = Api::new(store, SystemClock, &config::admin_api_key()?);
    let api = &api;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(api.handle(req).await)
    }))
    .await
}
