//! `messaging-webhook`: what leads write and what the providers report, at
//! `/webhooks/twilio` (inbound SMS), `/webhooks/twilio/status` (status
//! callbacks), `/webhooks/whatsapp` (handshake, messages, statuses) and
//! `/webhooks/sendgrid` (the Event Webhook).

use lambda_http::{Error, service_fn};
use leadline_aws::{Aws, DynamoStore};
use leadline_service::messaging_webhook::MessagingWebhook;
use leadline_service::{config, wiring};
use tokio::sync::OnceCell;

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    let table = config::table_name()?;
    let clock = config::clock()?;
    let messaging = config::messaging()?;
    config::message_queue_url()?;
    // The SDK and its clients are built by the first request, once.
    let webhook = OnceCell::new();
    let build = || async {
        let aws = Aws::from_env().await;
        Ok::<_, Error>(MessagingWebhook::new(
            DynamoStore::from_aws(&aws, table.clone()),
            wiring::message_queue(&aws)?,
            wiring::tenant_accounts(&aws, &messaging.tenant_secrets_prefix),
            messaging.deployment.clone(),
            messaging.public_base_url.clone(),
            clock,
        ))
    };
    let (webhook, build) = (&webhook, &build);
    lambda_http::run(service_fn(move |req| async move {
        let webhook = webhook.get_or_try_init(build).await?;
        Ok::<_, Error>(webhook.handle(req).await)
    }))
    .await
}
