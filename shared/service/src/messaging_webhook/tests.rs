//! The messaging webhook through its real handler, over the in-memory store
//! and queue, with requests as lambda_http makes them from API Gateway's
//! events: every delivery verified on its raw bytes with the right account's
//! secret (401 and nothing read into the queue or the store otherwise), read
//! (400 and nothing written for what cannot be read), then applied.

use lambda_http::Body;
use lambda_http::http::StatusCode;
use leadline_core::memory::{FixedClock, MemoryMessages, MemoryStore};
use leadline_core::messaging::inbound::{InboundJob, InboundKind};
use leadline_core::messaging::message::{
    Channel, Message, MessageStatus, MessageText, MessengerWork,
};
use leadline_core::messaging::send::Handled;
use leadline_core::ports::MessageStore;
use leadline_messaging::{MemoryAccounts, MessagingAccounts, sendgrid, twilio, whatsapp};
use p256::ecdsa::SigningKey;
use serde_json::Value;

use super::test_support::*;
use crate::http::HttpResponse;

/// The other tenant's number, and the Twilio account it brought.
const OTHER_NUMBER: &str = "+14155550199";
const OTHER_SID: &str = "AC00000000000000000000000000000002";
const OTHER_TOKEN: &str = "other-tenant-twilio-token";

struct World {
    webhook: Webhook,
    /// Uses the deployment's accounts.
    acme: Seeded,
    /// Brought its own Twilio account.
    other: Seeded,
    sendgrid: SigningKey,
    provider: FakeProvider,
}

async fn world() -> World {
    let store = MemoryStore::default();
    let acme = seed(&store, "acme", SMS_NUMBER, false).await;
    let other = seed(&store, "other", OTHER_NUMBER, true).await;
    let accounts = MemoryAccounts::default().with(
        other.tenant.id.clone(),
        MessagingAccounts {
            twilio_account_sid: Some(OTHER_SID.into()),
            twilio_auth_token: Some(OTHER_TOKEN.into()),
            ..MessagingAccounts::default()
        },
    );
    let sendgrid = sendgrid_key();
    let webhook = Webhook::new(
        store,
        MemoryMessages::default(),
        accounts,
        deployment(sendgrid_public_key(&sendgrid)),
        PUBLIC_BASE.into(),
        FixedClock(now()),
    );
    World {
        webhook,
        acme,
        other,
        sendgrid,
        provider: FakeProvider::default(),
    }
}

impl World {
    /// The message `job` made, as stored.
    async fn message(&self, job: &leadline_core::messaging::message::MessageJob) -> Message {
        self.webhook
            .store
            .message(&job.tenant, &job.lead, &job.id)
            .await
            .unwrap()
            .expect("the message is recorded")
    }

    /// What a delivery could have written: the queue, the acme lead's
    /// conversation and whether its addresses are on the list.
    async fn written(&self) -> (Vec<MessengerWork>, Vec<Message>, usize) {
        let probe = job(&self.acme, Channel::Email, "probe");
        let ctx = self.webhook.store.send_context(&probe).await.unwrap();
        let conversation = self
            .webhook
            .store
            .messages_of(&self.acme.tenant.id, &self.acme.lead.id)
            .await
            .unwrap();
        (
            self.webhook.queue.work(),
            conversation,
            ctx.suppressions.len(),
        )
    }
}

fn text(response: &HttpResponse) -> String {
    String::from_utf8_lossy(response.body().as_ref()).into_owned()
}

fn assert_twiml(response: &HttpResponse) {
    assert_eq!(response.status(), StatusCode::OK, "{}", text(response));
    assert_eq!(response.headers()["content-type"], "text/xml");
    assert_eq!(text(response), "<Response></Response>");
}

fn pairs(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// `application/x-www-form-urlencoded` as Twilio writes it: letters, digits
/// and `*-._` as they are, a space as `+`, every other byte `%XX`.
fn form(params: &[(String, String)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                other => format!("%{other:02X}"),
            })
            .collect::<String>()
    };
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[test]
fn the_form_encoder_writes_what_twilio_sends() {
    assert_eq!(
        form(&pairs(&[
            ("Body", "Café ☕ at 3:30?"),
            ("From", "+14155552671")
        ])),
        "Body=Caf%C3%A9+%E2%98%95+at+3%3A30%3F&From=%2B14155552671"
    );
}

