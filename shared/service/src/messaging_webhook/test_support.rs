//! What the messaging webhook's and the messenger's tests share: a tenant
//! with its senders claimed and a lead, the deployment's accounts, a
//! provider that records what it was asked, and requests as API Gateway
//! (HTTP API) delivers them to the function, through lambda_http.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use data_encoding::BASE64;
use jiff::Timestamp;
use lambda_http::Request;
use leadline_core::calling::lead::{Lead, LeadStatus};
use leadline_core::intake::campaign::{Campaign, CampaignStatus, Pacing};
use leadline_core::intake::tenant::{NewTenant, Tenant};
use leadline_core::memory::{FixedClock, MemoryMessages, MemoryStore};
use leadline_core::messaging::message::{Channel, MessageJob, MessagePurpose, Recipient};
use leadline_core::messaging::provider::{
    Accepted, DeliveryStatus, MessageProvider, Outgoing, SendFailure, Sender,
};
use leadline_core::messaging::send::{Handled, Pause, send};
use leadline_core::messaging::settings::{MessagingSettings, templates};
use leadline_core::ports::{CampaignStore, LeadStore, MessageStore, TenantStore};
use leadline_core::write::{EffectPorts, Unwired};
use leadline_core::{CampaignId, Email, LeadId, MessageId, Phone};
use leadline_messaging::{MemoryAccounts, MessagingAccounts};
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::EncodePublicKey;

use super::MessagingWebhook;

/// leadline's public URL, the one the providers are given.
pub const PUBLIC_BASE: &str = "https://hooks.leadline.test";
/// The host API Gateway puts in the event: the Lambda's own, not the public one.
pub const LAMBDA_HOST: &str = "abc123.execute-api.us-east-1.amazonaws.com";

pub const TWILIO_SID: &str = "AC00000000000000000000000000000001";
pub const TWILIO_TOKEN: &str = "deployment-twilio-token";
pub const WHATSAPP_APP_SECRET: &str = "deployment-whatsapp-app-secret";
pub const WHATSAPP_VERIFY_TOKEN: &str = "deployment-verify-token";

/// The tenant's SMS number and WhatsApp number id, claimed in its settings.
pub const SMS_NUMBER: &str = "+14155550100";
pub const WHATSAPP_NUMBER_ID: &str = "106540352242922";
/// The lead's number and email.
pub const LEAD_PHONE: &str = "+14155552671";
pub const LEAD_EMAIL: &str = "ada@example.com";

pub type Webhook = MessagingWebhook<MemoryStore, MemoryMessages, MemoryAccounts, FixedClock>;

/// Tuesday 2026-03-10, 11:00 in New York (inside the sending hours).
pub fn now() -> Timestamp {
    "2026-03-10T15:00:00Z".parse().unwrap()
}

pub fn phone(e164: &str) -> Phone {
    Phone::parse(e164, None).unwrap()
}

/// A tenant, its messaging settings (its senders claimed) and one lead of
/// one campaign.
pub struct Seeded {
    pub tenant: Tenant,
    pub lead: Lead,
}

/// Stores tenant `slug` with its SMS number (and, for the first tenant, the
/// WhatsApp number id and an email sender); `own_twilio`: it brought its
/// own Twilio account.
pub async fn seed(store: &MemoryStore, slug: &str, sms_number: &str, own_twilio: bool) -> Seeded {
    let tenant = serde_json::from_value::<NewTenant>(serde_json::json!({
        "name": format!("{slug} Dental"), "slug": slug, "timezone": "America/New_York",
        "default_region": "US"
    }))
    .unwrap()
    .into_tenant(now())
    .unwrap();
    store.create_tenant(&tenant, "hash").await.unwrap();
    let campaign = Campaign {
        id: CampaignId::from_bytes(&[7; 15]),
        tenant: tenant.id.clone(),
        name: "Spring".into(),
        status: CampaignStatus::Running,
        pacing: Pacing {
            max_parallel_calls: 2,
            calls_per_second: 1,
        },
        start_at: None,
        lead_count: 1,
        created_at: now(),
    };
    store.create_campaign(&campaign).await.unwrap();
    let lead_phone = phone(LEAD_PHONE);
    let lead = Lead {
        id: LeadId::derive(&tenant.id, &campaign.id, &lead_phone),
        tenant: tenant.id.clone(),
        campaign: campaign.id.clone(),
        phone: lead_phone,
        name: Some("Ada Lovelace".into()),
        email: Some(Email::parse(LEAD_EMAIL).unwrap()),
        whatsapp: None,
        partner: None,
        zone: None,
        language: None,
        source: Default::default(),
        preferred_phone: None,
        from_call: Vec::new(),
        status: LeadStatus::New,
        attempts: 0,
        outcome: None,
        note: None,
        next_call: None,
        messages: Vec::new(),
        messaging: Default::default(),
        created_at: now(),
        updated_at: now(),
        version: 0,
        effects: Default::default(),
    };
    store
        .insert_leads(std::slice::from_ref(&lead))
        .await
        .unwrap();
    let mut settings = MessagingSettings::new(tenant.id.clone());
    settings.senders.sms_number = Some(phone(sms_number));
    if !own_twilio {
        settings.senders.whatsapp_number_id = Some(WHATSAPP_NUMBER_ID.into());
        settings.senders.email_from = Some(Email::parse(&format!("hello@{slug}.test")).unwrap());
    }
    settings.own_accounts.twilio = own_twilio;
    store
        .save_messaging_settings(&settings, None)
        .await
        .unwrap();
    Seeded { tenant, lead }
}

