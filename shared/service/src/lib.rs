//! What every leadline function shares at its edge: configuration read once
//! per cold start, the mapping of domain errors to HTTP answers, the API
//! router, and the answer of functions whose capability is still to come.

pub mod api;
pub mod config;
pub mod http;
pub mod not_implemented;

/// Logs as JSON when Lambda asks for it (`AWS_LAMBDA_LOG_FORMAT=JSON`), at the
/// level of `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`.
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}
