//! The simulated Cal.com API v2: free slots (`GET /v2/slots`,
//! `cal-api-version: 2024-09-04`) and bookings (`POST /v2/bookings`,
//! `GET /v2/bookings/{uid}`, `POST /v2/bookings/{uid}/reschedule` and
//! `/cancel`, `2024-08-13`), following `docs/calcom-api.md`.
//!
//! Every API key starting with `cal_` is an account of its own, with its own
//! bookings, faults and records. Where Cal.com is lenient the simulator is
//! strict, to catch a client that would only work by luck: it wants the key
//! on every request (Cal.com serves public event types without one), and the
//! right `cal-api-version` (Cal.com falls back to its legacy shapes).

mod booking;
mod calendar;
mod schedule;
mod slots;

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::{Bytes, to_bytes};
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::Timestamp;
use serde_json::{Value, json};

pub use booking::{Attendee, Booking, BookingStatus};
use booking::{BookingRequest, RescheduleRequest, cancellation_reason};
pub(crate) use calendar::Calendar;
pub use calendar::{CalcomFaults, CalcomRequestRecord};
pub use schedule::{Day, EventType, EventTypeUpdate};
use slots::SlotQuery;

use crate::control::query_pairs;
use crate::conversation::iso_millis;
use crate::state::{ControlError, SimControl};

/// The `cal-api-version` of the slots endpoint.
pub const SLOTS_API_VERSION: &str = "2024-09-04";
/// The `cal-api-version` of the bookings endpoints.
pub const BOOKINGS_API_VERSION: &str = "2024-08-13";

const MAX_BODY_BYTES: usize = 1 << 20;

/// Whether `key` is a Cal.com API key, hence an account (`cal_live_…`, `cal_…`).
pub(crate) fn is_account(key: &str) -> bool {
    key.len() > "cal_".len() && key.starts_with("cal_")
}

pub(crate) fn routes() -> Router<SimControl> {
    Router::new()
        .route("/v2/slots", get(slots))
        .route("/v2/bookings", post(book))
        .route("/v2/bookings/{uid}", get(get_booking))
        .route("/v2/bookings/{uid}/reschedule", post(reschedule))
        .route("/v2/bookings/{uid}/cancel", post(cancel))
}

async fn slots(State(control): State<SimControl>, request: Request) -> Response {
    serve(control, Endpoint::Slots, request).await
}

async fn book(State(control): State<SimControl>, request: Request) -> Response {
    serve(control, Endpoint::Book, request).await
}

async fn get_booking(
    State(control): State<SimControl>,
    Path(uid): Path<String>,
    request: Request,
) -> Response {
    serve(control, Endpoint::Booking(uid), request).await
}

async fn reschedule(
    State(control): State<SimControl>,
    Path(uid): Path<String>,
    request: Request,
) -> Response {
    serve(control, Endpoint::Reschedule(uid), request).await
}

async fn cancel(
    State(control): State<SimControl>,
    Path(uid): Path<String>,
    request: Request,
) -> Response {
    serve(control, Endpoint::Cancel(uid), request).await
}

/// What a request asks of the API.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Endpoint {
    Slots,
    Book,
    Booking(String),
    Reschedule(String),
    Cancel(String),
}

impl Endpoint {
    fn api_version(&self) -> &'static str {
        match self {
            Endpoint::Slots => SLOTS_API_VERSION,
            _ => BOOKINGS_API_VERSION,
        }
    }

    fn check_version(&self, sent: Option<&str>) -> Result<(), ApiError> {
        let wanted = self.api_version();
        if sent == Some(wanted) {
            return Ok(());
        }
        Err(ApiError::bad_request(format!(
            "leadline-sim needs cal-api-version {wanted} here, got {}: Cal.com would fall back \
             to its legacy 2024-04-15 shapes",
            sent.unwrap_or("none")
        )))
    }
}

/// One request, read.
struct Incoming {
    method: String,
    path: String,
    /// The path and query, as the error envelope's `path` shows them.
    url: String,
    query: BTreeMap<String, String>,
    account: Option<String>,
    api_version: Option<String>,
    /// The body; null when empty.
    body: Result<Value, String>,
}

impl Incoming {
    fn new(parts: &Parts, body: &Bytes) -> Self {
        let header_value = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let account = header_value(header::AUTHORIZATION.as_str())
            .and_then(|value| value.strip_prefix("Bearer "))
            .filter(|key| is_account(key));
        let body = if body.is_empty() {
            Ok(Value::Null)
        } else {
            serde_json::from_slice(body).map_err(|e| format!("Invalid JSON body: {e}"))
        };
        Incoming {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            url: parts
                .uri
                .path_and_query()
                .map_or("/", |url| url.as_str())
                .to_owned(),
            query: query_pairs(&parts.uri).into_iter().collect(),
            account: account.map(str::to_owned),
            api_version: header_value("cal-api-version").map(str::to_owned),
            body,
        }
    }

