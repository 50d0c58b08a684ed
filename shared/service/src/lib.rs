//! What every leadline function shares at its edge: configuration read once
//! per cold start, the mapping of domain errors to HTTP answers, the API
//! router, and the answer of functions whose capability is still to come.

pub mod accounts;
pub mod api;
pub mod batch;
pub mod cache;
pub mod config;
pub mod dial_worker;
pub mod http;
pub mod messaging_webhook;
pub mod messenger;
pub mod not_implemented;
pub mod retries;
pub mod voice_webhook;
pub mod webhook;

/// Logs as JSON when Lambda asks for it (`AWS_LAMBDA_LOG_FORMAT=JSON`, set by
/// the template's `LoggingConfig`), at the level of `AWS_LAMBDA_LOG_LEVEL` (or
/// `RUST_LOG`), INFO by default. A plain level filter, not the runtime's
/// `EnvFilter`: compiling the filter's directives cost ~0.4 ms of every cold
/// start, and a level is all the template sets.
///
/// Plain-text lines start with `[<function>] ` (`AWS_LAMBDA_FUNCTION_NAME`),
/// so that the output of functions sharing one terminal or file (`cargo
/// lambda watch`) tells whose line is whose; JSON lines are as Lambda wants
/// them (CloudWatch keeps each function's apart).
pub fn init_tracing() {
    use tracing_subscriber::filter::LevelFilter;
    let level = ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok();
    tracing::subscriber::set_global_default(logs(level, json, function, std::io::stdout))
        .expect("tracing is set up once");
}

fn logs<W>(
    level: tracing_subscriber::filter::LevelFilter,
    json: bool,
    function: Option<String>,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let logs = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(writer);
    if json {
        // Lambda stamps every line itself; CloudWatch wants one JSON object a line.
        return Box::new(logs.json().without_time().with_current_span(false).finish());
    }
    let plain = tracing_subscriber::fmt::format().with_target(false);
    match function {
        Some(function) => Box::new(logs.event_format(Named { function, plain }).finish()),
        None => Box::new(logs.event_format(plain).finish()),
    }
}

/// The plain format, each line after `[<function>] `.
struct Named<F> {
    function: String,
    plain: F,
}

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for Named<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "[{}] ", self.function)?;
        self.plain.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::filter::LevelFilter;

    use super::*;

    fn lines(json: bool, function: Option<&str>) -> String {
        let written = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = written.clone();
        let writer = move || Sink(sink.clone());
        let subscriber = logs(LevelFilter::INFO, json, function.map(str::to_owned), writer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(tenant = "acme", "tenant created");
            tracing::debug!("below the level");
        });
        String::from_utf8(written.lock().unwrap().clone()).unwrap()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn plain_lines_name_their_function_and_json_lines_stay_as_lambda_wants_them() {
        let named = lines(false, Some("voice-webhook"));
        assert_eq!(named.lines().count(), 1, "{named}");
        assert!(named.starts_with("[voice-webhook] "), "{named}");
        assert!(
            named
                .trim_end()
                .ends_with("INFO tenant created tenant=\"acme\""),
            "{named}"
        );
        let unnamed = lines(false, None);
        assert!(
            unnamed
                .trim_start()
                .starts_with(|c: char| c.is_ascii_digit()),
            "{unnamed}"
        );
        let json: serde_json::Value = serde_json::from_str(&lines(true, Some("api"))).unwrap();
        assert_eq!(json["fields"]["message"], "tenant created");
        assert!(json.get("timestamp").is_none(), "{json}");
    }
}

pub mod wiring;
