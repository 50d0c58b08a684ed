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

/// Clients and adapters a function builds once per cold start.
pub mod wiring {
    use leadline_aws::{Aws, OneOffs, SchedulerFollowUps, SqsDialQueue, SqsMessageQueue};
    use leadline_core::Error;

    use crate::config;

    fn one_offs(aws: &Aws, c: &config::DialQueueConfig) -> Result<OneOffs, Error> {
        Ok(OneOffs::new(
            aws.scheduler(),
            c.schedule_group.clone(),
            c.scheduler_role_arn.clone(),
        )
        .with_dead_letter_queue(c.dead_letter_arn.clone())
        .with_clock(config::clock()?))
    }

    pub fn dial_queue(aws: &Aws) -> Result<SqsDialQueue, Error> {
        let c = config::dial_queue()?;
        Ok(SqsDialQueue::new(
            aws.sqs(),
            c.queue_url.clone(),
            c.queue_arn.clone(),
            one_offs(aws, &c)?,
        )
        .with_clock(config::clock()?))
    }

    /// The schedules of owed calls (retries, callbacks), which target the dial queue.
    pub fn follow_ups(aws: &Aws) -> Result<SchedulerFollowUps, Error> {
        let c = config::dial_queue()?;
        Ok(SchedulerFollowUps::new(one_offs(aws, &c)?, c.queue_arn))
    }

    pub fn message_queue(aws: &Aws) -> Result<SqsMessageQueue, Error> {
        Ok(SqsMessageQueue::new(
            aws.sqs(),
            config::message_queue_url()?,
        ))
    }

    /// Cal.com, with its free slots cached for a short time.
    pub fn calendar() -> Result<crate::cache::CachedCalendar<leadline_calcom::CalcomClient>, Error>
    {
        let c = config::calcom()?;
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| Error::Internal(format!("the HTTP client: {e}")))?;
        let client = leadline_calcom::CalcomClient::new(http)
            .with_base_url(c.api_url)
            .with_timeout(c.timeout);
        Ok(crate::cache::CachedCalendar::new(
            client,
            crate::cache::CachedCalendar::<()>::TTL,
        ))
    }

    /// The provider clients, sharing one HTTP client with the create-call timeout.
    pub fn dialers() -> Result<
        crate::dial_worker::ProviderDialers<
            leadline_voice::RetellDialer,
            leadline_voice::VapiDialer,
        >,
        Error,
    > {
        let http = reqwest::Client::builder()
            .timeout(config::provider_timeout()?)
            .build()
            .map_err(|e| Error::Internal(format!("the HTTP client: {e}")))?;
        let retell = config::retell()?;
        let vapi = config::vapi()?;
        Ok(crate::dial_worker::ProviderDialers {
            retell: leadline_voice::RetellDialer::new(http.clone(), retell.api_key)
                .with_base_url(retell.api_url)
                .with_default_agent_id(retell.agent_id)
                .with_default_from_number(retell.from_number),
            vapi: leadline_voice::VapiDialer::new(http, vapi.api_key)
                .with_base_url(vapi.api_url)
                .with_default_assistant_id(vapi.assistant_id)
                .with_default_phone_number_id(vapi.phone_number_id),
        })
    }
}
