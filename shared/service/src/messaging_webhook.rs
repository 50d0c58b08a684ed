//! The `messaging-webhook` function: what leads write (Twilio SMS, WhatsApp)
//! and what the providers report on messages leadline sent (Twilio status
//! callbacks, WhatsApp statuses, SendGrid's Event Webhook).
//!
//! - Every delivery is verified on its raw bytes with the secret of the
//!   account it is for: the deployment's, or the tenant's own when the
//!   tenant (found from the number or WhatsApp number id that received it,
//!   never from the text) brought one.
//! - A lead's message is put on the messenger's queue, where it is deduped
//!   on the provider's id and understood; the webhook answers at once.
//! - A status report is applied here: one read and one write, forward only.
//!
//! Twilio signs the URL it called: leadline rebuilds it from its configured
//! public base URL and the path and query of the request, never from the
//! Lambda event's host (messaging facts §1.3).

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use leadline_core::messaging::delivery::{Reported, report};
use leadline_core::messaging::inbound::{InboundJob, InboundKind};
use leadline_core::messaging::message::{Channel, MessageText, MessengerWork};
use leadline_core::messaging::provider::{Inbound, InboundAddress, StatusReport};
use leadline_core::messaging::settings::MessagingSettings;
use leadline_core::ports::{MessageQueue, MessageStore};
use leadline_core::write::{Commit, EffectPorts, Unwired};
use leadline_core::{Clock, Error, TenantId};
use leadline_messaging::{MessagingAccounts, TenantAccounts, sendgrid, twilio, whatsapp};

use crate::cache::TtlCache;
use crate::http::{HttpResponse, body_bytes, error, json};
use crate::webhook::{self, Webhook};

/// How long a warm function keeps a sender's tenant and a tenant's settings.
pub const CACHE_TTL: Duration = Duration::from_secs(60);

pub struct MessagingWebhook<S, Q, A, C> {
    pub store: S,
    /// The messenger's queue: leads' messages are understood there.
    pub queue: Q,
    /// Accounts tenants brought (Secrets Manager).
    pub tenant_accounts: A,
    /// The deployment's accounts.
    pub deployment: MessagingAccounts,
    /// The public URL Twilio calls, without the path (`https://api.example.com`).
    pub public_base_url: String,
    pub clock: C,
    pub senders: TtlCache<String, Option<TenantId>>,
    pub settings: TtlCache<TenantId, Option<MessagingSettings>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    TwilioInbound,
    TwilioStatus,
    Whatsapp,
    Sendgrid,
}

