//! HTTP answers: one place maps every domain error to its status and body.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use leadline_core::Error;
use leadline_core::kernel::redact::Redacted;
use serde::Serialize;
use serde_json::json;

pub type HttpResponse = Response<Body>;

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> HttpResponse {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Body::Binary(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// An error answer: `{"error": {"code", "message", "field"?}}`.
pub fn error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    json(
        status,
        &json!({ "error": { "code": code, "message": message } }),
    )
}

/// The one mapping from domain errors to HTTP answers (DESIGN.md, rule 7).
pub fn from_error(e: &Error) -> HttpResponse {
    match e {
        Error::Invalid(invalid) => json(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({ "error": { "code": "invalid", "message": invalid.to_string(), "field": invalid.field } }),
        ),
        Error::Malformed(m) => error(StatusCode::BAD_REQUEST, "malformed", m),
        Error::TooLarge(m) => error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", m),
        Error::Unauthorized(m) => error(StatusCode::UNAUTHORIZED, "unauthorized", m),
        Error::NotFound(what) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("{what} not found"),
        ),
        Error::Conflict(m) => error(StatusCode::CONFLICT, "conflict", m),
        Error::Transition(t) => error(StatusCode::CONFLICT, "conflict", &t.to_string()),
        Error::Refused(_) => error(StatusCode::CONFLICT, "conflict", &e.to_string()),
        Error::Unavailable(m) => {
            tracing::warn!(error = %Redacted(m), "dependency unavailable");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "a dependency is unavailable; retry shortly",
            )
        }
        Error::Internal(m) => {
            tracing::error!(error = %Redacted(m), "internal error");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        }
    }
}

/// The body as bytes, as it arrived (API Gateway's base64 already undone).
pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// Reads a JSON body into `T`, answering 400 for what is not JSON of that shape.
pub fn parse_json<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T, Error> {
    let bytes = body_bytes(req);
    if bytes.is_empty() {
        return Err(Error::Malformed(
            "the request has no body; send JSON".into(),
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Malformed(format!("the body is not valid JSON for this request: {e}")))
}

/// The bearer token of the request, if any.
pub fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voice_webhook::test_support::logged;

    #[tokio::test]
    async fn a_failing_dependencys_words_are_logged_redacted_and_never_answered() {
        let words = "Cal.com answered 503: attendee ana@example.com, +14155552671";
        for e in [
            Error::Unavailable(words.into()),
            Error::Internal(words.into()),
        ] {
            let (response, log) = logged(async { from_error(&e) }).await;
            assert!(response.status().is_server_error());
            assert!(log.contains("a•••@example.com"), "{log}");
            assert_eq!(leadline_core::kernel::redact::leaks(&log), [], "{log}");
            let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
            assert!(
                body.contains("\"error\"") && !body.contains("Cal.com"),
                "{body}"
            );
        }
    }
}