    fn json(&self) -> Result<&Value, ApiError> {
        self.body.as_ref().map_err(ApiError::bad_request)
    }
}

/// Handles a request at once and answers it after the faults' latency: a
/// client that gives up meanwhile does not undo what it asked.
async fn serve(control: SimControl, endpoint: Endpoint, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY_BYTES).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let incoming = Incoming::new(&parts, &body);
    let (status, body, latency) = handle(&control, &endpoint, &incoming);
    tokio::time::sleep(latency).await;
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        for (name, value) in [
            ("x-ratelimit-limit-default", "120"),
            ("x-ratelimit-remaining-default", "0"),
            ("x-ratelimit-reset-default", "1"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

/// The status and body that answer `incoming`, and the latency to answer
/// them with; the request is recorded.
fn handle(
    control: &SimControl,
    endpoint: &Endpoint,
    incoming: &Incoming,
) -> (StatusCode, Value, Duration) {
    let now = control.config().virtual_now();
    let mut calendar = control.calendar();
    let mut latency = Duration::ZERO;
    let result = match &incoming.account {
        None => Err(ApiError::unauthorized()),
        Some(account) => {
            let fault = calendar.request_fault(account);
            latency = fault.latency;
            match fault.status {
                Some(status) => Err(ApiError::forced(status)),
                None => endpoint
                    .check_version(incoming.api_version.as_deref())
                    .and_then(|()| answer(&mut calendar, account, endpoint, incoming, now)),
            }
        }
    };
    let (status, body) = match result {
        Ok((status, data)) => (status, json!({"status": "success", "data": data})),
        Err(error) => (error.status, error.body(&incoming.url, now)),
    };
    calendar.record(CalcomRequestRecord {
        seq: 0,
        method: incoming.method.clone(),
        path: incoming.path.clone(),
        query: incoming.query.clone(),
        api_version: incoming.api_version.clone(),
        account: incoming.account.clone(),
        body: incoming.body.clone().unwrap_or(Value::Null),
        status: status.as_u16(),
        at: Timestamp::now(),
    });
    (status, body, latency)
}

/// The status and `data` of a successful answer.
fn answer(
    calendar: &mut Calendar,
    account: &str,
    endpoint: &Endpoint,
    incoming: &Incoming,
    now: Timestamp,
) -> Result<(StatusCode, Value), ApiError> {
    match endpoint {
        Endpoint::Slots => {
            let query = SlotQuery::parse(&incoming.query)?;
            let event_type = calendar.event_type(Some(account), query.event_type_id);
            let window = query.window(now);
            let free = calendar.free_slots(
                account,
                query.event_type_id,
                window,
                query.rescheduling.as_deref(),
            );
            Ok((StatusCode::OK, query.render(&free, event_type.duration())))
        }
        Endpoint::Book => {
            let request = BookingRequest::parse(incoming.json()?)?;
            let booking = calendar.book(account, request, now)?;
            Ok((StatusCode::CREATED, json!(booking)))
        }
        Endpoint::Booking(uid) => Ok((StatusCode::OK, json!(calendar.booking(account, uid)?))),
        Endpoint::Reschedule(uid) => {
            let request = RescheduleRequest::parse(incoming.json()?)?;
            let booking = calendar.reschedule(account, uid, request, now)?;
            Ok((StatusCode::CREATED, json!(booking)))
        }
        Endpoint::Cancel(uid) => {
            let reason = cancellation_reason(incoming.json()?)?;
            let booking = calendar.cancel(account, uid, reason, now)?;
            Ok((StatusCode::OK, json!(booking)))
        }
    }
}

/// A Cal.com error answer, as its Nest exception filter writes it:
/// `{"status": "error", "timestamp", "path", "error": {"code", "message", "details"}}`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    /// The exception's response object; none for an internal error.
    details: Option<Value>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let message = message.into();
        let details = json!({
            "message": message,
            "error": status.canonical_reason().unwrap_or("Error"),
            "statusCode": status.as_u16(),
        });
        ApiError {
            status,
            message,
            details: Some(details),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// The validation pipe's answer: every `ValidationError` in `details.errors`.
    fn invalid(errors: Vec<Value>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: "Bad Request Exception".into(),
            details: Some(json!({ "errors": errors })),
        }
    }

    fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "CustomThrottlerGuard - Invalid API Key",
        )
    }

    /// The answer a forced `status` stands for.
    fn forced(status: u16) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match status {
            StatusCode::INTERNAL_SERVER_ERROR => ApiError {
                status,
                message: "Internal server error.".into(),
                details: None,
            },
            StatusCode::TOO_MANY_REQUESTS => ApiError::new(
                status,
                "CustomThrottlerGuard - Too many requests. Please try again later.",
            ),
            _ => ApiError::new(status, status.canonical_reason().unwrap_or("Error")),
        }
    }

    /// `error.code`: the class name of the Nest exception.
    fn code(&self) -> &'static str {
        match self.status {
            StatusCode::BAD_REQUEST => "BadRequestException",
            StatusCode::UNAUTHORIZED => "UnauthorizedException",
            StatusCode::FORBIDDEN => "ForbiddenException",
            StatusCode::NOT_FOUND => "NotFoundException",
            StatusCode::CONFLICT => "ConflictException",
            StatusCode::UNPROCESSABLE_ENTITY => "UnprocessableEntityException",
            StatusCode::TOO_MANY_REQUESTS => "ThrottlerException",
            StatusCode::INTERNAL_SERVER_ERROR => "INTERNAL_SERVER_ERROR",
            StatusCode::BAD_GATEWAY => "BadGatewayException",
            StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailableException",
            StatusCode::GATEWAY_TIMEOUT => "GatewayTimeoutException",
            _ => "HttpException",
        }
    }

    pub(crate) fn body(&self, path: &str, now: Timestamp) -> Value {
        let mut error = json!({"code": self.code(), "message": self.message});
        if let Some(details) = &self.details {
            error["details"] = details.clone();
        }
        json!({"status": "error", "timestamp": iso_millis(now), "path": path, "error": error})
    }
}

