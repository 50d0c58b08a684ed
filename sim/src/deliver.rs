//! Webhook delivery as each provider does it (Retell signs and retries,
//! Vapi sends its secret once), bent by the delivery faults.

use std::time::{Duration, Instant};

use axum::http::header::CONTENT_TYPE;
use jiff::Timestamp;
use reqwest::RequestBuilder;
use tokio::sync::oneshot;
use tracing::{debug, warn};

use crate::config::SimConfig;
use crate::provider::Provider;
use crate::records::{DeliveryRecord, DeliveryResult};
use crate::state::SimControl;
use crate::{retell, vapi};

/// Where a webhook goes, when a call names its own server (Vapi).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WebhookTarget {
    pub url: String,
    pub secret: Option<String>,
}

/// Where a call's webhooks go, and the Vapi secret they carry: the call's
/// own server, else the account's webhook URL (and the account's secret).
pub(crate) fn webhook_destination(
    control: &SimControl,
    provider: Provider,
    target: Option<&WebhookTarget>,
) -> (Option<String>, Option<String>) {
    match target {
        Some(target) => (Some(target.url.clone()), target.secret.clone()),
        None => (control.webhook_url(provider), None),
    }
}

/// Shows that `request` comes from the provider, as the provider does:
/// Retell signs `body` (`x-retell-signature`), Vapi sends the call's own
/// secret, else the account's (`x-vapi-secret`).
pub(crate) fn authenticate(
    request: RequestBuilder,
    config: &SimConfig,
    provider: Provider,
    body: &[u8],
    vapi_secret: Option<&str>,
) -> RequestBuilder {
    match provider {
        Provider::Retell => {
            let now_ms = Timestamp::now().as_millisecond().max(0) as u64;
            let signature = retell::signature_header(body, &config.retell_api_key, now_ms);
            request.header("x-retell-signature", signature)
        }
        Provider::Vapi => request.header(
            "x-vapi-secret",
            vapi_secret.unwrap_or(&config.vapi_webhook_secret),
        ),
    }
}

/// One encoded provider event, ready to send.
#[derive(Debug)]
pub(crate) struct Webhook {
    pub provider: Provider,
    pub call_id: String,
    pub to: String,
    pub event: String,
    /// The end of the call or its analysis: what the `drop` and `drop_final`
    /// faults swallow.
    pub terminal: bool,
    pub body: Vec<u8>,
    /// Overrides the account's webhook URL.
    pub target: Option<WebhookTarget>,
}

/// Sends a call's webhooks in order: each one's first attempt waits for the
/// previous one's, while retries go on in the background (Retell: "triggered
/// in order, but not blocking").
#[derive(Default)]
pub(crate) struct DeliveryChain {
    previous: Option<oneshot::Receiver<()>>,
}

impl DeliveryChain {
    pub(crate) fn send(&mut self, control: &SimControl, webhook: Webhook) {
        let (done, next) = oneshot::channel();
        let after = self.previous.replace(next);
        control.spawn(deliver(control.clone(), webhook, after, done));
    }
}

async fn deliver(
    control: SimControl,
    webhook: Webhook,
    after: Option<oneshot::Receiver<()>>,
    done: oneshot::Sender<()>,
) {
    if let Some(previous) = after {
        // An error only means the previous delivery's task is gone.
        let _ = previous.await;
    }
    let faults = control.delivery_faults(webhook.provider, &webhook.to);
    if webhook.terminal && (faults.drop || faults.drop_final) {
        debug!(call_id = %webhook.call_id, event = %webhook.event, "dropped by fault");
        let attempt = Attempt::first(&webhook, 1);
        control.log_delivery(attempt.record(None, None, DeliveryResult::Dropped, Duration::ZERO));
        let _ = done.send(());
        return;
    }
    tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
    let copies = if faults.duplicate { 2 } else { 1 };
    let mut unacknowledged = Vec::new();
    for copy in 1..=copies {
        if Attempt::first(&webhook, copy)
            .run(&control)
            .await
            .worth_retrying()
        {
            unacknowledged.push(copy);
        }
    }
    let _ = done.send(());
    let retries = match webhook.provider {
        Provider::Retell => retell::WEBHOOK_RETRIES,
        Provider::Vapi => 0,
    };
    for copy in unacknowledged {
        for number in 2..=1 + retries {
            tokio::time::sleep(control.config().scaled(1.0)).await;
            let retry = Attempt {
                webhook: &webhook,
                copy,
                number,
            };
            if !retry.run(&control).await.worth_retrying() {
                break;
            }
        }
    }
}

impl DeliveryResult {
    fn worth_retrying(self) -> bool {
        matches!(
            self,
            DeliveryResult::Refused | DeliveryResult::Timeout | DeliveryResult::Unreachable
        )
    }
}

/// One POST of one copy of a webhook.
struct Attempt<'a> {
    webhook: &'a Webhook,
    /// 1, or 2 for the duplicate.
    copy: u8,
    /// 1 for the first try.
    number: u32,
}

impl<'a> Attempt<'a> {
    fn first(webhook: &'a Webhook, copy: u8) -> Self {
        Attempt {
            webhook,
            copy,
            number: 1,
        }
    }

    /// Sends the webhook and records how it went.
    async fn run(&self, control: &SimControl) -> DeliveryResult {
        let webhook = self.webhook;
        let (url, secret) = webhook_destination(control, webhook.provider, webhook.target.as_ref());
        let Some(url) = url else {
            let result = DeliveryResult::NoWebhookUrl;
            control.log_delivery(self.record(None, None, result, Duration::ZERO));
            return result;
        };
        let config = control.config();
        let timeout = match webhook.provider {
            Provider::Retell => retell::WEBHOOK_TIMEOUT_SECONDS,
            Provider::Vapi => vapi::WEBHOOK_TIMEOUT_SECONDS,
        };
        let request = control
            .http()
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .timeout(config.webhook_timeout(timeout))
            .body(webhook.body.clone());
        let request = authenticate(
            request,
            config,
            webhook.provider,
            &webhook.body,
            secret.as_deref(),
        );
        let started = Instant::now();
        let (status, result) = match request.send().await {
            Ok(response) if response.status().is_success() => {
                (Some(response.status().as_u16()), DeliveryResult::Delivered)
            }
            Ok(response) => (Some(response.status().as_u16()), DeliveryResult::Refused),
            Err(e) if e.is_timeout() => (None, DeliveryResult::Timeout),
            Err(e) => {
                warn!(%url, "webhook delivery failed: {e}");
                (None, DeliveryResult::Unreachable)
            }
        };
        debug!(
            call_id = %webhook.call_id, event = %webhook.event, copy = self.copy,
            attempt = self.number, ?status, ?result, "webhook"
        );
        control.log_delivery(self.record(Some(url), status, result, started.elapsed()));
        result
    }

    fn record(
        &self,
        url: Option<String>,
        status: Option<u16>,
        result: DeliveryResult,
        elapsed: Duration,
    ) -> DeliveryRecord {
        DeliveryRecord {
            seq: 0,
            provider: self.webhook.provider,
            call_id: self.webhook.call_id.clone(),
            to: self.webhook.to.clone(),
            event: self.webhook.event.clone(),
            copy: self.copy,
            attempt: self.number,
            at: Timestamp::now(),
            url,
            status,
            result,
            elapsed_ms: elapsed.as_millis() as u64,
        }
    }
}