impl<S, Q, A, C> MessagingWebhook<S, Q, A, C>
where
    S: MessageStore + Commit,
    Q: MessageQueue,
    A: TenantAccounts,
    C: Clock,
{
    pub fn new(
        store: S,
        queue: Q,
        tenant_accounts: A,
        deployment: MessagingAccounts,
        public_base_url: String,
        clock: C,
    ) -> Self {
        Self {
            store,
            queue,
            tenant_accounts,
            deployment,
            public_base_url,
            clock,
            senders: TtlCache::new(CACHE_TTL),
            settings: TtlCache::new(CACHE_TTL),
        }
    }

    pub async fn handle(&self, req: Request) -> HttpResponse {
        let path = req.uri().path().trim_end_matches('/');
        let route = if path.ends_with(twilio::STATUS_CALLBACK_PATH) {
            Route::TwilioStatus
        } else if path.ends_with("/webhooks/twilio") {
            Route::TwilioInbound
        } else if path.ends_with("/webhooks/whatsapp") {
            if req.method() == Method::GET {
                return self.handshake(&req);
            }
            Route::Whatsapp
        } else if path.ends_with("/webhooks/sendgrid") {
            Route::Sendgrid
        } else {
            return error(
                StatusCode::NOT_FOUND,
                "no_route",
                &format!("no route {path}"),
            );
        };
        let hook = Hook {
            webhook: self,
            route,
            tenant: Mutex::new(None),
            signer: Mutex::new(None),
        };
        webhook::handle(&hook, &req).await
    }

    /// Meta's subscription handshake: the challenge back, with the
    /// deployment's verify token.
    fn handshake(&self, req: &Request) -> HttpResponse {
        let query = twilio::parse_form(req.uri().query().unwrap_or_default().as_bytes());
        let token = self.deployment.whatsapp_verify_token().unwrap_or_default();
        match whatsapp::verify_handshake(&query, token) {
            Ok(challenge) if !token.is_empty() => text(StatusCode::OK, "text/plain", challenge),
            _ => error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the verify token does not match",
            ),
        }
    }

    /// The tenant whose sender received a message (cached).
    async fn tenant_of(&self, address: &InboundAddress) -> Result<Option<TenantId>, Error> {
        let key = address.key();
        if let Some(hit) = self.senders.get(&key) {
            return Ok(hit);
        }
        let tenant = self.store.tenant_of_sender(address).await?;
        self.senders.put(key, tenant.clone());
        Ok(tenant)
    }

    async fn settings_of(&self, tenant: &TenantId) -> Result<Option<MessagingSettings>, Error> {
        if let Some(hit) = self.settings.get(tenant) {
            return Ok(hit);
        }
        let settings = self.store.messaging_settings(tenant).await?;
        self.settings.put(tenant.clone(), settings.clone());
        Ok(settings)
    }

    /// The accounts a tenant's deliveries of `channel` are signed with:
    /// its own when it brought one, else the deployment's.
    async fn accounts_of(
        &self,
        tenant: Option<&TenantId>,
        channel: Channel,
    ) -> Result<MessagingAccounts, Error> {
        let Some(tenant) = tenant else {
            return Ok(self.deployment.clone());
        };
        let own = self
            .settings_of(tenant)
            .await?
            .is_some_and(|s| match channel {
                Channel::Sms => s.own_accounts.twilio,
                Channel::Email => s.own_accounts.sendgrid,
                Channel::Whatsapp => s.own_accounts.whatsapp,
            });
        if !own {
            return Ok(self.deployment.clone());
        }
        self.tenant_accounts
            .accounts(tenant)
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?
            .ok_or_else(|| Error::Unavailable("the tenant's own accounts are not stored".into()))
    }

    /// The URL Twilio called: the public base URL, the path and the query.
    fn public_url(&self, req: &Request) -> String {
        let mut url = format!(
            "{}{}",
            self.public_base_url.trim_end_matches('/'),
            req.uri().path()
        );
        if let Some(query) = req.uri().query().filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(query);
        }
        url
    }

    async fn report(&self, tenant: &TenantId, r: &StatusReport) -> Result<Reported, Error> {
        let effects = EffectPorts {
            scheduler: &Unwired,
            dial_queue: &Unwired,
            messages: &self.queue,
        };
        let reported = report(&self.store, &effects, tenant, r, self.clock.now()).await?;
        match reported {
            Reported::NotOurs => tracing::warn!(
                tenant = %tenant, channel = r.channel.as_str(), provider_id = %r.provider_id,
                "a status for a message leadline does not know: acknowledged"
            ),
            _ => tracing::info!(
                tenant = %tenant, channel = r.channel.as_str(), provider_id = %r.provider_id,
                status = ?r.status, moved = reported == Reported::Moved, "message status"
            ),
        }
        Ok(reported)
    }

    async fn enqueue(&self, tenant: TenantId, inbound: Inbound) -> Result<(), Error> {
        let job = InboundJob {
            kind: InboundKind::Inbound,
            tenant,
            channel: inbound.channel,
            provider_id: inbound.provider_id,
            from: inbound.from,
            text: MessageText(inbound.body),
            button: inbound.button,
            opt_out_type: inbound.opt_out_type,
            at: inbound.at,
        };
        tracing::info!(tenant = %job.tenant, channel = job.channel.as_str(), provider_id = %job.provider_id, "a lead's message: queued");
        self.queue.put(&[MessengerWork::Inbound(job)]).await
    }
}

/// One delivery's steps. `tenant` is found while verifying (the signing
/// account depends on it) and used when applying.
struct Hook<'a, S, Q, A, C> {
    webhook: &'a MessagingWebhook<S, Q, A, C>,
    route: Route,
    tenant: Mutex<Option<TenantId>>,
    /// The tenant whose own account signed the delivery (none: the
    /// deployment's): only that tenant's items of it are applied.
    signer: Mutex<Option<TenantId>>,
}

impl<S, Q, A, C> Hook<'_, S, Q, A, C> {
    /// Whether an item of `tenant` may be applied from this delivery.
    fn signed_for(&self, tenant: &TenantId) -> bool {
        self.signer
            .lock()
            .unwrap()
            .as_ref()
            .is_none_or(|signer| signer == tenant)
    }
}

/// What a verified delivery holds.
enum Delivery {
    Inbound(Inbound),
    Status(StatusReport),
    Whatsapp(whatsapp::Notification),
    Sendgrid(sendgrid::EventBatch),
}

fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

