//! The `/_sim/` endpoints: scripts, faults and settings in, records and
//! statistics out, for the calls and for Cal.com (`/_sim/calcom/`). All
//! JSON; a bad request answers 400 `{"error": "..."}`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::calcom::{CalcomFaults, EventTypeUpdate, is_account};
use crate::faults::FaultRequest;
use crate::messaging::Channel;
use crate::provider::Provider;
use crate::records::Filter;
use crate::script::Script;
use crate::state::{ControlError, SimControl};

pub(crate) fn routes() -> Router<SimControl> {
    Router::new()
        .route(
            "/_sim/numbers/{number}",
            put(put_script).get(get_script).delete(delete_script),
        )
        .route("/_sim/faults", post(post_faults).get(get_faults))
        .route(
            "/_sim/webhook-urls",
            put(put_webhook_urls).get(get_webhook_urls),
        )
        .route("/_sim/limits", put(put_limits).get(get_limits))
        .route("/_sim/reset", post(reset))
        .route("/_sim/calls", get(calls))
        .route("/_sim/deliveries", get(deliveries))
        .route("/_sim/stats", get(stats))
        .route("/_sim/tool-calls", get(tool_calls))
        .route(
            "/_sim/calcom/event-types/{id}",
            put(put_event_type).get(get_event_type),
        )
        .route(
            "/_sim/calcom/faults",
            post(post_calcom_faults)
                .get(get_calcom_faults)
                .delete(delete_calcom_faults),
        )
        .route("/_sim/calcom/requests", get(calcom_requests))
        .route("/_sim/calcom/bookings", get(calcom_bookings))
}

/// A control request the simulator refuses: 400 `{"error": "..."}`.
#[derive(Debug)]
pub(crate) struct BadRequest(pub(crate) String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(json!({"error": self.0}))).into_response()
    }
}

impl From<ControlError> for BadRequest {
    fn from(error: ControlError) -> Self {
        BadRequest(error.0)
    }
}

pub(crate) type Answer = Result<Json<Value>, BadRequest>;

pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, BadRequest> {
    serde_json::from_slice(body).map_err(|e| BadRequest(format!("invalid JSON body: {e}")))
}

pub(crate) fn answer(value: impl Serialize) -> Answer {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| BadRequest(e.to_string()))
}

/// `PUT /_sim/numbers/{e164}` with a script: calls to the number play it.
async fn put_script(
    State(control): State<SimControl>,
    Path(number): Path<String>,
    body: Bytes,
) -> Answer {
    let script: Script = parse(&body)?;
    control.set_script(&number, script.clone())?;
    answer(json!({"number": number, "script": script, "explicit": true}))
}

/// `GET /_sim/numbers/{e164}`: the script the next call to the number plays.
async fn get_script(State(control): State<SimControl>, Path(number): Path<String>) -> Answer {
    let (script, explicit) = control.script_for(&number);
    answer(json!({"number": number, "script": script, "explicit": explicit}))
}

/// `DELETE /_sim/numbers/{e164}`: back to the default script.
async fn delete_script(State(control): State<SimControl>, Path(number): Path<String>) -> Answer {
    let removed = control.remove_script(&number);
    answer(json!({"number": number, "removed": removed}))
}

/// `POST /_sim/faults` with a [`FaultRequest`]; answers the faults now set.
async fn post_faults(State(control): State<SimControl>, body: Bytes) -> Answer {
    control.apply_faults(parse::<FaultRequest>(&body)?)?;
    answer(control.faults())
}

async fn get_faults(State(control): State<SimControl>) -> Answer {
    answer(control.faults())
}

/// A URL `PUT /_sim/webhook-urls` sets.
enum UrlSetting {
    Webhooks(Provider),
    RetellTools,
    Messaging(Channel),
}