const SMS_SID: &str = "SM8a1f0000000000000000000000000001";
const SMS_TEXT: &str = "Café ☕ at 3:30? Yes & thanks";

/// An inbound SMS to `to`, as Twilio posts it.
fn inbound_sms(to: &str) -> Vec<(String, String)> {
    pairs(&[
        ("ToCountry", "US"),
        ("SmsMessageSid", SMS_SID),
        ("NumMedia", "0"),
        ("SmsSid", SMS_SID),
        ("SmsStatus", "received"),
        ("Body", SMS_TEXT),
        ("To", to),
        ("NumSegments", "1"),
        ("MessageSid", SMS_SID),
        ("AccountSid", TWILIO_SID),
        ("From", LEAD_PHONE),
        ("ApiVersion", "2010-04-01"),
    ])
}

/// A Twilio webhook to `path?query`: the form base64-encoded by API
/// Gateway, signed over `signed_url` with `token`.
fn twilio_request(
    path: &str,
    query: &str,
    params: &[(String, String)],
    signed_url: &str,
    token: &str,
) -> lambda_http::Request {
    let signature = twilio::sign(signed_url, params, token);
    let request = api_gateway_request(
        "POST",
        path,
        query,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            (twilio::SIGNATURE_HEADER, &signature),
            (
                "i-twilio-idempotency-token",
                "b0c5c9a4-7d2f-4b8e-9a51-000000000001",
            ),
        ],
        form(params).as_bytes(),
        true,
    );
    assert!(
        matches!(request.body(), Body::Binary(_)),
        "lambda_http gives a base64-encoded body as bytes"
    );
    request
}

fn public(path: &str) -> String {
    format!("{PUBLIC_BASE}{path}")
}

// ------------------------------------------------------------ Twilio inbound

#[tokio::test]
async fn an_sms_signed_on_the_public_url_is_answered_with_empty_twiml_and_queued_for_its_tenant() {
    let w = world().await;
    let params = inbound_sms(SMS_NUMBER);
    let request = twilio_request(
        "/webhooks/twilio",
        "",
        &params,
        &public("/webhooks/twilio"),
        TWILIO_TOKEN,
    );
    assert_eq!(request.uri().host(), Some(LAMBDA_HOST));
    let response = w.webhook.handle(request).await;
    assert_twiml(&response);
    assert_eq!(
        w.webhook.queue.work(),
        [MessengerWork::Inbound(InboundJob {
            kind: InboundKind::Inbound,
            tenant: w.acme.tenant.id.clone(),
            channel: Channel::Sms,
            provider_id: SMS_SID.into(),
            from: phone(LEAD_PHONE),
            text: MessageText(SMS_TEXT.into()),
            button: None,
            opt_out_type: None,
            at: now(),
        })]
    );
}

#[tokio::test]
async fn an_sms_signed_on_the_lambdas_host_or_with_another_token_or_changed_is_401_and_nothing_is_queued()
 {
    let w = world().await;
    let params = inbound_sms(SMS_NUMBER);
    let mut changed = params.clone();
    for (name, value) in &mut changed {
        if name == "Body" {
            *value = "STOP".into();
        }
    }
    let lambda = format!("https://{LAMBDA_HOST}/webhooks/twilio");
    let public = public("/webhooks/twilio");
    let cases = [
        (
            "signed on the Lambda's own host",
            lambda.as_str(),
            TWILIO_TOKEN,
            &params,
        ),
        ("another token", public.as_str(), "not-the-token", &params),
        (
            "the body changed after signing",
            public.as_str(),
            TWILIO_TOKEN,
            &changed,
        ),
    ];
    for (what, url, token, sent) in cases {
        let signature = twilio::sign(url, &params, token);
        let request = api_gateway_request(
            "POST",
            "/webhooks/twilio",
            "",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                (twilio::SIGNATURE_HEADER, &signature),
            ],
            form(sent).as_bytes(),
            true,
        );
        let response = w.webhook.handle(request).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(w.webhook.queue.work(), [], "{what}: nothing queued");
    }
}

#[tokio::test]
async fn an_sms_to_a_number_no_tenant_has_is_acknowledged_and_dropped() {
    let w = world().await;
    let params = inbound_sms("+14155550123");
    let request = twilio_request(
        "/webhooks/twilio",
        "",
        &params,
        &public("/webhooks/twilio"),
        TWILIO_TOKEN,
    );
    assert_twiml(&w.webhook.handle(request).await);
    assert_eq!(w.webhook.queue.work(), []);
}

