//! Messaging end to end: the messenger (under cargo lambda watch, and the
//! one deployed in MiniStack on the messenger's queue) sends through the
//! simulated Twilio, SendGrid and WhatsApp; their signed status callbacks,
//! events and the leads' replies come back through the messaging webhook
//! (the deployed one, at the stack's HTTP API, and the one under watch).
//! Every assertion is on what a user would see: the messages the providers
//! received, the lead's messages and the do-not-call list through the API.

use std::time::Duration;

use leadline_core::LeadId;
use leadline_core::messaging::message::{
    Channel, MessageJob, MessagePurpose, MessengerWork, Recipient,
};
use leadline_core::{MessageId, Phone};
use leadline_tests::calling::*;
use leadline_tests::stack;
use reqwest::Method;
use serde_json::{Value, json};

/// A tenant messaging all day from its own numbers, with one lead.
struct Messaging {
    setup: Setup,
    sms_sender: String,
    whatsapp_id: String,
    lead: leadline_core::calling::lead::Lead,
    email: String,
}

async fn messaging() -> Messaging {
    let phone = number();
    let setup = setup("retell", std::slice::from_ref(&phone), 5).await;
    let sms_sender = number();
    let whatsapp_id = format!("1065{}", &number()[5..]);
    let email = format!("{}@example.com", setup.slug);
    let lead = setup.leads[0].clone();
    // The lead's email (the import had none).
    let store = store().await;
    let mut stored = leadline_core::ports::LeadStore::lead(&store, &lead.tenant, &lead.id)
        .await
        .unwrap()
        .unwrap();
    stored.email = Some(leadline_core::Email::parse(&email).unwrap());
    leadline_core::write::Commit::commit(
        &store,
        &[leadline_core::write::Change::Save(
            leadline_core::write::Entity::Lead(stored.clone()),
        )],
    )
    .await
    .unwrap();
    let settings = json!({
        "senders": {
            "sms_number": sms_sender, "email_from": "hello@acme.test", "email_name": "Acme",
            "whatsapp_number_id": whatsapp_id
        },
        "sms_per_second": 10,
        "sending_hours": {"start": "00:00", "end": "24:00"},
        "team_email": "team@acme.test",
        "booking_link": "https://cal.test/acme",
        "help_text": "Acme Dental, 555-0100.",
        "follow_up_rules": [{"outcomes": ["qualified"], "channel": "email"}]
    });
    let saved = stack()
        .call(
            Method::PUT,
            "api",
            "/v1/messaging",
            Some(&setup.key),
            Some(leadline_tests::Body::Json(settings)),
        )
        .await;
    assert_eq!(saved.status, 200, "{:?}", saved.body);
    Messaging {
        setup,
        sms_sender,
        whatsapp_id,
        lead: stored,
        email,
    }
}

impl Messaging {
    fn job(&self, channel: Channel, occasion: &str) -> MessageJob {
        let to: Recipient = match channel {
            Channel::Email => leadline_core::Email::parse(&self.email).unwrap().into(),
            _ => self.lead.phone.clone().into(),
        };
        MessageJob {
            id: MessageId::derive(&self.lead.id, "fallback", channel.as_str(), occasion),
            tenant: self.lead.tenant.clone(),
            lead: self.lead.id.clone(),
            channel,
            purpose: MessagePurpose::Fallback,
            template: "call_fallback".into(),
            lead_phone: (channel == Channel::Email).then(|| self.lead.phone.clone()),
            to,
            params: Default::default(),
            appointment: None,
            not_before: None,
            queued_at: None,
        }
    }

    /// The lead's messages, as the API answers them.
    async fn messages(&self) -> Vec<Value> {
        let answer = stack()
            .get(
                &self.setup.key,
                &format!("/v1/leads/{}/messages", self.lead.id),
            )
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        answer.body["items"].as_array().cloned().unwrap_or_default()
    }

    async fn message(&self, id: &MessageId) -> Option<Value> {
        self.messages()
            .await
            .into_iter()
            .find(|m| m["id"] == id.as_str())
    }

