//! `voice-webhook`: Retell's and Vapi's call events at `/webhooks/retell`
//! and `/webhooks/vapi`.

use lambda_http::{Error, service_fn};
use leadline_aws::{Aws, DynamoStore};
use leadline_service::voice_webhook::{VapiAuth, VoiceWebhook};
use leadline_service::{config, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    let aws = Aws::from_env().await;
    let webhook = VoiceWebhook {
        store: DynamoStore::new(aws.dynamodb(), config::table_name()?),
        follow_ups: wiring::follow_ups(&aws)?,
        messages: wiring::message_queue(&aws)?,
        clock: config::clock()?,
        retell_api_key: config::retell()?.api_key,
        vapi: VapiAuth::from_config(&config::vapi()?)?,
    };
    let webhook = &webhook;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(webhook.handle(req).await)
    }))
    .await
}
