//! A second baseline of the cold-start bench: the hello world with the AWS
//! SDK and leadline's adapters linked in, built only when an event comes. Its
//! init against the hello world's is what loading the SDK's code costs before
//! `main` runs; a function's init against it is what building its clients
//! costs.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use leadline_aws::{Aws, DynamoStore};
use leadline_core::ports::TenantStore;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let aws = Aws::from_env().await;
        let store = DynamoStore::from_aws(&aws, "hello-sdk");
        let _ = leadline_service::wiring::dial_queue(&aws);
        let _ = leadline_service::wiring::message_queue(&aws);
        let _ = leadline_service::wiring::dialers();
        let _ = leadline_service::wiring::calendar();
        let tenant = leadline_core::TenantId::parse("hello").map_err(|e| e.to_string())?;
        let _ = store.tenant(&tenant).await;
        Ok::<_, Error>(event.payload)
    }))
    .await
}
