//! The messaging `/_sim/` endpoints: lead scripts, faults, accounts and
//! templates in; inbound messages triggered; messages, requests,
//! deliveries and statistics out.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::routing::{get, post, put};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;

use super::{Channel, MessageFilter, MessagingFaultRequest};
use crate::control::{Answer, BadRequest, answer, parse, query_pairs};
use crate::state::SimControl;
use crate::twilio::InboundSms;
use crate::whatsapp::InboundWhatsapp;

pub(crate) fn routes() -> Router<SimControl> {
    Router::new()
        .route(
            "/_sim/messaging/script",
            put(put_script).get(get_script).delete(delete_script),
        )
        .route("/_sim/messaging/faults", post(post_faults).get(get_faults))
        .route("/_sim/messages", get(messages))
        .route("/_sim/messaging/requests", get(requests))
        .route("/_sim/messaging/deliveries", get(deliveries))
        .route("/_sim/messaging/stats", get(stats))
        .route("/_sim/twilio/accounts", put(put_account).get(get_accounts))
        .route("/_sim/twilio/services", put(put_service).get(get_services))
        .route("/_sim/twilio/opt-outs", get(opt_outs))
        .route("/_sim/twilio/inbound", post(twilio_inbound))
        .route("/_sim/whatsapp/inbound", post(whatsapp_inbound))
        .route(
            "/_sim/whatsapp/templates",
            put(put_templates).get(get_templates),
        )
        .route("/_sim/whatsapp/window", put(put_window))
        .route("/_sim/sendgrid/public-key", get(public_key))
}

/// `PUT /_sim/messaging/script` with a [`LeadScript`].
async fn put_script(State(control): State<SimControl>, body: Bytes) -> Answer {
    let script = control.set_lead_script(parse(&body)?)?;
    answer(json!({"script": script}))
}

/// The `address` of a script query.
fn address(uri: &Uri) -> Result<String, BadRequest> {
    let mut address = None;
    for (name, value) in query_pairs(uri) {
        match name.as_str() {
            "address" => address = Some(value),
            other => return Err(BadRequest(format!("unknown query parameter {other:?}"))),
        }
    }
    address.ok_or_else(|| BadRequest("give ?address=".into()))
}

/// `GET /_sim/messaging/script?address=`.
async fn get_script(State(control): State<SimControl>, uri: Uri) -> Answer {
    let address = address(&uri)?;
    let script = control.lead_script(&address);
    answer(json!({"address": address, "script": script}))
}

/// `DELETE /_sim/messaging/script?address=`.
async fn delete_script(State(control): State<SimControl>, uri: Uri) -> Answer {
    let address = address(&uri)?;
    let removed = control.remove_lead_script(&address);
    answer(json!({"address": address, "removed": removed}))
}

/// `POST /_sim/messaging/faults` with a [`MessagingFaultRequest`].
async fn post_faults(State(control): State<SimControl>, body: Bytes) -> Answer {
    control.apply_messaging_faults(parse::<MessagingFaultRequest>(&body)?)?;
    answer(control.messaging_faults())
}

async fn get_faults(State(control): State<SimControl>) -> Answer {
    answer(control.messaging_faults())
}

/// The record filter of a query string: `channel`, `to`, `id`.
fn filter(uri: &Uri) -> Result<MessageFilter, BadRequest> {
    let mut filter = MessageFilter::default();
    for (name, value) in query_pairs(uri) {
        match name.as_str() {
            "channel" => filter.channel = Some(value.parse::<Channel>().map_err(BadRequest)?),
            "to" => filter.to = Some(value.trim().to_owned()),
            "id" => filter.id = Some(value),
            other => return Err(BadRequest(format!("unknown query parameter {other:?}"))),
        }
    }
    Ok(filter)
}

/// `GET /_sim/messages?channel=&to=&id=`.
async fn messages(State(control): State<SimControl>, uri: Uri) -> Answer {
    answer(control.messages(&filter(&uri)?))
}

/// `GET /_sim/messaging/requests?channel=&to=&id=`.
async fn requests(State(control): State<SimControl>, uri: Uri) -> Answer {
    answer(control.messaging_requests(&filter(&uri)?))
}