/// What class-validator found wrong with a request, one `ValidationError`
/// per property, answered together as [`ApiError::invalid`].
#[derive(Default)]
struct Violations(Vec<Value>);

impl Violations {
    fn add(&mut self, property: &str, value: Option<&Value>, rule: &str, message: &str) {
        self.0.push(json!({
            "property": property,
            "value": value,
            "constraints": {rule: message},
            "children": [],
        }));
    }

    /// The violations of a nested object's properties, under its own.
    fn nest(&mut self, property: &str, value: &Value, children: Violations) {
        if !children.0.is_empty() {
            self.0.push(json!({
                "property": property,
                "value": value,
                "children": children.0,
            }));
        }
    }

    /// `parsed`, unless something was found wrong.
    fn finish<T>(self, parsed: Option<T>) -> Result<T, ApiError> {
        match parsed {
            Some(parsed) if self.0.is_empty() => Ok(parsed),
            _ => Err(ApiError::invalid(self.0)),
        }
    }
}

/// The simulated Cal.com, in process. `account` is an API key (`cal_…`);
/// `None` means every account, or for settings, every account without its own.
impl SimControl {
    /// Changes event type `id`; answers the event type now in force.
    pub fn set_calcom_event_type(
        &self,
        account: Option<&str>,
        id: i64,
        update: EventTypeUpdate,
    ) -> Result<EventType, ControlError> {
        check_account(account)?;
        self.calendar()
            .update_event_type(account, id, update)
            .map_err(ControlError)
    }

    pub fn calcom_event_type(&self, account: Option<&str>, id: i64) -> EventType {
        self.calendar().event_type(account, id)
    }

    /// Replaces the faults of `account`, or those of every account without
    /// faults of its own.
    pub fn set_calcom_faults(
        &self,
        account: Option<&str>,
        faults: CalcomFaults,
    ) -> Result<(), ControlError> {
        check_account(account)?;
        faults.validate().map_err(ControlError)?;
        self.calendar().set_faults(account, faults);
        Ok(())
    }

    /// Clears the faults of `account` (which then has everyone's), or all of them.
    pub fn clear_calcom_faults(&self, account: Option<&str>) {
        self.calendar().clear_faults(account);
    }

    /// The faults in force for `account`, or for every account without its own.
    pub fn calcom_faults(&self, account: Option<&str>) -> CalcomFaults {
        self.calendar().faults(account)
    }

    /// Every Cal.com request received, oldest first.
    pub fn calcom_requests(&self, account: Option<&str>) -> Vec<CalcomRequestRecord> {
        self.calendar().requests(account)
    }

    /// Every booking made, cancelled ones included, oldest first.
    pub fn calcom_bookings(&self, account: Option<&str>) -> Vec<Booking> {
        self.calendar().bookings(account)
    }
}

fn check_account(account: Option<&str>) -> Result<(), ControlError> {
    match account {
        Some(key) if !is_account(key) => Err(ControlError(format!(
            "account {key:?} is not a Cal.com API key (cal_…)"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
