//! The messaging part of the demo: the businesses of the other sections
//! message through the simulated Twilio, SendGrid and WhatsApp, whose
//! signed status callbacks, events and the leads' replies come back through
//! the deployed messaging webhook. The report lists, per business, its
//! messages by status (as `GET /v1/messages?status=` answers), what each
//! lead was sent, and the opt-outs taken.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::Api;
use crate::calling::Sim;

/// Every status a message can be in, in the report's order.
const STATUSES: [&str; 13] = [
    "queued",
    "waiting",
    "sending",
    "sent",
    "delivered",
    "read",
    "undelivered",
    "failed",
    "suppressed",
    "dropped",
    "refused",
    "unknown",
    "received",
];

/// Sets a business's senders and rules (`PUT /v1/messaging`).
pub async fn configure(api: &Api, key: &str, settings: &Value) {
    api.expect(
        Method::PUT,
        "/v1/messaging",
        key,
        Some(("application/json", settings.to_string().into_bytes())),
        200,
    )
    .await;
}

/// A business's own SMS number for this run (numbers are claimed once).
pub fn sender(n: u32) -> String {
    format!("+1212555{:04}", (std::process::id() * 7 + n) % 10_000)
}

/// The lead's messages, as the API answers them.
pub async fn of_lead(api: &Api, key: &str, lead: &str) -> Vec<Value> {
    let answer = api
        .expect(
            Method::GET,
            &format!("/v1/leads/{lead}/messages"),
            key,
            None,
            200,
        )
        .await;
    answer["items"].as_array().cloned().unwrap_or_default()
}

/// Waits (up to `limit`) until no message of the business is still on its
/// way: queued, held back or being sent.
pub async fn settle(api: &Api, key: &str, limit: Duration) {
    let started = Instant::now();
    while started.elapsed() < limit {
        let mut moving = 0;
        for status in ["queued", "sending", "waiting"] {
            moving += by_status(api, key, status).await;
        }
        if moving == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn by_status(api: &Api, key: &str, status: &str) -> usize {
    let page = api
        .expect(
            Method::GET,
            &format!("/v1/messages?status={status}&limit=100"),
            key,
            None,
            200,
        )
        .await;
    page["items"].as_array().map_or(0, Vec::len)
}

/// The report's lines for one business: messages by status, and the
/// do-not-call entries its leads' messages made.
pub async fn report(api: &Api, key: &str, name: &str, report: &mut Vec<String>) {
    let mut counts = Vec::new();
    for status in STATUSES {
        let n = by_status(api, key, status).await;
        if n > 0 {
            counts.push(format!("{status} {n}"));
        }
    }
    report.push(format!(
        "  {name}: messages by status  {}",
        if counts.is_empty() {
            "none".to_owned()
        } else {
            counts.join(", ")
        }
    ));
    let list = api
        .expect(Method::GET, "/v1/do-not-call", key, None, 200)
        .await;
    for entry in list["items"].as_array().into_iter().flatten() {
        report.push(format!(
            "    opt-out       {} ({}): {}",
            mask(entry["address"].as_str().unwrap_or_default()),
            entry["source"].as_str().unwrap_or("?"),
            entry["reason"].as_str().unwrap_or_default()
        ));
    }
}

/// One line per message of a lead: channel, purpose, status, why.
pub fn lines(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            if m["direction"] == "inbound" {
                format!(
                    "{} from the lead: {:?}",
                    m["channel"].as_str().unwrap_or("?"),
                    m["text"].as_str().unwrap_or_default()
                )
            } else {
                format!(
                    "{} {} -> {}{}",
                    m["channel"].as_str().unwrap_or("?"),
                    m["purpose"].as_str().unwrap_or("?"),
                    m["status"].as_str().unwrap_or("?"),
                    m["reason"]
                        .as_str()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                )
            }
        })
        .collect()
}

/// `+1••••••0142`: enough to tell numbers apart in a report.
pub fn mask(address: &str) -> String {
    match address.split_once('@') {
        Some((user, domain)) => format!("{}•••@{domain}", &user[..user.len().min(1)]),
        None if address.len() > 6 => format!(
            "{}{}{}",
            &address[..2],
            "•".repeat(address.len() - 6),
            &address[address.len() - 4..]
        ),
        None => address.to_owned(),
    }
}

/// The lead texts the business's number (as the simulated Twilio forwards it).
pub async fn text(sim: &Sim, from: &str, to: &str, body: &str) {
    sim.send(
        Method::POST,
        "/_sim/twilio/inbound",
        Some(json!({"from": from, "to": to, "body": body})),
    )
    .await;
}

/// The lead answers the next message it gets with `reply`.
pub async fn will_reply(sim: &Sim, address: &str, reply: &str) {
    sim.send(
        Method::PUT,
        "/_sim/messaging/script",
        Some(json!({"address": address, "reply": {"text": reply, "after_ms": 300, "channel": "sms"}})),
    )
    .await;
}