/// `PUT /_sim/webhook-urls` `{"retell": "http://...", "vapi": null,
/// "retell_tools": "http://...", "twilio": ..., "sendgrid": ..., "whatsapp":
/// ...}`: sets the URLs named (null = none, or for `retell_tools`, next to
/// the Retell webhooks); the others stay.
async fn put_webhook_urls(State(control): State<SimControl>, body: Bytes) -> Answer {
    let changes: BTreeMap<String, Value> = parse(&body)?;
    let mut updates = Vec::new();
    for (name, url) in changes {
        let setting = match name.as_str() {
            "retell_tools" => UrlSetting::RetellTools,
            "twilio" => UrlSetting::Messaging(Channel::Sms),
            "sendgrid" => UrlSetting::Messaging(Channel::Email),
            "whatsapp" => UrlSetting::Messaging(Channel::Whatsapp),
            provider => UrlSetting::Webhooks(provider.parse().map_err(BadRequest)?),
        };
        let url = match url {
            Value::Null => None,
            Value::String(url) if url.starts_with("http://") || url.starts_with("https://") => {
                Some(url)
            }
            other => {
                return Err(BadRequest(format!(
                    "{name}: expected an http(s) URL or null, got {other}"
                )));
            }
        };
        updates.push((setting, url));
    }
    for (setting, url) in updates {
        match setting {
            UrlSetting::Webhooks(provider) => control.set_webhook_url(provider, url),
            UrlSetting::RetellTools => control.set_retell_tools_url(url),
            UrlSetting::Messaging(channel) => control.set_messaging_webhook_url(channel, url),
        }
    }
    webhook_urls(&control)
}

async fn get_webhook_urls(State(control): State<SimControl>) -> Answer {
    webhook_urls(&control)
}

/// `{"retell", "vapi", "retell_tools", "twilio", "sendgrid", "whatsapp"}`:
/// where webhooks and Retell's tool calls go.
fn webhook_urls(control: &SimControl) -> Answer {
    let urls = control.webhook_urls();
    let mut all = json!({
        "retell": urls.retell,
        "vapi": urls.vapi,
        "retell_tools": control.retell_tools_url(),
    });
    for (channel, url) in control.messaging_webhook_urls() {
        all[channel.provider()] = json!(url);
    }
    answer(all)
}

/// `PUT /_sim/limits` `{"retell": 20, "vapi": 10}`: concurrency limits of the
/// accounts named.
async fn put_limits(State(control): State<SimControl>, body: Bytes) -> Answer {
    let changes: BTreeMap<Provider, usize> = parse(&body)?;
    for (provider, limit) in changes {
        control.set_max_concurrent_calls(provider, limit);
    }
    answer(control.max_concurrent_calls())
}

async fn get_limits(State(control): State<SimControl>) -> Answer {
    answer(control.max_concurrent_calls())
}

/// `POST /_sim/reset`.
async fn reset(State(control): State<SimControl>) -> Answer {
    control.reset();
    answer(json!({"reset": true}))
}

/// `GET /_sim/calls?provider=&to=&call_id=`.
async fn calls(State(control): State<SimControl>, uri: Uri) -> Answer {
    answer(control.calls(&filter(&uri)?))
}

/// `GET /_sim/deliveries?provider=&to=&call_id=`.
async fn deliveries(State(control): State<SimControl>, uri: Uri) -> Answer {
    answer(control.deliveries(&filter(&uri)?))
}

/// `GET /_sim/stats?provider=&to=&call_id=`.
async fn stats(State(control): State<SimControl>, uri: Uri) -> Answer {
    answer(control.stats(&filter(&uri)?))
}

/// `GET /_sim/tool-calls?provider=&to=&call_id=`.
async fn tool_calls(State(control): State<SimControl>, uri: Uri) -> Answer {
    answer(control.tool_calls(&filter(&uri)?))
}

