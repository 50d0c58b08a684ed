//! Configuration from the environment the SAM template sets.

use leadline_core::Error;

fn required(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| Error::Internal(format!("the environment has no {name}")))
}

/// The table every function reads and writes.
pub fn table_name() -> Result<String, Error> {
    required("TABLE_NAME")
}

/// The admin API key (resolved by CloudFormation from Secrets Manager).
pub fn admin_api_key() -> Result<String, Error> {
    let key = required("ADMIN_API_KEY")?;
    if key.len() < 24 {
        return Err(Error::Internal(
            "ADMIN_API_KEY is shorter than 24 characters".into(),
        ));
    }
    Ok(key)
}

fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, Error> {
    match optional(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| Error::Internal(format!("{name}={raw:?} is not a number"))),
    }
}

/// Where dial jobs go: the queue, and the Scheduler group and role for later ones.
pub struct DialQueueConfig {
    pub queue_url: String,
    pub queue_arn: String,
    pub schedule_group: String,
    pub scheduler_role_arn: String,
    /// Where Scheduler puts scheduled work it could not deliver.
    pub dead_letter_arn: Option<String>,
}

/// Where one-off schedules are made: the group, the role Scheduler
/// assumes, its dead-letter queue, and the dial queue they target (owed calls).
pub struct SchedulesConfig {
    pub schedule_group: String,
    pub scheduler_role_arn: String,
    pub dead_letter_arn: Option<String>,
    pub dial_queue_arn: String,
}

pub fn schedules() -> Result<SchedulesConfig, Error> {
    Ok(SchedulesConfig {
        schedule_group: required("SCHEDULE_GROUP")?,
        scheduler_role_arn: required("SCHEDULER_ROLE_ARN")?,
        dead_letter_arn: optional("SCHEDULED_WORK_DLQ_ARN"),
        dial_queue_arn: required("DIAL_QUEUE_ARN")?,
    })
}

pub fn dial_queue() -> Result<DialQueueConfig, Error> {
    Ok(DialQueueConfig {
        queue_url: required("DIAL_QUEUE_URL")?,
        queue_arn: required("DIAL_QUEUE_ARN")?,
        schedule_group: required("SCHEDULE_GROUP")?,
        scheduler_role_arn: required("SCHEDULER_ROLE_ARN")?,
        dead_letter_arn: optional("SCHEDULED_WORK_DLQ_ARN"),
    })
}

/// The messenger's queue.
pub fn message_queue_url() -> Result<String, Error> {
    required("MESSAGE_QUEUE_URL")
}

/// The deployment's clock: the wall clock, unless `CLOCK_SCALE` (with
/// `CLOCK_REAL_ORIGIN` and `CLOCK_VIRTUAL_ORIGIN`, RFC 3339) makes it run
/// faster from an origin, as `make demo` does to show a day of retries in minutes.
pub fn clock() -> Result<leadline_aws::ScaledClock, Error> {
    let scale: f64 = number("CLOCK_SCALE", 1.0)?;
    if scale == 1.0 {
        return Ok(leadline_aws::ScaledClock::REAL);
    }
    let instant = |name: &str| -> Result<jiff::Timestamp, Error> {
        required(name)?
            .parse()
            .map_err(|e| Error::Internal(format!("{name} is not an RFC 3339 instant: {e}")))
    };
    leadline_aws::ScaledClock::new(
        instant("CLOCK_REAL_ORIGIN")?,
        instant("CLOCK_VIRTUAL_ORIGIN")?,
        scale,
    )
    .map_err(|e| Error::Internal(e.to_string()))
}

/// The provider plans: calls in flight per account, call starts per second.
pub fn deployment_limits() -> Result<leadline_core::calling::work::DeploymentLimits, Error> {
    let defaults = leadline_core::calling::work::DeploymentLimits::default();
    Ok(leadline_core::calling::work::DeploymentLimits {
        retell_concurrent_calls: number(
            "RETELL_CONCURRENT_CALLS",
            defaults.retell_concurrent_calls,
        )?,
        vapi_concurrent_calls: number("VAPI_CONCURRENT_CALLS", defaults.vapi_concurrent_calls)?,
        calls_per_second: number("CALLS_PER_SECOND", defaults.calls_per_second)?,
        max_call_seconds: number("MAX_CALL_SECONDS", defaults.max_call_seconds)?,
    })
}

/// The deployment's Retell account: the API key also signs Retell's webhooks.
pub struct RetellConfig {
    pub api_url: String,
    pub api_key: String,
    pub agent_id: Option<String>,
    pub from_number: Option<String>,
}