#[async_trait]
impl<S, Q, A, C> Webhook for Hook<'_, S, Q, A, C>
where
    S: MessageStore + Commit,
    Q: MessageQueue,
    A: TenantAccounts,
    C: Clock,
{
    type Delivery = Delivery;
    const NAME: &'static str = "messaging";

    async fn verify(&self, req: &Request) -> Result<(), String> {
        let w = self.webhook;
        let body = body_bytes(req);
        let fault = |e: Error| format!("the signing account could not be read: {e}");
        match self.route {
            Route::TwilioInbound | Route::TwilioStatus => {
                let params = twilio::parse_form(body);
                // The tenant: the number that received it, or the status
                // callback URL leadline gave (both are signed).
                let tenant = match self.route {
                    Route::TwilioInbound => {
                        let param = |name: &str| {
                            params
                                .iter()
                                .find(|(k, _)| k == name)
                                .map(|(_, v)| v.as_str())
                        };
                        let to = param("To")
                            .and_then(|v| leadline_core::Phone::try_from(v.to_owned()).ok());
                        let mut tenant = match to {
                            Some(to) => w
                                .tenant_of(&InboundAddress::Number(to))
                                .await
                                .map_err(fault)?,
                            None => None,
                        };
                        // A number of a tenant's Messaging Service.
                        if tenant.is_none()
                            && let Some(sid) =
                                param("MessagingServiceSid").filter(|s| !s.is_empty())
                        {
                            tenant = w
                                .tenant_of(&InboundAddress::MessagingService(sid.to_owned()))
                                .await
                                .map_err(fault)?;
                        }
                        tenant
                    }
                    _ => twilio::parse_status_callback_query(req.uri().query().unwrap_or(""))
                        .ok()
                        .map(|(tenant, _, _)| tenant),
                };
                let accounts = w
                    .accounts_of(tenant.as_ref(), Channel::Sms)
                    .await
                    .map_err(fault)?;
                let token = accounts
                    .twilio()
                    .map(|a| a.auth_token)
                    .ok_or("no Twilio account is configured")?;
                let signature = header(req, twilio::SIGNATURE_HEADER)
                    .ok_or("the X-Twilio-Signature header is missing")?;
                twilio::verify_signature(&w.public_url(req), &params, signature, &token)
                    .map_err(|e| e.to_string())?;
                *self.tenant.lock().unwrap() = tenant;
                Ok(())
            }
            Route::Whatsapp => {
                let signature = header(req, whatsapp::SIGNATURE_HEADER)
                    .ok_or("the X-Hub-Signature-256 header is missing")?;
                let deployment = w.deployment.whatsapp_app_secret().unwrap_or_default();
                if !deployment.is_empty()
                    && whatsapp::verify_signature(deployment, signature, body).is_ok()
                {
                    return Ok(());
                }
                // A tenant's own WhatsApp app signs with its own secret.
                let number = whatsapp::parse_webhook(body).ok().and_then(|n| {
                    n.inbound
                        .first()
                        .map(|i| i.to.clone())
                        .or_else(|| n.statuses.first().and_then(|s| s.sender.clone()))
                });
                let tenant = match number {
                    Some(address) => w.tenant_of(&address).await.map_err(fault)?,
                    None => None,
                };
                let accounts = w
                    .accounts_of(tenant.as_ref(), Channel::Whatsapp)
                    .await
                    .map_err(fault)?;
                let secret = accounts
                    .whatsapp_app_secret()
                    .ok_or("the signature does not match")?;
                whatsapp::verify_signature(secret, signature, body).map_err(|e| e.to_string())?;
                *self.signer.lock().unwrap() = tenant;
                Ok(())
            }
            Route::Sendgrid => {
                let signature = header(req, sendgrid::SIGNATURE_HEADER)
                    .ok_or("the SendGrid signature header is missing")?;
                let timestamp = header(req, sendgrid::TIMESTAMP_HEADER)
                    .ok_or("the SendGrid timestamp header is missing")?;
                let now = w.clock.wall(w.clock.now());
                let verify = |key: &str| {
                    sendgrid::verify_event_signature(
                        key,
                        signature,
                        timestamp,
                        body,
                        now,
                        sendgrid::REPLAY_WINDOW,
                    )
                };
                let deployment = w.deployment.sendgrid_webhook_public_key();
                if deployment.is_some_and(|key| verify(key).is_ok()) {
                    return Ok(());
                }
                // A tenant's own SendGrid account signs with its own key: the
                // tenant is the one leadline's ids in the events name.
                let tenant = sendgrid::parse_events(body)
                    .ok()
                    .and_then(|b| b.reports.first().and_then(|r| r.ours.clone()))
                    .map(|(tenant, _, _)| tenant);
                let Some(tenant) = tenant else {
                    return Err("the signature does not match".into());
                };
                let accounts = w
                    .accounts_of(Some(&tenant), Channel::Email)
                    .await
                    .map_err(fault)?;
                let key = accounts
                    .sendgrid_webhook_public_key()
                    .ok_or("the signature does not match")?;
                verify(key).map_err(|e| e.to_string())?;
                *self.signer.lock().unwrap() = Some(tenant);
                Ok(())
            }
        }
    }

    fn parse(&self, req: &Request, body: &[u8]) -> Result<Option<Delivery>, String> {
        let now = self.webhook.clock.now();
        match self.route {
            Route::TwilioInbound => twilio::parse_inbound(&twilio::parse_form(body), now)
                .map(|i| Some(Delivery::Inbound(i)))
                .map_err(|e| e.to_string()),
            Route::TwilioStatus => {
                let ours = twilio::parse_status_callback_query(req.uri().query().unwrap_or(""))
                    .map_err(|e| e.to_string())?;
                match twilio::parse_status(&twilio::parse_form(body), Some(ours), now) {
                    Ok(r) => Ok(Some(Delivery::Status(r))),
                    Err(leadline_messaging::ParseError::Unsupported(_)) => Ok(None),
                    Err(e) => Err(e.to_string()),
                }
            }
            Route::Whatsapp => whatsapp::parse_webhook(body)
                .map(|n| Some(Delivery::Whatsapp(n)))
                .map_err(|e| e.to_string()),
            Route::Sendgrid => sendgrid::parse_events(body)
                .map(|b| Some(Delivery::Sendgrid(b)))
                .map_err(|e| e.to_string()),
        }
    }

    async fn apply(&self, delivery: Delivery) -> Result<HttpResponse, Error> {
        let w = self.webhook;
        match delivery {
            Delivery::Inbound(inbound) => {
                let tenant = self.tenant.lock().unwrap().clone();
                match tenant {
                    Some(tenant) => w.enqueue(tenant, inbound).await?,
                    None => tracing::warn!(
                        provider_id = %inbound.provider_id,
                        "an SMS to a number no tenant has: acknowledged, dropped"
                    ),
                }
                Ok(twiml())
            }
            Delivery::Status(r) => {
                if let Some((tenant, _, _)) = &r.ours {
                    w.report(tenant, &r).await?;
                }
                Ok(twiml())
            }
            Delivery::Whatsapp(notification) => {
                for skipped in &notification.skipped {
                    tracing::info!(reason = ?skipped.reason, "a WhatsApp item left out");
                }
                for inbound in notification.inbound {
                    match w.tenant_of(&inbound.to).await? {
                        Some(tenant) if !self.signed_for(&tenant) => tracing::warn!(
                            provider_id = %inbound.provider_id,
                            "a WhatsApp message for another tenant than the one whose app signed: refused"
                        ),
                        Some(tenant) => w.enqueue(tenant, inbound).await?,
                        None => tracing::warn!(
                            provider_id = %inbound.provider_id,
                            "a WhatsApp message to a number no tenant has: acknowledged, dropped"
                        ),
                    }
                }
                for status in notification.statuses {
                    // WhatsApp names no tenant in a status: its number id does.
                    let tenant = match &status.ours {
                        Some((tenant, _, _)) => Some(tenant.clone()),
                        None => status_tenant(w, &status).await?,
                    };
                    match tenant {
                        Some(tenant) if !self.signed_for(&tenant) => tracing::warn!(
                            provider_id = %status.provider_id,
                            "a WhatsApp status for another tenant than the one whose app signed: refused"
                        ),
                        Some(tenant) => {
                            w.report(&tenant, &status).await?;
                        }
                        None => {
                            tracing::warn!(provider_id = %status.provider_id, "a WhatsApp status of no known number: acknowledged")
                        }
                    }
                }
                Ok(json(StatusCode::OK, &serde_json::json!({})))
            }
            Delivery::Sendgrid(batch) => {
                if !batch.skipped.is_empty() {
                    tracing::info!(
                        skipped = batch.skipped.len(),
                        "SendGrid events left out (not ours, or not used)"
                    );
                }
                for r in batch.reports {
                    if let Some((tenant, _, _)) = &r.ours
                        && self.signed_for(tenant)
                    {
                        w.report(tenant, &r).await?;
                    }
                }
                Ok(json(StatusCode::OK, &serde_json::json!({})))
            }
        }
    }

    fn acknowledged(&self) -> HttpResponse {
        match self.route {
            Route::TwilioInbound | Route::TwilioStatus => twiml(),
            _ => json(StatusCode::OK, &serde_json::json!({})),
        }
    }
}

/// The tenant of a WhatsApp status: from the number id that sent the
/// message (none: acknowledged).
async fn status_tenant<S, Q, A, C>(
    w: &MessagingWebhook<S, Q, A, C>,
    status: &StatusReport,
) -> Result<Option<TenantId>, Error>
where
    S: MessageStore + Commit,
    Q: MessageQueue,
    A: TenantAccounts,
    C: Clock,
{
    match &status.sender {
        Some(address) => w.tenant_of(address).await,
        None => Ok(None),
    }
}

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

/// Twilio's answer to a message it need not act on: `<Response></Response>` as TwiML.
fn twiml() -> HttpResponse {
    text(StatusCode::OK, "text/xml", twilio::EMPTY_TWIML.into())
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> HttpResponse {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