    /// Waits until the lead's messages satisfy `done`.
    async fn wait_messages(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let messages = self.messages().await;
            if done(&messages) {
                return messages;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: still {messages:#?}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn on_dnc_list(&self) -> bool {
        let list = stack().get(&self.setup.key, "/v1/do-not-call").await;
        list.body["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|i| i["address"] == self.lead.phone.e164()))
    }
}

/// The messenger under watch, with one SQS event of `work`.
async fn messenger(work: &[MessengerWork]) -> Value {
    let records: Vec<Value> = work
        .iter()
        .enumerate()
        .map(|(i, w)| json!({
            "messageId": format!("m{i}"), "receiptHandle": "r", "body": serde_json::to_string(w).unwrap(),
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:messages",
            "awsRegion": "us-east-1"
        }))
        .collect();
    let (status, answer) = stack()
        .invoke("messenger", &json!({ "Records": records }))
        .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// What the simulated providers accepted from leadline for `to`.
async fn received(to: &str) -> Vec<Value> {
    let path = format!(
        "/_sim/messages?to={}",
        to.replace('+', "%2B").replace('@', "%40")
    );
    sim(Method::GET, &path, None)
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m["direction"] == "outbound")
        .collect()
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn an_sms_is_sent_once_from_the_tenants_number_and_its_status_callbacks_deliver_it() {
    let m = messaging().await;
    let job = m.job(Channel::Sms, "1");
    let work = [MessengerWork::Send(job.clone())];
    let answer = messenger(&work).await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    // Delivered again: nothing more is sent.
    messenger(&work).await;
    let sent = received(m.lead.phone.e164()).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["from"], m.sms_sender.as_str());
    assert!(
        sent[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("https://cal.test/acme")),
        "{sent:#?}"
    );
    // Twilio's signed status callbacks (to leadline's public URL) move it on.
    let messages = m
        .wait_messages("delivered by the status callbacks", |ms| {
            ms.iter()
                .any(|x| x["id"] == job.id.as_str() && x["status"] == "delivered")
        })
        .await;
    let message = messages
        .iter()
        .find(|x| x["id"] == job.id.as_str())
        .unwrap();
    let steps: Vec<&str> = message["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["queued", "sending", "sent", "delivered"]);
}

#[tokio::test]
async fn stop_by_sms_puts_the_number_on_the_list_and_nothing_reaches_it_again() {
    let m = messaging().await;
    // The lead texts STOP to the tenant's number: Twilio blocks it, answers
    // itself, and forwards it to the deployed messaging webhook.
    sim(
        Method::POST,
        "/_sim/twilio/inbound",
        Some(json!({"from": m.lead.phone.e164(), "to": m.sms_sender, "body": "Stop"})),
    )
    .await;
    wait_until("the number is on the do-not-call list", async || {
        m.on_dnc_list().await
    })
    .await;
    let lead = stack()
        .get(&m.setup.key, &format!("/v1/leads/{}", m.lead.id))
        .await;
    assert_eq!(lead.body["status"], "do_not_call", "{:?}", lead.body);
    // The conversation keeps the STOP; no confirmation from leadline (the carrier sends it).
    let messages = m
        .wait_messages("the STOP in the conversation", |ms| {
            ms.iter().any(|x| x["direction"] == "inbound")
        })
        .await;
    assert_eq!(messages.len(), 1, "{messages:#?}");
    // A message due now is not sent, and says why.
    let job = m.job(Channel::Sms, "after-stop");
    messenger(&[MessengerWork::Send(job.clone())]).await;
    let message = m.message(&job.id).await.expect("recorded");
    assert_eq!(message["status"], "suppressed", "{message}");
    assert!(
        received(m.lead.phone.e164()).await.is_empty(),
        "nothing was sent to the lead"
    );
}

#[tokio::test]
async fn a_phrase_opt_out_gets_one_confirmation_from_leadline() {
    let m = messaging().await;
    for id in ["first", "again"] {
        sim(
            Method::POST,
            "/_sim/twilio/inbound",
            Some(json!({"from": m.lead.phone.e164(), "to": m.sms_sender, "body": format!("please stop texting me ({id})")})),
        )
        .await;
    }
    wait_until("the number is on the list", async || m.on_dnc_list().await).await;
    wait_until("one confirmation sent", async || {
        received(m.lead.phone.e164()).await.len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = received(m.lead.phone.e164()).await;
    assert_eq!(sent.len(), 1, "at most one confirmation: {sent:#?}");
    assert!(
        sent[0]["body"]
            .as_str()
            .unwrap()
            .contains("no more messages")
    );
}

#[tokio::test]
async fn a_reply_to_a_number_no_tenant_has_is_acknowledged_and_dropped() {
    let nobody = number();
    let stranger = number();
    sim(
        Method::POST,
        "/_sim/twilio/inbound",
        Some(json!({"from": stranger, "to": nobody, "body": "hello?"})),
    )
    .await;
    let path = format!(
        "/_sim/messaging/deliveries?to={}",
        stranger.replace('+', "%2B")
    );
    let mut mine = Value::Null;
    wait_until("the sim delivered it", async || {
        let deliveries = sim(Method::GET, &path, None).await;
        mine = deliveries
            .as_array()
            .and_then(|d| d.iter().find(|d| d["kind"] == "inbound").cloned())
            .unwrap_or(Value::Null);
        !mine.is_null() && mine["status"].is_number()
    })
    .await;
    assert_eq!(mine["status"], 200, "{mine:#}");
    assert_eq!(mine["response_body"], "<Response></Response>", "{mine:#}");
}

#[tokio::test]
async fn whatsapp_outside_the_window_goes_as_the_approved_template_and_is_read() {
    let m = messaging().await;
    let job = m.job(Channel::Whatsapp, "1");
    messenger(&[MessengerWork::Send(job.clone())]).await;
    let sent = received(m.lead.phone.e164()).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["template"]["name"], "call_fallback", "{sent:#?}");
    // WhatsApp's signed statuses name only its own id: found through the send's record.
    m.wait_messages("read", |ms| {
        ms.iter()
            .any(|x| x["id"] == job.id.as_str() && x["status"] == "read")
    })
    .await;
    assert!(!m.whatsapp_id.is_empty());
}

#[tokio::test]
async fn an_email_bounce_puts_the_address_on_the_list() {
    let m = messaging().await;
    sim(
        Method::PUT,
        "/_sim/messaging/script",
        Some(json!({"address": m.email, "email": "bounce"})),
    )
    .await;
    let job = m.job(Channel::Email, "1");
    messenger(&[MessengerWork::Send(job.clone())]).await;
    assert_eq!(received(&m.email).await.len(), 1);
    m.wait_messages("the bounce recorded", |ms| {
        ms.iter()
            .any(|x| x["id"] == job.id.as_str() && x["status"] == "failed")
    })
    .await;
    let next = m.job(Channel::Email, "2");
    messenger(&[MessengerWork::Send(next.clone())]).await;
    let message = m.message(&next.id).await.unwrap();
    assert_eq!(message["status"], "suppressed", "{message}");
    assert_eq!(received(&m.email).await.len(), 1);
}

#[tokio::test]
async fn a_429_holds_the_message_back_and_a_5xx_fails_the_job_for_the_queue() {
    let m = messaging().await;
    let to = m.lead.phone.e164();
    sim(
        Method::POST,
        "/_sim/messaging/faults",
        Some(json!({"channel": "sms", "to": to, "send": [{"status": 429, "headers": {"retry-after": "2"}}]})),
    )
    .await;
    let job = m.job(Channel::Sms, "429");
    let answer = messenger(&[MessengerWork::Send(job.clone())]).await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let message = m.message(&job.id).await.unwrap();
    assert_eq!(message["status"], "waiting", "{message}");
    // Put back on the queue for 2 s later: the deployed messenger sends it then.
    m.wait_messages("sent after the backoff", |ms| {
        ms.iter().any(|x| {
            x["id"] == job.id.as_str() && matches!(x["status"].as_str(), Some("sent" | "delivered"))
        })
    })
    .await;

    sim(
        Method::POST,
        "/_sim/messaging/faults",
        Some(json!({"channel": "sms", "to": to, "send": [{"status": 503}]})),
    )
    .await;
    let failing = m.job(Channel::Sms, "503");
    let answer = messenger(&[MessengerWork::Send(failing.clone())]).await;
    assert_eq!(
        answer["batchItemFailures"][0]["itemIdentifier"], "m0",
        "{answer}"
    );
    let message = m.message(&failing.id).await.unwrap();
    assert_eq!(
        (message["status"].clone(), message["tries"].clone()),
        (json!("queued"), json!(1))
    );
}

#[tokio::test]
async fn a_twilio_webhook_signed_for_another_url_or_token_is_refused() {
    let m = messaging().await;
    let params = vec![
        (
            "MessageSid".to_owned(),
            "SM00000000000000000000000000000001".to_owned(),
        ),
        ("From".to_owned(), m.lead.phone.e164().to_owned()),
        ("To".to_owned(), m.sms_sender.clone()),
        ("Body".to_owned(), "STOP".to_owned()),
    ];
    let body = form(&params);
    let public = stack().url("messaging-webhook", "/webhooks/twilio");
    let token = var("LEADLINE_TWILIO_AUTH_TOKEN");
    for (url, token, expected) in [
        (
            "http://lambda.internal/webhooks/twilio".to_owned(),
            token.clone(),
            401,
        ),
        (public.clone(), "another-token".to_owned(), 401),
        (public.clone(), token.clone(), 200),
    ] {
        let signature = leadline_messaging::twilio::sign(&url, &params, &token);
        let response = stack()
            .http()
            .post(&public)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "signed for {url}");
        if expected == 200 {
            assert_eq!(
                response.headers()["content-type"].to_str().unwrap(),
                "text/xml"
            );
            assert_eq!(response.text().await.unwrap(), "<Response></Response>");
        }
    }
    // The one accepted STOP stops the lead; the refused ones did nothing before it.
    wait_until("the accepted STOP applied", async || m.on_dnc_list().await).await;
    let _ = Phone::parse(m.lead.phone.e164(), None).unwrap();
    let _: LeadId = m.lead.id.clone();
}

fn form(params: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}