/// A SendGrid Event Webhook signing key, made for the test.
pub fn sendgrid_key() -> SigningKey {
    loop {
        let mut scalar = [0u8; 32];
        getrandom::fill(&mut scalar).unwrap();
        if let Ok(key) = SigningKey::from_slice(&scalar) {
            return key;
        }
    }
}

/// Its public key as SendGrid shows it: base64 of the DER SubjectPublicKeyInfo.
pub fn sendgrid_public_key(key: &SigningKey) -> String {
    BASE64.encode(key.verifying_key().to_public_key_der().unwrap().as_bytes())
}

/// The Event Webhook's signature: base64 DER ECDSA over timestamp ‖ body.
pub fn sendgrid_signature(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
    let signed = [timestamp.as_bytes(), body].concat();
    let signature: p256::ecdsa::Signature = key.sign(&signed);
    BASE64.encode(signature.to_der().as_bytes())
}

/// The deployment's accounts: Twilio, WhatsApp, and SendGrid's webhook key.
pub fn deployment(sendgrid_public_key: String) -> MessagingAccounts {
    MessagingAccounts {
        twilio_account_sid: Some(TWILIO_SID.into()),
        twilio_auth_token: Some(TWILIO_TOKEN.into()),
        sendgrid_api_key: Some("SG.deployment".into()),
        sendgrid_webhook_public_key: Some(sendgrid_public_key),
        whatsapp_access_token: Some("deployment-whatsapp-token".into()),
        whatsapp_app_secret: Some(WHATSAPP_APP_SECRET.into()),
        whatsapp_verify_token: Some(WHATSAPP_VERIFY_TOKEN.into()),
    }
}

/// A request as lambda_http gives it to the function from an API Gateway
/// HTTP API event: the Lambda's host in the URI, header names in lower case,
/// and the body base64-encoded by API Gateway (form bodies are; Meta's and
/// SendGrid's JSON arrives as text) and decoded by lambda_http.
pub fn api_gateway_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    base64: bool,
) -> Request {
    let mut header_map = serde_json::Map::new();
    header_map.insert("host".into(), LAMBDA_HOST.into());
    header_map.insert("x-forwarded-proto".into(), "https".into());
    for (name, value) in headers {
        assert_eq!(
            *name,
            name.to_ascii_lowercase(),
            "API Gateway lower-cases header names"
        );
        header_map.insert((*name).into(), (*value).into());
    }
    let body = if base64 {
        BASE64.encode(body)
    } else {
        String::from_utf8(body.to_vec()).unwrap()
    };
    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": header_map,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "abc123",
            "domainName": LAMBDA_HOST,
            "domainPrefix": "abc123",
            "http": {
                "method": method, "path": path, "protocol": "HTTP/1.1",
                "sourceIp": "54.172.60.1", "userAgent": "TwilioProxy/1.1"
            },
            "requestId": "req-1",
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "10/Mar/2026:15:00:00 +0000",
            "timeEpoch": now().as_millisecond()
        },
        "body": body,
        "isBase64Encoded": base64
    });
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

/// A provider that accepts every message, with ids of the channel's shape
/// (`SM…`, `wamid.…`, SendGrid's `X-Message-Id`), and keeps every request.
#[derive(Default)]
pub struct FakeProvider {
    pub sent: Mutex<Vec<Outgoing>>,
    next: AtomicUsize,
}

impl FakeProvider {
    pub fn sent(&self) -> Vec<Outgoing> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl MessageProvider for FakeProvider {
    async fn send(&self, outgoing: &Outgoing) -> Result<Accepted, SendFailure> {
        // The request takes a moment: a second delivery of the job overlaps it.
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.sent.lock().unwrap().push(outgoing.clone());
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let provider_id = match outgoing.sender {
            Sender::TwilioNumber { .. } | Sender::TwilioService { .. } => format!("SM{n:032x}"),
            Sender::Whatsapp { .. } => format!("wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI{n:04}"),
            Sender::Email { .. } => format!("x-msg-id-{n:013}"),
        };
        Ok(Accepted {
            provider_id,
            status: DeliveryStatus::Queued,
        })
    }
}

/// Waits for nothing.
pub struct NoPause;

#[async_trait]
impl Pause for NoPause {
    async fn pause(&self, _: Duration) {}
}

/// A fallback message to the lead on `channel`, `occasion` making it its own.
pub fn job(seeded: &Seeded, channel: Channel, occasion: &str) -> MessageJob {
    let lead = &seeded.lead;
    let to: Recipient = match channel {
        Channel::Email => lead.email.clone().unwrap().into(),
        _ => lead.phone.clone().into(),
    };
    MessageJob {
        id: MessageId::derive(&lead.id, "fallback", channel.as_str(), occasion),
        tenant: lead.tenant.clone(),
        lead: lead.id.clone(),
        channel,
        purpose: MessagePurpose::Fallback,
        template: templates::CALL_FALLBACK.into(),
        to,
        params: BTreeMap::new(),
        appointment: None,
        not_before: None,
        queued_at: Some(now()),
        lead_phone: (channel == Channel::Email).then(|| lead.phone.clone()),
    }
}

/// Sends a job through the core's messenger (the webhook's store, `provider`).
pub async fn send_through(
    store: &MemoryStore,
    provider: &FakeProvider,
    job: &MessageJob,
) -> Handled {
    let queue = MemoryMessages::default();
    let effects = EffectPorts {
        scheduler: &Unwired,
        dial_queue: &Unwired,
        messages: &queue,
    };
    send(store, &effects, provider, &FixedClock(now()), &NoPause, job)
        .await
        .unwrap()
}