#[tokio::test]
async fn an_sms_to_a_tenant_with_its_own_twilio_account_verifies_with_its_token_only() {
    let w = world().await;
    let params = inbound_sms(OTHER_NUMBER);
    let url = public("/webhooks/twilio");
    let response = w
        .webhook
        .handle(twilio_request(
            "/webhooks/twilio",
            "",
            &params,
            &url,
            TWILIO_TOKEN,
        ))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "the deployment's token"
    );
    assert_eq!(w.webhook.queue.work(), []);

    let response = w
        .webhook
        .handle(twilio_request(
            "/webhooks/twilio",
            "",
            &params,
            &url,
            OTHER_TOKEN,
        ))
        .await;
    assert_twiml(&response);
    match w.webhook.queue.work().as_slice() {
        [MessengerWork::Inbound(job)] => assert_eq!(job.tenant, w.other.tenant.id),
        other => panic!("{other:?}"),
    }
}

// ----------------------------------------------------- Twilio status callback

/// A status callback on `message` (its Twilio sid `sid`), as Twilio posts it.
fn status_form(sid: &str, status: &str) -> Vec<(String, String)> {
    pairs(&[
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", LEAD_PHONE),
        ("MessageSid", sid),
        ("AccountSid", TWILIO_SID),
        ("From", SMS_NUMBER),
        ("ApiVersion", "2010-04-01"),
    ])
}

#[tokio::test]
async fn a_status_callback_moves_a_sent_sms_forward_only_and_a_tampered_query_is_401() {
    let w = world().await;
    let job = job(&w.acme, Channel::Sms, "1");
    assert_eq!(
        send_through(&w.webhook.store, &w.provider, &job).await,
        Handled::Sent
    );
    let sent = w.message(&job).await;
    assert_eq!(sent.status, MessageStatus::Sent);
    let sid = sent.provider_id.clone().unwrap();

    // The URL leadline gave Twilio with the message.
    let url = twilio::status_callback_url(PUBLIC_BASE, &job.tenant, &job.lead, &job.id);
    let (_, query) = url.split_once('?').unwrap();
    let path = twilio::STATUS_CALLBACK_PATH;
    let delivered = status_form(&sid, "delivered");
    let response = w
        .webhook
        .handle(twilio_request(path, query, &delivered, &url, TWILIO_TOKEN))
        .await;
    assert_twiml(&response);
    let moved = w.message(&job).await;
    assert_eq!(moved.status, MessageStatus::Delivered);

    // `sent` arrives after `delivered`: acknowledged, nothing changes.
    let late = status_form(&sid, "sent");
    let response = w
        .webhook
        .handle(twilio_request(path, query, &late, &url, TWILIO_TOKEN))
        .await;
    assert_twiml(&response);
    assert_eq!(w.message(&job).await, moved);

    // The signed URL's query, with the other tenant in it.
    let tampered = query.replace(w.acme.tenant.id.as_str(), w.other.tenant.id.as_str());
    assert_ne!(tampered, query);
    let failed = status_form(&sid, "failed");
    let response = w
        .webhook
        .handle(twilio_request(path, &tampered, &failed, &url, TWILIO_TOKEN))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(w.message(&job).await, moved);
}

// ------------------------------------------------------------------ WhatsApp

#[tokio::test]
async fn the_whatsapp_handshake_answers_the_challenge_only_with_the_verify_token() {
    let w = world().await;
    let query = |token: &str| {
        format!("hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444")
    };
    let ok = api_gateway_request(
        "GET",
        "/webhooks/whatsapp",
        &query(WHATSAPP_VERIFY_TOKEN),
        &[],
        b"",
        false,
    );
    let response = w.webhook.handle(ok).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(text(&response), "1158201444");

    for token in ["not-the-token", ""] {
        let wrong =
            api_gateway_request("GET", "/webhooks/whatsapp", &query(token), &[], b"", false);
        let response = w.webhook.handle(wrong).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        assert!(!text(&response).contains("1158201444"));
    }
}

