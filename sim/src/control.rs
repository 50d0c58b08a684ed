//! The `/_sim/` endpoints: scripts, faults and settings in, records and
//! statistics out. All JSON; a bad request answers 400 `{"error": "..."}`.

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

use crate::faults::FaultRequest;
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
}

/// A control request the simulator refuses: 400 `{"error": "..."}`.
#[derive(Debug)]
struct BadRequest(String);

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

type Answer = Result<Json<Value>, BadRequest>;

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, BadRequest> {
    serde_json::from_slice(body).map_err(|e| BadRequest(format!("invalid JSON body: {e}")))
}

fn answer(value: impl Serialize) -> Answer {
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

/// `PUT /_sim/webhook-urls` `{"retell": "http://...", "vapi": null}`: sets the
/// URLs named (null = none); the others stay.
async fn put_webhook_urls(State(control): State<SimControl>, body: Bytes) -> Answer {
    let changes: BTreeMap<String, Value> = parse(&body)?;
    let mut updates = Vec::new();
    for (name, url) in changes {
        let provider: Provider = name.parse().map_err(BadRequest)?;
        match url {
            Value::Null => updates.push((provider, None)),
            Value::String(url) if url.starts_with("http://") || url.starts_with("https://") => {
                updates.push((provider, Some(url)));
            }
            other => {
                return Err(BadRequest(format!(
                    "{name}: expected an http(s) URL or null, got {other}"
                )));
            }
        }
    }
    for (provider, url) in updates {
        control.set_webhook_url(provider, url);
    }
    answer(control.webhook_urls())
}

async fn get_webhook_urls(State(control): State<SimControl>) -> Answer {
    answer(control.webhook_urls())
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

/// The record filter of a query string. A `+` stays a `+` (E.164 numbers
/// arrive both as `+1...` and `%2B1...`).
fn filter(uri: &Uri) -> Result<Filter, BadRequest> {
    let mut filter = Filter::default();
    for pair in uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match name {
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