/// `GET /_sim/messaging/deliveries?channel=&to=&id=`.
async fn deliveries(State(control): State<SimControl>, uri: Uri) -> Answer {
    answer(control.messaging_deliveries(&filter(&uri)?))
}

/// `GET /_sim/messaging/stats?channel=&to=`.
async fn stats(State(control): State<SimControl>, uri: Uri) -> Answer {
    answer(control.messaging_stats(&filter(&uri)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Account {
    sid: String,
    token: String,
}

/// `PUT /_sim/twilio/accounts` `{"sid", "token"}`.
async fn put_account(State(control): State<SimControl>, body: Bytes) -> Answer {
    let account: Account = parse(&body)?;
    control.add_twilio_account(&account.sid, &account.token)?;
    answer(json!({"accounts": control.twilio_accounts()}))
}

async fn get_accounts(State(control): State<SimControl>) -> Answer {
    answer(json!({"accounts": control.twilio_accounts()}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Service {
    sid: String,
    number: String,
}

/// `PUT /_sim/twilio/services` `{"sid": "MG…", "number": "+1…"}`.
async fn put_service(State(control): State<SimControl>, body: Bytes) -> Answer {
    let service: Service = parse(&body)?;
    control.set_twilio_service_number(&service.sid, &service.number)?;
    answer(json!({"services": control.twilio_service_numbers()}))
}

async fn get_services(State(control): State<SimControl>) -> Answer {
    answer(json!({"services": control.twilio_service_numbers()}))
}

/// `GET /_sim/twilio/opt-outs`: `[{"lead", "sender"}]`.
async fn opt_outs(State(control): State<SimControl>) -> Answer {
    let pairs: Vec<_> = control
        .twilio_opt_outs()
        .into_iter()
        .map(|(lead, sender)| json!({"lead": lead, "sender": sender}))
        .collect();
    answer(pairs)
}

/// `POST /_sim/twilio/inbound` `{"from", "to", "body"}`: `{"sid"}`.
async fn twilio_inbound(State(control): State<SimControl>, body: Bytes) -> Answer {
    let sid = control.twilio_inbound(parse::<InboundSms>(&body)?)?;
    answer(json!({"sid": sid}))
}

/// `POST /_sim/whatsapp/inbound` `{"from", "phone_number_id",
/// "display_phone_number", "text" | "button_payload"}`: `{"id"}`.
async fn whatsapp_inbound(State(control): State<SimControl>, body: Bytes) -> Answer {
    let id = control.whatsapp_inbound(parse::<InboundWhatsapp>(&body)?)?;
    answer(json!({"id": id}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Templates {
    approved: Option<Vec<String>>,
}

/// `PUT /_sim/whatsapp/templates` `{"approved": ["name", ...] | null}`.
async fn put_templates(State(control): State<SimControl>, body: Bytes) -> Answer {
    let templates: Templates = parse(&body)?;
    control.set_whatsapp_templates(templates.approved);
    answer(json!({"approved": control.whatsapp_templates()}))
}

async fn get_templates(State(control): State<SimControl>) -> Answer {
    answer(json!({"approved": control.whatsapp_templates()}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Window {
    phone_number_id: String,
    user: String,
    last_inbound_at: Option<Timestamp>,
}

/// `PUT /_sim/whatsapp/window` `{"phone_number_id", "user", "last_inbound_at": RFC 3339 | null}`.
async fn put_window(State(control): State<SimControl>, body: Bytes) -> Answer {
    let window: Window = parse(&body)?;
    control.set_whatsapp_window(
        &window.phone_number_id,
        &window.user,
        window.last_inbound_at,
    )?;
    answer(json!({
        "phone_number_id": window.phone_number_id,
        "user": window.user,
        "last_inbound_at": window.last_inbound_at,
    }))
}

/// `GET /_sim/sendgrid/public-key`: `{"public_key"}`, base64 DER.
async fn public_key(State(control): State<SimControl>) -> Answer {
    answer(json!({"public_key": control.sendgrid_public_key()}))
}