/// A WhatsApp notification as Meta writes it (compact, non-ASCII escaped):
/// the lead's text, and a status on the message `wamid`.
fn whatsapp_body(wamid: &str) -> String {
    let at = now().as_second();
    let metadata = format!(
        r#""metadata":{{"display_phone_number":"15550783881","phone_number_id":"{WHATSAPP_NUMBER_ID}"}}"#
    );
    format!(
        concat!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":["#,
            r#"{{"value":{{"messaging_product":"whatsapp",{metadata},"#,
            r#""contacts":[{{"profile":{{"name":"Ada \u00c9clair"}},"wa_id":"14155552671"}}],"#,
            r#""messages":[{{"from":"14155552671","id":"wamid.IN1","timestamp":"{at}","#,
            r#""text":{{"body":"Caf\u00e9 \u2615 at 3?"}},"type":"text"}}]}},"field":"messages"}},"#,
            r#"{{"value":{{"messaging_product":"whatsapp",{metadata},"#,
            r#""statuses":[{{"id":"{wamid}","status":"delivered","timestamp":"{at}","recipient_id":"14155552671"}}]}},"#,
            r#""field":"messages"}}]}}]}}"#
        ),
        metadata = metadata,
        at = at,
        wamid = wamid,
    )
}

fn whatsapp_request(body: &[u8], signature: &str) -> lambda_http::Request {
    api_gateway_request(
        "POST",
        "/webhooks/whatsapp",
        "",
        &[
            ("content-type", "application/json"),
            (whatsapp::SIGNATURE_HEADER, signature),
        ],
        body,
        false,
    )
}

#[tokio::test]
async fn a_whatsapp_notification_signed_on_its_raw_bytes_queues_the_message_and_applies_the_status()
{
    let w = world().await;
    let job = job(&w.acme, Channel::Whatsapp, "1");
    assert_eq!(
        send_through(&w.webhook.store, &w.provider, &job).await,
        Handled::Sent
    );
    let wamid = w.message(&job).await.provider_id.unwrap();
    assert!(wamid.starts_with("wamid."));
    let body = whatsapp_body(&wamid);
    let signature = whatsapp::sign(WHATSAPP_APP_SECRET, body.as_bytes());

    // The same JSON as serde_json writes it (the unicode unescaped) does
    // not carry the signature.
    let reserialized = serde_json::from_str::<Value>(&body).unwrap().to_string();
    assert_ne!(reserialized, body);
    let response = w
        .webhook
        .handle(whatsapp_request(reserialized.as_bytes(), &signature))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(w.webhook.queue.work(), []);
    assert_eq!(w.message(&job).await.status, MessageStatus::Sent);

    let response = w
        .webhook
        .handle(whatsapp_request(body.as_bytes(), &signature))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{}", text(&response));
    assert_eq!(
        w.webhook.queue.work(),
        [MessengerWork::Inbound(InboundJob {
            kind: InboundKind::Inbound,
            tenant: w.acme.tenant.id.clone(),
            channel: Channel::Whatsapp,
            provider_id: "wamid.IN1".into(),
            from: phone(LEAD_PHONE),
            text: MessageText("Café ☕ at 3?".into()),
            button: None,
            opt_out_type: None,
            at: now(),
        })]
    );
    assert_eq!(w.message(&job).await.status, MessageStatus::Delivered);
}

#[tokio::test]
async fn a_whatsapp_notification_with_a_bad_signature_is_401_and_nothing_is_applied() {
    let w = world().await;
    let job = job(&w.acme, Channel::Whatsapp, "1");
    send_through(&w.webhook.store, &w.provider, &job).await;
    let body = whatsapp_body(&w.message(&job).await.provider_id.unwrap());
    let before = w.written().await;
    for (what, signature) in [
        (
            "another secret",
            whatsapp::sign("not-the-secret", body.as_bytes()),
        ),
        (
            "no sha256= prefix",
            whatsapp::sign(WHATSAPP_APP_SECRET, body.as_bytes())[7..].to_owned(),
        ),
    ] {
        let response = w
            .webhook
            .handle(whatsapp_request(body.as_bytes(), &signature))
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(w.written().await, before, "{what}");
    }
    assert_eq!(w.message(&job).await.status, MessageStatus::Sent);
}

// ------------------------------------------------------------------ SendGrid

