//! The `voice-webhook` function: Retell's and Vapi's call events, and the
//! agent's function calls while a caller is on the line. Everything is
//! verified on its raw bytes before anything is read.
//!
//! - Call events are mapped into one provider-neutral event and applied with
//!   one read and one transactional write; the answer is a 2xx well inside
//!   the providers' timeouts.
//! - Inbound calls (Retell's `call_inbound` at `/webhooks/retell`, Vapi's
//!   `assistant-request` at `/webhooks/vapi`) are answered synchronously
//!   with the tenant of the number dialled: the caller recorded as its lead,
//!   the call as the lead's next attempt, and the answer carrying the
//!   business's variables and leadline's call metadata.
//! - Tool calls (Retell custom functions at `/webhooks/retell/tools`, Vapi
//!   `tool-calls` messages at `/webhooks/vapi`) are answered synchronously:
//!   the tenant comes from our call metadata (which must match the attempt
//!   leadline recorded for the call) or the number dialled, and every
//!   answer, including a failure, is something the agent can say.

use lambda_http::Request;
use lambda_http::http::StatusCode;
use leadline_core::appointments::calendar::Calendar;
use leadline_core::calling::call::CallEvent;
use leadline_core::calling::call_events::{EventResult, apply_call_event};
use leadline_core::calling::inbound::{DefaultAgents, InboundAnswer, InboundCall, answer_inbound};
use leadline_core::calling::work::DeploymentLimits;
use leadline_core::in_call::{InCall, Line, ToolCall, ToolReply, UNKNOWN_BUSINESS, resolve_tenant};
use leadline_core::kernel::redact::Redacted;
use leadline_core::ports::{
    BusinessStore, CallStore, DialQueue, FollowUpScheduler, InCallStore, LeadStore, MessageQueue,
    TenantStore,
};
use leadline_core::write::{Commit, EffectPorts};
use leadline_core::{Clock, Error};
use leadline_voice::tools::ToolRequest;
use leadline_voice::{HmacAlgorithm, SignatureError, VapiHmac, retell, vapi};

use crate::http::{HttpResponse, body_bytes, error, json};
use crate::webhook::{self, Webhook as Pipeline};

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

/// How inbound calls are answered.
#[derive(Clone, Debug, Default)]
pub struct InboundSettings {
    /// The deployment's agents (`RETELL_AGENT_ID`, `VAPI_ASSISTANT_ID`), for
    /// tenants that name none of their own.
    pub agents: DefaultAgents,
    /// The longest call (`MAX_CALL_SECONDS`), after which the sweep asks
    /// about an inbound call no event ended.
    pub limits: DeploymentLimits,
}

impl InboundSettings {
    pub fn from_config() -> Result<Self, Error> {
        Ok(Self {
            agents: DefaultAgents {
                retell: crate::config::retell()?.agent_id,
                vapi: crate::config::vapi()?.assistant_id,
            },
            limits: crate::config::deployment_limits()?,
        })
    }
}

pub struct VoiceWebhook<S, F, M, C, B, K, Q> {
    pub store: S,
    /// Businesses, cached for a short time ([`crate::cache::CachedBusinesses`]).
    pub businesses: B,
    /// The tenants' Cal.com ([`crate::cache::CachedCalendar`]).
    pub calendar: K,
    /// Where the schedules of owed calls (retries, callbacks) are made.
    pub follow_ups: F,
    /// The messenger's queue (fallback messages of exhausted leads).
    pub messages: M,
    /// The dial queue: a call that ends wakes the jobs waiting for its slots.
    pub dial_queue: Q,
    pub clock: C,
    pub retell_api_key: String,
    pub vapi: VapiAuth,
    pub inbound: InboundSettings,
}

#[derive(Clone, Copy, Debug)]
enum Provider {
    Retell,
    Vapi,
}

/// Spoken when our own store fails during a tool call.
const OUR_FAULT: &str =
    "I'm sorry, something went wrong on our side. Someone from the team will follow up with you.";

