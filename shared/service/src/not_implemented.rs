//! The answer of a function whose capability comes with a later issue: a
//! clear "not implemented yet", never a fake success.

use lambda_http::Request;
use lambda_http::http::StatusCode;

use crate::http::{HttpResponse, error};

/// HTTP functions answer 501.
pub async fn http(
    capability: &'static str,
    req: Request,
) -> Result<HttpResponse, std::convert::Infallible> {
    tracing::warn!(path = req.uri().path(), capability, "not implemented yet");
    Ok(error(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        &format!("not implemented yet: {capability}"),
    ))
}

/// Queue and schedule functions fail the invocation, so their messages stay
/// on the queue (and reach its DLQ) instead of being acknowledged unprocessed.
pub async fn event(
    capability: &'static str,
    _event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    tracing::warn!(capability, "not implemented yet");
    Err(format!("not implemented yet: {capability}").into())
}