/// `PUT /_sim/calcom/event-types/{id}?account=` with an [`EventTypeUpdate`]:
/// the account's event type, or everyone's without `account`.
async fn put_event_type(
    State(control): State<SimControl>,
    Path(id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Answer {
    let id = event_type_id(&id)?;
    let account = account(&uri)?;
    let update: EventTypeUpdate = parse(&body)?;
    let event_type = control.set_calcom_event_type(account.as_deref(), id, update)?;
    answer(json!({"account": account, "id": id, "event_type": event_type}))
}

/// `GET /_sim/calcom/event-types/{id}?account=`: the event type in force.
async fn get_event_type(
    State(control): State<SimControl>,
    Path(id): Path<String>,
    uri: Uri,
) -> Answer {
    let id = event_type_id(&id)?;
    let account = account(&uri)?;
    let event_type = control.calcom_event_type(account.as_deref(), id);
    answer(json!({"account": account, "id": id, "event_type": event_type}))
}

/// `POST /_sim/calcom/faults?account=` with [`CalcomFaults`]: replaces the
/// account's faults, or everyone's without `account`.
async fn post_calcom_faults(State(control): State<SimControl>, uri: Uri, body: Bytes) -> Answer {
    let account = account(&uri)?;
    control.set_calcom_faults(account.as_deref(), parse::<CalcomFaults>(&body)?)?;
    calcom_faults(&control, account)
}

async fn get_calcom_faults(State(control): State<SimControl>, uri: Uri) -> Answer {
    calcom_faults(&control, account(&uri)?)
}

/// `DELETE /_sim/calcom/faults?account=`: clears the account's faults (it
/// then has everyone's), or all faults without `account`.
async fn delete_calcom_faults(State(control): State<SimControl>, uri: Uri) -> Answer {
    let account = account(&uri)?;
    control.clear_calcom_faults(account.as_deref());
    calcom_faults(&control, account)
}

/// `{"account", "faults"}`: the faults in force for the account, or everyone's.
fn calcom_faults(control: &SimControl, account: Option<String>) -> Answer {
    let faults = control.calcom_faults(account.as_deref());
    answer(json!({"account": account, "faults": faults}))
}

/// `GET /_sim/calcom/requests?account=`.
async fn calcom_requests(State(control): State<SimControl>, uri: Uri) -> Answer {
    answer(control.calcom_requests(account(&uri)?.as_deref()))
}

/// `GET /_sim/calcom/bookings?account=`.
async fn calcom_bookings(State(control): State<SimControl>, uri: Uri) -> Answer {
    answer(control.calcom_bookings(account(&uri)?.as_deref()))
}

fn event_type_id(id: &str) -> Result<i64, BadRequest> {
    id.parse()
        .map_err(|_| BadRequest(format!("event type id {id:?} is not an integer")))
}

/// The `account` of a Cal.com query: an API key (`cal_…`), or none for all.
fn account(uri: &Uri) -> Result<Option<String>, BadRequest> {
    let mut account = None;
    for (name, value) in query_pairs(uri) {
        match name.as_str() {
            "account" if is_account(&value) => account = Some(value),
            "account" => {
                return Err(BadRequest(format!(
                    "account {value:?} is not a Cal.com API key (cal_…)"
                )));
            }
            other => {
                return Err(BadRequest(format!("unknown query parameter {other:?}")));
            }
        }
    }
    Ok(account)
}

/// The decoded `name=value` pairs of a query string. A `+` stays a `+`
/// (E.164 numbers and UTC offsets arrive both as `+1...` and `%2B1...`).
pub(crate) fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

/// The record filter of a query string.
fn filter(uri: &Uri) -> Result<Filter, BadRequest> {
    let mut filter = Filter::default();
    for (name, value) in query_pairs(uri) {
        match name.as_str() {
            "provider" => filter.provider = Some(value.parse().map_err(BadRequest)?),
            "to" => filter.to = Some(value),
            "call_id" => filter.call_id = Some(value),
            other => {
                return Err(BadRequest(format!("unknown query parameter {other:?}")));
            }
        }
    }
    Ok(filter)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_filters_by_number_either_way_it_is_spelled() {
        for query in ["to=%2B14155550100", "to=+14155550100"] {
            let uri: Uri = format!("/_sim/calls?{query}&provider=vapi")
                .parse()
                .unwrap();
            let filter = filter(&uri).unwrap();
            assert_eq!(filter.to.as_deref(), Some("+14155550100"));
            assert_eq!(filter.provider, Some(Provider::Vapi));
        }
        assert!(filter(&"/_sim/calls?provider=twilio".parse().unwrap()).is_err());
        assert!(filter(&"/_sim/calls?number=1".parse().unwrap()).is_err());
        assert_eq!(percent_decode("%zz%2"), "%zz%2");
    }
}