/// A bounce of the email `job` sent (its `X-Message-Id` `message_id`).
fn bounce(job: &leadline_core::messaging::message::MessageJob, message_id: &str) -> String {
    serde_json::json!([{
        "email": LEAD_EMAIL,
        "timestamp": now().as_second(),
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": "bounce",
        "type": "bounce",
        "category": ["fallback"],
        "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPw",
        "sg_message_id": format!("{message_id}.filterdrecv-5645d9c87f-78xgx-1-62E1A3A1-1.0"),
        "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
        "status": "5.1.1",
        sendgrid::TENANT_ARG: job.tenant.as_str(),
        sendgrid::LEAD_ARG: job.lead.as_str(),
        sendgrid::MESSAGE_ARG: job.id.as_str(),
    }])
    .to_string()
}

fn sendgrid_request(key: &SigningKey, timestamp: &str, body: &[u8]) -> lambda_http::Request {
    let signature = sendgrid_signature(key, timestamp, body);
    api_gateway_request(
        "POST",
        "/webhooks/sendgrid",
        "",
        &[
            ("content-type", "application/json"),
            (sendgrid::SIGNATURE_HEADER, &signature),
            (sendgrid::TIMESTAMP_HEADER, timestamp),
        ],
        body,
        false,
    )
}

#[tokio::test]
async fn a_signed_sendgrid_bounce_fails_the_email_and_suppresses_the_address() {
    let w = world().await;
    let first = job(&w.acme, Channel::Email, "1");
    assert_eq!(
        send_through(&w.webhook.store, &w.provider, &first).await,
        Handled::Sent
    );
    let message_id = w.message(&first).await.provider_id.unwrap();
    let body = bounce(&first, &message_id);
    let timestamp = now().as_second().to_string();
    let response = w
        .webhook
        .handle(sendgrid_request(&w.sendgrid, &timestamp, body.as_bytes()))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{}", text(&response));
    assert_eq!(w.message(&first).await.status, MessageStatus::Failed);

    let next = job(&w.acme, Channel::Email, "2");
    let handled = send_through(&w.webhook.store, &w.provider, &next).await;
    assert!(
        matches!(handled, Handled::NotSent(MessageStatus::Suppressed, _)),
        "{handled:?}"
    );
    assert_eq!(w.message(&next).await.status, MessageStatus::Suppressed);
    assert_eq!(w.provider.sent().len(), 1, "the next email is not sent");
}

#[tokio::test]
async fn a_sendgrid_delivery_signed_too_long_ago_or_with_another_key_is_401() {
    let w = world().await;
    let first = job(&w.acme, Channel::Email, "1");
    send_through(&w.webhook.store, &w.provider, &first).await;
    let body = bounce(&first, &w.message(&first).await.provider_id.unwrap());
    let before = w.written().await;
    let stale = (now().as_second() - sendgrid::REPLAY_WINDOW.as_secs() as i64 - 1).to_string();
    let fresh = now().as_second().to_string();
    let cases = [
        ("signed too long ago", &w.sendgrid, stale.as_str()),
        ("another key", &sendgrid_key(), fresh.as_str()),
    ];
    for (what, key, timestamp) in cases {
        let response = w
            .webhook
            .handle(sendgrid_request(key, timestamp, body.as_bytes()))
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(w.written().await, before, "{what}");
    }
    assert_eq!(w.message(&first).await.status, MessageStatus::Sent);
}

// ----------------------------------------------------------------- bad input

#[tokio::test]
async fn signed_deliveries_that_cannot_be_read_are_400_and_write_nothing() {
    let w = world().await;
    let before = w.written().await;

    let mut no_from = inbound_sms(SMS_NUMBER);
    no_from.retain(|(name, _)| name != "From");
    let url = public("/webhooks/twilio");
    let twilio = twilio_request("/webhooks/twilio", "", &no_from, &url, TWILIO_TOKEN);

    let not_json = b"{\"object\":\"whatsapp_business_account\",\"entry\":[";
    let whatsapp = whatsapp_request(not_json, &whatsapp::sign(WHATSAPP_APP_SECRET, not_json));

    let not_an_array = br#"{"event":"bounce","email":"ada@example.com"}"#;
    let timestamp = now().as_second().to_string();
    let sendgrid = sendgrid_request(&w.sendgrid, &timestamp, not_an_array);

    for (what, request) in [
        ("a Twilio form without From", twilio),
        ("a WhatsApp body that is not JSON", whatsapp),
        ("a SendGrid body that is not an array", sendgrid),
    ] {
        let response = w.webhook.handle(request).await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{what}: {}",
            text(&response)
        );
        let error: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(error["error"]["code"], "malformed", "{what}");
        assert_eq!(w.written().await, before, "{what}: nothing written");
    }
}
