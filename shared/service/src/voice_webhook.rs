//! The `voice-webhook` function: Retell's and Vapi's call events. Each is
//! verified on its raw bytes before anything is read, mapped into one
//! provider-neutral event, and applied with one read and one transactional
//! write; the answer is a 2xx well inside the providers' timeouts.

use lambda_http::Request;
use lambda_http::http::StatusCode;
use leadline_core::call::CallEvent;
use leadline_core::call_events::{EventResult, apply_call_event_with_effects};
use leadline_core::follow_up::carry_out;
use leadline_core::ports::{CallStore, FollowUpScheduler, LeadStore, MessageQueue};
use leadline_core::{Clock, Error};
use leadline_voice::{HmacAlgorithm, SignatureError, VapiHmac, retell, vapi};

use crate::http::{HttpResponse, body_bytes, error, from_error, json};

/// How Vapi's server messages prove where they come from.
pub enum VapiAuth {
    /// The legacy `x-vapi-secret` shared secret.
    Secret(String),
    /// An HMAC credential.
    Hmac(VapiHmac),
}

impl VapiAuth {
    /// The HMAC credential when one is configured, else the shared secret.
    pub fn from_config(config: &crate::config::VapiConfig) -> Result<Self, Error> {
        match (&config.webhook_hmac_secret, &config.webhook_secret) {
            (Some(secret), _) => Ok(VapiAuth::Hmac(VapiHmac::new(
                secret.clone(),
                HmacAlgorithm::Sha256,
            ))),
            (None, Some(secret)) => Ok(VapiAuth::Secret(secret.clone())),
            (None, None) => Err(Error::Internal(
                "set VAPI_WEBHOOK_SECRET or VAPI_WEBHOOK_HMAC_SECRET".into(),
            )),
        }
    }
}

pub struct VoiceWebhook<S, F, M, C> {
    pub store: S,
    /// Where the schedules of owed calls (retries, callbacks) are made.
    pub follow_ups: F,
    /// The messenger's queue (fallback messages of exhausted leads).
    pub messages: M,
    pub clock: C,
    pub retell_api_key: String,
    pub vapi: VapiAuth,
}

#[derive(Clone, Copy, Debug)]
enum Provider {
    Retell,
    Vapi,
}

impl<S, F, M, C> VoiceWebhook<S, F, M, C>
where
    S: CallStore + LeadStore,
    F: FollowUpScheduler,
    M: MessageQueue,
    C: Clock,
{
    pub async fn handle(&self, req: Request) -> HttpResponse {
        let path = req.uri().path().trim_end_matches('/');
        let provider = if path.ends_with("/webhooks/retell") {
            Provider::Retell
        } else if path.ends_with("/webhooks/vapi") {
            Provider::Vapi
        } else {
            return error(
                StatusCode::NOT_FOUND,
                "no_route",
                &format!("no route {path}"),
            );
        };
        if let Err(e) = self.verify(provider, &req) {
            tracing::warn!(?provider, error = %e, "webhook refused: bad signature");
            return error(StatusCode::UNAUTHORIZED, "unauthorized", &e.to_string());
        }
        let body = body_bytes(&req);
        let parsed = match provider {
            Provider::Retell => retell::parse_event(body),
            Provider::Vapi => vapi::parse_event(body),
        };
        let event = match parsed {
            Ok(Some(event)) => event,
            Ok(None) => return acknowledged(provider),
            Err(e) => return from_error(&Error::Malformed(e.to_string())),
        };
        let now = self.clock.now();
        match apply_call_event_with_effects(&self.store, &event, now).await {
            Ok(applied) => {
                log(&event, applied.result);
                // The lead already says what it is owed: if its schedule or
                // messages fail here, the sweep does them once they are overdue,
                // so the provider is not asked to deliver the event again.
                if let Err(e) = carry_out(
                    &self.store,
                    &self.follow_ups,
                    &self.messages,
                    &applied.effects,
                    now,
                )
                .await
                {
                    tracing::warn!(dedupe_key = %event.dedupe_key, error = %e, effects = ?applied.effects, "follow-up not carried out; the sweep will");
                }
                acknowledged(provider)
            }
            Err(e) => {
                tracing::warn!(dedupe_key = %event.dedupe_key, error = %e, "call event not applied");
                from_error(&e)
            }
        }
    }

    fn verify(&self, provider: Provider, req: &Request) -> Result<(), SignatureError> {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        let body = body_bytes(req);
        match (provider, &self.vapi) {
            (Provider::Retell, _) => retell::verify(
                header(retell::SIGNATURE_HEADER),
                body,
                &self.retell_api_key,
                // The signature's timestamp is the provider's wall clock.
                self.clock.wall(self.clock.now()).as_millisecond(),
            ),
            (Provider::Vapi, VapiAuth::Secret(secret)) => {
                vapi::verify_secret(header(vapi::SECRET_HEADER), secret)
            }
            (Provider::Vapi, VapiAuth::Hmac(hmac)) => {
                hmac.verify(header, req.method().as_str(), &req.uri().to_string(), body)
            }
        }
    }
}

