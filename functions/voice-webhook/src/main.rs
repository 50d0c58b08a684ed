//! `voice-webhook`: Retell's and Vapi's call events at `/webhooks/retell`
//! and `/webhooks/vapi`, and the agent's function calls during a call
//! (Retell at `/webhooks/retell/tools`, Vapi `tool-calls` at `/webhooks/vapi`).

use lambda_http::{Error, service_fn};
use leadline_aws::{Aws, DynamoStore};
use leadline_service::cache::CachedBusinesses;
use leadline_service::voice_webhook::{VapiAuth, VoiceWebhook};
use leadline_service::{config, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    let aws = Aws::from_env().await;
    let store = DynamoStore::from_aws(&aws, config::table_name()?);
    let webhook = VoiceWebhook {
        businesses: CachedBusinesses::new(store.clone(), CachedBusinesses::<()>::TTL),
        calendar: wiring::calendar()?,
        store,
        follow_ups: wiring::follow_ups(&aws)?,
        messages: wiring::message_queue(&aws)?,
        // The SQS and Scheduler clients the two lines above built, shared.
        dial_queue: wiring::dial_queue(&aws)?,
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
