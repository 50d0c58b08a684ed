//! The provider APIs' HTTP side, common to Retell and Vapi: authentication,
//! forced faults, validation, the concurrency limit, and the call's start.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use tracing::{error, info};

use crate::call::{CallDetails, CallFacts, PlacedCall};
use crate::config::SimConfig;
use crate::playout;
use crate::provider::Provider;
use crate::records::{CallRequestRecord, RejectionClass};
use crate::script::Outcome;
use crate::state::SimControl;

/// What differs between the providers' create-call APIs.
pub(crate) trait ProviderApi: Send + 'static {
    const PROVIDER: Provider;

    fn api_key(config: &SimConfig) -> &str;
    fn new_call_id() -> String;
    /// The destination number the body names, valid or not.
    fn destination(body: &Value) -> Option<&str>;
    /// Validates a create-call body like the real API.
    fn parse(body: &Value) -> Result<(String, CallDetails), Rejection>;

    fn unauthorized() -> Rejection;
    fn malformed(error: &serde_json::Error) -> Rejection;
    fn invalid_number(number: &str) -> Rejection;
    fn over_concurrency(limit: usize) -> Rejection;
    fn not_found() -> Rejection;
    /// The message of a forced error with this status.
    fn forced_message(status: StatusCode) -> ErrorMessage;
    fn error_body(rejection: &Rejection) -> Value;
}

/// An error message: one string, or the list a NestJS validation pipe gives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub(crate) enum ErrorMessage {
    One(String),
    Many(Vec<String>),
}

impl ErrorMessage {
    pub(crate) fn joined(&self) -> String {
        match self {
            ErrorMessage::One(message) => message.clone(),
            ErrorMessage::Many(messages) => messages.join("; "),
        }
    }
}

/// A create-call request the API refuses.
#[derive(Clone, Debug)]
pub(crate) struct Rejection {
    pub status: StatusCode,
    pub class: RejectionClass,
    pub message: ErrorMessage,
    /// A forced body, instead of the provider's error body (boxed: a
    /// rejection travels in `Err`, and most carry none).
    pub body: Option<Box<Value>>,
    pub headers: BTreeMap<String, String>,
}

impl Rejection {
    pub(crate) fn new(status: StatusCode, class: RejectionClass, message: ErrorMessage) -> Self {
        Rejection {
            status,
            class,
            message,
            body: None,
            headers: BTreeMap::new(),
        }
    }

    pub(crate) fn bad_request(message: ErrorMessage) -> Self {
        Rejection::new(StatusCode::BAD_REQUEST, RejectionClass::BadRequest, message)
    }

    fn body<P: ProviderApi>(&self) -> Value {
        self.body
            .as_deref()
            .cloned()
            .unwrap_or_else(|| P::error_body(self))
    }