impl<S, F, M, C, B, K, Q> VoiceWebhook<S, F, M, C, B, K, Q>
where
    S: CallStore + LeadStore + InCallStore + TenantStore + Commit,
    F: FollowUpScheduler,
    M: MessageQueue,
    C: Clock,
    B: BusinessStore,
    K: Calendar,
    Q: DialQueue,
{
    pub async fn handle(&self, req: Request) -> HttpResponse {
        let path = req.uri().path().trim_end_matches('/');
        let (provider, tools_only) = if path.ends_with("/webhooks/retell") {
            (Provider::Retell, false)
        } else if path.ends_with("/webhooks/retell/tools") {
            (Provider::Retell, true)
        } else if path.ends_with("/webhooks/vapi") {
            (Provider::Vapi, false)
        } else {
            return error(
                StatusCode::NOT_FOUND,
                "no_route",
                &format!("no route {path}"),
            );
        };
        let hook = Hook {
            webhook: self,
            provider,
            tools_only,
        };
        webhook::handle(&hook, &req).await
    }

    /// A call event through the runner: it commits the event and carries out
    /// its effects; effects that fail are left to the sweep (their outbox),
    /// so the provider is not asked to deliver the event again.
    async fn apply_event(
        &self,
        provider: Provider,
        event: &CallEvent,
    ) -> Result<HttpResponse, Error> {
        let effects = EffectPorts {
            scheduler: &self.follow_ups,
            dial_queue: &self.dial_queue,
            messages: &self.messages,
        };
        let result = apply_call_event(&self.store, &effects, event, self.clock.now()).await?;
        log(event, result);
        Ok(acknowledged(provider))
    }

    /// An inbound call, answered in the provider's shape. Our own failure:
    /// Retell is answered 5xx and asks again; Vapi does not ask again, so
    /// it is given a sentence to say before it hangs up.
    async fn answer_call(
        &self,
        provider: Provider,
        call: &InboundCall,
    ) -> Result<HttpResponse, Error> {
        let started = std::time::Instant::now();
        let effects = EffectPorts {
            scheduler: &self.follow_ups,
            dial_queue: &self.dial_queue,
            messages: &self.messages,
        };
        let answered = answer_inbound(
            &self.store,
            &self.businesses,
            &effects,
            call,
            &self.inbound.agents,
            self.inbound.limits,
            self.clock.now(),
        )
        .await;
        let answer = match (answered, provider) {
            (Ok(answer), _) => answer,
            (Err(e), Provider::Retell) => return Err(e),
            (Err(e), Provider::Vapi) => {
                tracing::error!(
                    provider_call_id = call.provider_call_id.as_deref(), error = %Redacted(&e),
                    "an inbound call could not be answered"
                );
                return Ok(json(
                    StatusCode::OK,
                    &serde_json::json!({"error": vapi::CANNOT_ANSWER}),
                ));
            }
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &answer {
            InboundAnswer::Answer(greeting) => {
                let ours = greeting.call.as_ref();
                tracing::info!(
                    ?provider, provider_call_id = call.provider_call_id.as_deref(),
                    tenant = %greeting.tenant, lead = ours.map(|c| c.lead.as_str()),
                    attempt = ours.map(|c| c.attempt), withheld_caller = call.caller.is_none(),
                    elapsed_ms, "inbound call answered"
                );
            }
            InboundAnswer::Decline(why) => tracing::warn!(
                ?provider,
                provider_call_id = call.provider_call_id.as_deref(),
                why = why.as_str(),
                elapsed_ms,
                "inbound call declined"
            ),
        }
        Ok(json(
            StatusCode::OK,
            &match provider {
                Provider::Retell => retell::inbound_answer(&answer),
                Provider::Vapi => vapi::assistant_answer(&answer),
            },
        ))
    }

    /// Tool calls, answered synchronously in the provider's shape: a Retell
    /// custom function gets one answer, a Vapi `tool-calls` message one
    /// result per item (failures included).
    async fn answer_tools(&self, provider: Provider, request: &ToolRequest) -> HttpResponse {
        let replies = self.answer(request).await;
        match provider {
            Provider::Retell => {
                let reply = replies
                    .into_iter()
                    .next()
                    .map_or_else(|| ToolReply::Error(OUR_FAULT.into()), |(_, reply)| reply);
                json(StatusCode::OK, &retell::tool_answer(&reply))
            }
            Provider::Vapi => json(
                StatusCode::OK,
                &vapi::tool_results(&replies, &request.malformed),
            ),
        }
    }

    /// Answers every call of a request, concurrently, in their order.
    async fn answer(&self, request: &ToolRequest) -> Vec<(ToolCall, ToolReply)> {
        let started = std::time::Instant::now();
        let line = match self.line(request).await {
            Ok(line) => line,
            Err(e) => {
                tracing::error!(call_id = %request.call_id, error = %Redacted(&e), "the call's tenant could not be read");
                return every(request, OUR_FAULT);
            }
        };
        let Some(line) = line else {
            tracing::warn!(call_id = %request.call_id, "a tool call on a call of no known business");
            return every(request, UNKNOWN_BUSINESS);
        };
        let tools = InCall {
            businesses: &self.businesses,
            store: &self.store,
            calendar: &self.calendar,
            messages: &self.messages,
        };
        let now = self.clock.now();
        futures::future::join_all(request.calls.iter().map(|call| async {
            let reply = match tools.answer(&line, call, now).await {
                Ok(reply) => reply,
                Err(e) => {
                    tracing::error!(call_id = %line.call_id, function = %call.name, error = %Redacted(&e), "tool call failed");
                    ToolReply::Error(OUR_FAULT.into())
                }
            };
            tracing::info!(
                tenant = %line.tenant, call_id = %line.call_id, tool_call = %call.id,
                function = %call.name, error = reply.is_error(),
                elapsed_ms = started.elapsed().as_millis() as u64, "tool call answered"
            );
            (call.clone(), reply)
        }))
        .await
    }

    /// Who is on the line: the tenant from our metadata, else from the number
    /// dialled. Our metadata is checked against the attempt leadline recorded
    /// when each call is answered, in the same read as the lead.
    async fn line(&self, request: &ToolRequest) -> Result<Option<Line>, Error> {
        let ours = request.call.as_ref();
        let tenant = resolve_tenant(
            &self.businesses,
            ours.map(|c| &c.tenant),
            request.called.as_ref(),
        )
        .await?;
        Ok(tenant.map(|tenant| Line {
            tenant,
            call: ours.cloned(),
            provider: request.provider,
            call_id: request.call_id.clone(),
            caller: request.caller.clone(),
            // Providers date a call's end by the wall clock.
            arrived: self.clock.wall(self.clock.now()),
        }))
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

/// What a verified voice delivery holds.
pub enum Delivery {
    Event(Box<CallEvent>),
    Tools(ToolRequest),
    Inbound(InboundCall),
}

/// One of the voice webhook's three routes, as a step list of the pipeline.
struct Hook<'a, S, F, M, C, B, K, Q> {
    webhook: &'a VoiceWebhook<S, F, M, C, B, K, Q>,
    provider: Provider,
    /// Retell's custom functions have a route of their own.
    tools_only: bool,
}

#[async_trait::async_trait]
impl<S, F, M, C, B, K, Q> Pipeline for Hook<'_, S, F, M, C, B, K, Q>
where
    S: CallStore + LeadStore + InCallStore + TenantStore + Commit,
    F: FollowUpScheduler,
    M: MessageQueue,
    C: Clock,
    B: BusinessStore,
    K: Calendar,
    Q: DialQueue,
{
    type Delivery = Delivery;
    const NAME: &'static str = "voice";

    async fn verify(&self, req: &Request) -> Result<(), String> {
        self.webhook
            .verify(self.provider, req)
            .map_err(|e| e.to_string())
    }

    fn parse(&self, _: &Request, body: &[u8]) -> Result<Option<Delivery>, String> {
        match (self.provider, self.tools_only) {
            (Provider::Retell, true) => retell::parse_tool_call(body)
                .map(|request| Some(Delivery::Tools(request)))
                .map_err(|e| e.to_string()),
            // Retell's inbound webhook comes to the events' URL.
            (Provider::Retell, false) => {
                match retell::parse_inbound(body).map_err(|e| e.to_string())? {
                    Some(call) => Ok(Some(Delivery::Inbound(call))),
                    None => retell::parse_event(body)
                        .map(|event| event.map(|e| Delivery::Event(Box::new(e))))
                        .map_err(|e| e.to_string()),
                }
            }
            // Vapi sends tool calls, assistant requests and call events to
            // the one server URL.
            (Provider::Vapi, _) => {
                if let Some(request) = vapi::parse_tool_calls(body).map_err(|e| e.to_string())? {
                    return Ok(Some(Delivery::Tools(request)));
                }
                if let Some(call) =
                    vapi::parse_assistant_request(body).map_err(|e| e.to_string())?
                {
                    return Ok(Some(Delivery::Inbound(call)));
                }
                vapi::parse_event(body)
                    .map(|event| event.map(|e| Delivery::Event(Box::new(e))))
                    .map_err(|e| e.to_string())
            }
        }
    }

    async fn apply(&self, delivery: Delivery) -> Result<HttpResponse, Error> {
        match delivery {
            Delivery::Event(event) => self.webhook.apply_event(self.provider, &event).await,
            Delivery::Tools(request) => {
                Ok(self.webhook.answer_tools(self.provider, &request).await)
            }
            Delivery::Inbound(call) => self.webhook.answer_call(self.provider, &call).await,
        }
    }

    fn acknowledged(&self) -> HttpResponse {
        acknowledged(self.provider)
    }
}

/// The same spoken error for every call of a request.
fn every(request: &ToolRequest, sentence: &str) -> Vec<(ToolCall, ToolReply)> {
    request
        .calls
        .iter()
        .map(|call| (call.clone(), ToolReply::Error(sentence.into())))
        .collect()
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
mod inbound_tests;
#[cfg(test)]
mod raw_body_tests;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tool_tests;

#[cfg(test)]
mod tests {
    use lambda_http::Body;
    use lambda_http::http::Request as HttpRequest;
    use leadline_aws::ScaledClock;
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
            businesses: MemoryStore::default(),
            calendar: leadline_core::memory::MemoryCalendar::default(),
            follow_ups: MemoryScheduler::default(),
            messages: MemoryMessages::default(),
            dial_queue: leadline_core::memory::MemoryQueue::default(),
            clock: demo,
            retell_api_key: "key_test".into(),
            vapi: VapiAuth::Secret("s".into()),
            inbound: InboundSettings::default(),
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