/// Retell expects no body (its sample answers 204); Vapi any 2xx.
fn acknowledged(provider: Provider) -> HttpResponse {
    match provider {
        Provider::Retell => {
            let mut response = HttpResponse::default();
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Provider::Vapi => json(StatusCode::OK, &serde_json::json!({})),
    }
}

fn log(event: &CallEvent, result: EventResult) {
    let call = event.call.as_ref();
    match result {
        EventResult::NotOurs => tracing::warn!(
            provider_call_id = %event.provider_call_id, dedupe_key = %event.dedupe_key,
            "an event about a call leadline did not start: acknowledged, not applied"
        ),
        EventResult::UnknownCall => tracing::warn!(
            provider_call_id = %event.provider_call_id,
            tenant = call.map(|c| c.tenant.as_str()), lead = call.map(|c| c.lead.as_str()),
            "an event naming an unknown lead or attempt: acknowledged, not applied"
        ),
        result => tracing::info!(
            provider_call_id = %event.provider_call_id, phase = ?event.phase, ?result,
            tenant = call.map(|c| c.tenant.as_str()), lead = call.map(|c| c.lead.as_str()),
            attempt = call.map(|c| c.attempt),
            "call event"
        ),
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::Body;
    use lambda_http::http::Request as HttpRequest;
    use leadline_core::ScaledClock;
    use leadline_core::memory::{MemoryMessages, MemoryScheduler, MemoryStore};

    use super::*;

    #[tokio::test]
    async fn a_retell_signature_is_dated_by_the_wall_clock_even_on_the_demo_clock() {
        let now = jiff::Timestamp::now();
        // Demo time runs 720 times as fast and is days ahead of the wall clock.
        let demo =
            ScaledClock::new(now, now + jiff::SignedDuration::from_hours(72), 720.0).unwrap();
        let webhook = VoiceWebhook {
            store: MemoryStore::default(),
            follow_ups: MemoryScheduler::default(),
            messages: MemoryMessages::default(),
            clock: demo,
            retell_api_key: "key_test".into(),
            vapi: VapiAuth::Secret("s".into()),
        };
        let body = br#"{"event":"call_ended","call":{"call_id":"call_x"}}"#;
        let signed = |at: jiff::Timestamp| {
            HttpRequest::builder()
                .method("POST")
                .uri("/webhooks/retell")
                .header(
                    retell::SIGNATURE_HEADER,
                    retell::sign(body, "key_test", at.as_millisecond()),
                )
                .body(Body::from(&body[..]))
                .unwrap()
        };
        let fresh = webhook.handle(signed(jiff::Timestamp::now())).await;
        assert_eq!(
            fresh.status(),
            StatusCode::NO_CONTENT,
            "a call not ours, acknowledged"
        );
        let dated_in_demo_time = webhook.handle(signed(demo.now())).await;
        assert_eq!(dated_in_demo_time.status(), StatusCode::UNAUTHORIZED);
    }
}