    fn into_response<P: ProviderApi>(self) -> Response {
        let mut response = (self.status, Json(self.body::<P>())).into_response();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

/// `POST` create-call.
pub(crate) async fn create_call<P: ProviderApi>(
    State(control): State<SimControl>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // In a task of its own: a client that gives up waiting (a forced delay)
    // does not cancel the request, which may still place the call.
    match tokio::spawn(handle_create_call::<P>(control, headers, body)).await {
        Ok(response) => response,
        Err(e) => {
            error!(provider = %P::PROVIDER, "create-call handler failed: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn handle_create_call<P: ProviderApi>(
    control: SimControl,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = serde_json::from_slice::<Value>(&body);
    let record = request_record::<P>(&headers, &body, json.as_ref().ok());
    let call = match accept::<P>(&control, &headers, json, record.to.as_deref()).await {
        Ok(call) => call,
        Err(rejection) => return refuse::<P>(&control, record, rejection),
    };
    let body = call.to_json(&CallFacts::DIALING);
    let accepted = CallRequestRecord {
        status: StatusCode::CREATED.as_u16(),
        response: body.clone(),
        call_id: Some(call.id.clone()),
        script: Some(call.script.clone()),
        phase: Some(CallFacts::DIALING.phase),
        ..record.clone()
    };
    match control.admit(accepted, call.clone()) {
        Ok(()) => {
            info!(provider = %P::PROVIDER, call_id = %call.id, to = %call.to, script = ?call.script, "call placed");
            control.spawn(playout::play_out(control.clone(), call));
            (StatusCode::CREATED, Json(body)).into_response()
        }
        Err(limit) => refuse::<P>(&control, record, P::over_concurrency(limit)),
    }
}

/// Everything but the concurrency limit: the call to place, or why not.
async fn accept<P: ProviderApi>(
    control: &SimControl,
    headers: &HeaderMap,
    json: Result<Value, serde_json::Error>,
    to: Option<&str>,
) -> Result<Arc<PlacedCall>, Rejection> {
    if !authorized::<P>(control, headers) {
        return Err(P::unauthorized());
    }
    let body = json.map_err(|e| P::malformed(&e))?;
    if let Some(forced) = control.next_forced(P::PROVIDER, to) {
        info!(provider = %P::PROVIDER, ?to, ?forced, "forced create-call response");
        tokio::time::sleep(Duration::from_millis(forced.delay_ms)).await;
        if let Some(status) = forced.status {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err(Rejection {
                body: forced.body.map(Box::new),
                headers: forced.headers,
                ..Rejection::new(status, RejectionClass::Forced, P::forced_message(status))
            });
        }
    }
    let (to, details) = P::parse(&body)?;
    let (script, _) = control.script_for(&to);
    if script.outcome == Outcome::InvalidNumber {
        return Err(P::invalid_number(&to));
    }
    Ok(Arc::new(PlacedCall {
        provider: P::PROVIDER,
        id: P::new_call_id(),
        to,
        script,
        created_at: Timestamp::now(),
        details,
    }))
}

fn refuse<P: ProviderApi>(
    control: &SimControl,
    record: CallRequestRecord,
    rejection: Rejection,
) -> Response {
    info!(
        provider = %P::PROVIDER,
        to = ?record.to,
        status = rejection.status.as_u16(),
        reason = %rejection.message.joined(),
        "create-call refused"
    );
    control.log_request(CallRequestRecord {
        status: rejection.status.as_u16(),
        rejection: Some(rejection.class),
        response: rejection.body::<P>(),
        ..record
    });
    rejection.into_response::<P>()
}

fn request_record<P: ProviderApi>(
    headers: &HeaderMap,
    body: &[u8],
    json: Option<&Value>,
) -> CallRequestRecord {
    let headers = CallRequestRecord::HEADERS_OF_INTEREST
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?;
            Some((
                (*name).to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ))
        })
        .collect();
    CallRequestRecord {
        seq: 0,
        provider: P::PROVIDER,
        received_at: Timestamp::now(),
        to: json.and_then(P::destination).map(str::to_owned),
        status: 0,
        rejection: None,
        response: Value::Null,
        call_id: None,
        script: None,
        phase: None,
        body: json
            .cloned()
            .unwrap_or_else(|| Value::String(String::from_utf8_lossy(body).into_owned())),
        headers,
        accepted_ms: None,
        released_ms: None,
    }
}

/// `GET` a call: Retell `/v2/get-call/{call_id}`, Vapi `/call/{id}`.
pub(crate) async fn get_call<P: ProviderApi>(
    State(control): State<SimControl>,
    headers: HeaderMap,
    Path(call_id): Path<String>,
) -> Response {
    if !authorized::<P>(&control, &headers) {
        return P::unauthorized().into_response::<P>();
    }
    match control.live_call(P::PROVIDER, &call_id) {
        Some((call, facts)) => Json(call.to_json(&facts)).into_response(),
        None => P::not_found().into_response::<P>(),
    }
}

/// `Authorization: Bearer <the provider's API key>`.
fn authorized<P: ProviderApi>(control: &SimControl, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        == Some(P::api_key(control.config()))
}
