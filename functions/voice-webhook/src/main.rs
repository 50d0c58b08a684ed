//! `voice-webhook`: Retell's and Vapi's call events at `/webhooks/retell`
//! and `/webhooks/vapi`, their inbound call requests (Retell `call_inbound`,
//! Vapi `assistant-request`) at the same URLs, and the agent's function
//! calls during a call (Retell at `/webhooks/retell/tools`, Vapi
//! `tool-calls` at `/webhooks/vapi`).

use lambda_http::{Error, service_fn};
use leadline_aws::{Aws, DynamoStore};
use leadline_service::cache::CachedBusinesses;
use leadline_service::voice_webhook::{InboundSettings, VapiAuth, VoiceWebhook};
use leadline_service::{config, wiring};
use tokio::sync::OnceCell;

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    // The environment is read at init, so that a deployment missing a
    // variable fails there (wiring reads the queues' and Cal.com's again).
    let table = config::table_name()?;
    let clock = config::clock()?;
    let retell_api_key = config::retell()?.api_key;
    let vapi = config::vapi()?;
    VapiAuth::from_config(&vapi)?;
    let inbound = InboundSettings::from_config()?;
    config::dial_queue()?;
    config::message_queue_url()?;
    config::calcom()?;
    // The SDK and its clients, and the Cal.com client, are built by the
    // first request, once: ~0.7 ms out of init (docs/performance.md, "Cold start").
    let webhook = OnceCell::new();
    let build = || async {
        let aws = Aws::from_env().await;
        let store = DynamoStore::from_aws(&aws, table.clone());
        Ok::<_, Error>(VoiceWebhook {
            businesses: CachedBusinesses::new(store.clone(), CachedBusinesses::<()>::TTL),
            calendar: wiring::calendar()?,
            store,
            follow_ups: wiring::follow_ups(&aws)?,
            messages: wiring::message_queue(&aws)?,
            // The SQS and Scheduler clients the two lines above built, shared.
            dial_queue: wiring::dial_queue(&aws)?,
            clock,
            retell_api_key: retell_api_key.clone(),
            vapi: VapiAuth::from_config(&vapi)?,
            inbound: inbound.clone(),
        })
    };
    let (webhook, build) = (&webhook, &build);
    lambda_http::run(service_fn(move |req| async move {
        let webhook = webhook.get_or_try_init(build).await?;
        Ok::<_, Error>(webhook.handle(req).await)
    }))
    .await
}