pub fn retell() -> Result<RetellConfig, Error> {
    Ok(RetellConfig {
        api_url: optional("RETELL_API_URL").unwrap_or_else(|| "https://api.retellai.com".into()),
        api_key: required("RETELL_API_KEY")?,
        agent_id: optional("RETELL_AGENT_ID"),
        from_number: optional("RETELL_FROM_NUMBER"),
    })
}

/// The deployment's Vapi account and how Vapi's server messages are authenticated.
pub struct VapiConfig {
    pub api_url: String,
    pub api_key: String,
    pub assistant_id: Option<String>,
    pub phone_number_id: Option<String>,
    /// The legacy `x-vapi-secret` shared secret.
    pub webhook_secret: Option<String>,
    /// An HMAC credential's secret: when set, server messages must carry its signature.
    pub webhook_hmac_secret: Option<String>,
}

pub fn vapi() -> Result<VapiConfig, Error> {
    Ok(VapiConfig {
        api_url: optional("VAPI_API_URL").unwrap_or_else(|| "https://api.vapi.ai".into()),
        api_key: required("VAPI_API_KEY")?,
        assistant_id: optional("VAPI_ASSISTANT_ID"),
        phone_number_id: optional("VAPI_PHONE_NUMBER_ID"),
        webhook_secret: optional("VAPI_WEBHOOK_SECRET"),
        webhook_hmac_secret: optional("VAPI_WEBHOOK_HMAC_SECRET"),
    })
}

/// How long a create-call request may take before it counts as timed out.
pub fn provider_timeout() -> Result<std::time::Duration, Error> {
    Ok(std::time::Duration::from_millis(number(
        "PROVIDER_TIMEOUT_MS",
        10_000,
    )?))
}

/// Cal.com: where its API is, and how long one request may take while a
/// caller waits (docs/calcom-api.md, "Budget").
pub struct CalcomConfig {
    pub api_url: String,
    pub timeout: std::time::Duration,
}

pub fn calcom() -> Result<CalcomConfig, Error> {
    Ok(CalcomConfig {
        api_url: optional("CALCOM_API_URL").unwrap_or_else(|| "https://api.cal.com".into()),
        timeout: std::time::Duration::from_millis(number("CALCOM_TIMEOUT_MS", 3_000)?),
    })
}

/// Messaging: the providers' API URLs, the deployment's accounts (resolved
/// by CloudFormation from Secrets Manager, like Retell's and Vapi's), where
/// tenants' own accounts are kept, and the public URL providers call back.
pub struct MessagingConfig {
    pub providers: leadline_messaging::MessagingConfig,
    pub deployment: leadline_messaging::MessagingAccounts,
    /// Secrets Manager names of tenants' own accounts: `<prefix>/<tenant>`.
    pub tenant_secrets_prefix: String,
    /// `https://api.example.com`: Twilio's signed URLs start with it.
    pub public_base_url: String,
}

pub fn messaging() -> Result<MessagingConfig, Error> {
    let defaults = leadline_messaging::MessagingConfig::default();
    let public_base_url = required("PUBLIC_BASE_URL")?;
    Ok(MessagingConfig {
        providers: leadline_messaging::MessagingConfig {
            twilio_api_url: optional("TWILIO_API_URL").unwrap_or(defaults.twilio_api_url),
            sendgrid_api_url: optional("SENDGRID_API_URL").unwrap_or(defaults.sendgrid_api_url),
            whatsapp_api_url: optional("WHATSAPP_API_URL").unwrap_or(defaults.whatsapp_api_url),
            whatsapp_api_version: optional("WHATSAPP_API_VERSION")
                .unwrap_or(defaults.whatsapp_api_version),
            timeout: std::time::Duration::from_millis(number("MESSAGING_TIMEOUT_MS", 5_000)?),
            public_base_url: Some(public_base_url.clone()),
        },
        deployment: leadline_messaging::MessagingAccounts {
            twilio_account_sid: optional("TWILIO_ACCOUNT_SID"),
            twilio_auth_token: optional("TWILIO_AUTH_TOKEN"),
            sendgrid_api_key: optional("SENDGRID_API_KEY"),
            sendgrid_webhook_public_key: optional("SENDGRID_WEBHOOK_PUBLIC_KEY"),
            whatsapp_access_token: optional("WHATSAPP_ACCESS_TOKEN"),
            whatsapp_app_secret: optional("WHATSAPP_APP_SECRET"),
            whatsapp_verify_token: optional("WHATSAPP_VERIFY_TOKEN"),
        },
        tenant_secrets_prefix: tenant_secrets_prefix()?,
        public_base_url,
    })
}

/// Where tenants' own messaging accounts are kept in Secrets Manager.
pub fn tenant_secrets_prefix() -> Result<String, Error> {
    required("TENANT_SECRETS_PREFIX")
}
