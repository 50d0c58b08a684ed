//! What every leadline function shares at its edge: configuration read once
//! per cold start, the mapping of domain errors to HTTP answers, the API
//! router, and the answer of functions whose capability is still to come.

pub mod api;
pub mod cache;
pub mod config;
pub mod dial_worker;
pub mod http;
pub mod not_implemented;
pub mod retries;
pub mod voice_webhook;

/// Logs as JSON when Lambda asks for it (`AWS_LAMBDA_LOG_FORMAT=JSON`, set by
/// the template's `LoggingConfig`), at the level of `AWS_LAMBDA_LOG_LEVEL` (or
/// `RUST_LOG`), INFO by default. A plain level filter, not the runtime's
/// `EnvFilter`: compiling the filter's directives cost ~0.4 ms of every cold
/// start, and a level is all the template sets.
pub fn init_tracing() {
    use tracing_subscriber::filter::LevelFilter;
    let level = ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let logs = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false);
    if json {
        // Lambda stamps every line itself; CloudWatch wants one JSON object a line.
        logs.json().without_time().with_current_span(false).init();
    } else {
        logs.with_target(false).init();
    }
}

pub mod wiring;
