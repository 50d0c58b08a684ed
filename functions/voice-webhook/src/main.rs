//! `voice-webhook`: Retell's and Vapi's call events at `/webhooks/retell`
//! and `/webhooks/vapi`.

use lambda_http::{Error, service_fn};
use leadline_aws::{Aws, DynamoStore};
use leadline_core::time::SystemClock;
use leadline_service::config;
use leadline_service::voice_webhook::{VapiAuth, VoiceWebhook};

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    let aws = Aws::from_env().await;
    let webhook = VoiceWebhook {
        store: DynamoStore::new(aws.dynamodb(), config::table_name()?),
        clock: SystemClock,
        retell_api_key: config::retell()?.api_key,
        vapi: VapiAuth::from_config(&config::vapi()?)?,
    };
    let webhook = &webhook;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(webhook.handle(req).await)
    }))
    .await
}
