//! Clients and adapters a function builds once per cold start.
//!
//! What a cold start costs is measured by `make bench` (docs/performance.md):
//! each AWS client is built once per cold start ([`Aws`] hands out clones), and
//! every provider client (Retell, Vapi, Cal.com) shares one TLS
//! configuration whose roots are compiled into the binary.

use std::sync::OnceLock;

use leadline_aws::{Aws, OneOffs, SchedulerFollowUps, SqsDialQueue, SqsMessageQueue};
use leadline_core::Error;

use crate::config;

fn one_offs(aws: &Aws, c: &config::SchedulesConfig) -> Result<OneOffs, Error> {
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
        one_offs(aws, &config::schedules()?)?,
    )
    .with_clock(config::clock()?))
}

/// The schedules of owed calls (retries, callbacks), which target the dial queue.
pub fn follow_ups(aws: &Aws) -> Result<SchedulerFollowUps, Error> {
    let c = config::schedules()?;
    Ok(SchedulerFollowUps::new(
        one_offs(aws, &c)?,
        c.dial_queue_arn.clone(),
    ))
}

pub fn message_queue(aws: &Aws) -> Result<SqsMessageQueue, Error> {
    Ok(SqsMessageQueue::new(aws.sqs(), config::message_queue_url()?).with_clock(config::clock()?))
}

/// The messenger's queue, able to put a message back for later than SQS
/// can delay (quiet hours) through a Scheduler one-off.
pub fn message_queue_with_one_offs(aws: &Aws) -> Result<SqsMessageQueue, Error> {
    let c = config::schedules()?;
    let arn = std::env::var("MESSAGE_QUEUE_ARN")
        .map_err(|_| Error::Internal("the environment has no MESSAGE_QUEUE_ARN".into()))?;
    Ok(message_queue(aws)?.with_one_offs(one_offs(aws, &c)?, arn))
}

/// Tenants' own messaging accounts, read from Secrets Manager and kept a minute.
pub fn tenant_accounts(aws: &Aws, prefix: &str) -> crate::accounts::SecretAccounts {
    crate::accounts::SecretAccounts::new(leadline_aws::TenantSecrets::new(aws.secrets(), prefix))
}

/// The messaging providers (Twilio, SendGrid, WhatsApp), sharing one HTTP client.
pub fn messaging_providers(
    aws: &Aws,
    c: &config::MessagingConfig,
) -> Result<leadline_messaging::Providers<crate::accounts::SecretAccounts>, Error> {
    let http = provider_http(reqwest::Client::builder())?;
    Ok(leadline_messaging::Providers::new(
        http,
        &c.providers,
        c.deployment.clone(),
        tenant_accounts(aws, &c.tenant_secrets_prefix),
    ))
}

/// The TLS configuration of the provider clients, built once per process.
/// It trusts Mozilla's root program (`webpki-roots`), compiled into the
/// binary as parsed trust anchors. reqwest's default instead reads and
/// parses the system's ~140 root certificates for every client it builds:
/// ~4.5 ms of each cold start. `LEADLINE_TLS_SYSTEM_ROOTS=1` restores the
/// system's roots (say, behind a TLS-inspecting proxy), as it does for AWS.
fn provider_tls() -> Option<rustls::ClientConfig> {
    static TLS: OnceLock<Option<rustls::ClientConfig>> = OnceLock::new();
    TLS.get_or_init(|| {
        if std::env::var("LEADLINE_TLS_SYSTEM_ROOTS").is_ok_and(|v| v == "1") {
            return None;
        }
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the default provider supports the default versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Some(config)
    })
    .clone()
}

/// An HTTP client for a provider's API, with the shared TLS configuration.
fn provider_http(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, Error> {
    let builder = match provider_tls() {
        Some(tls) => builder.tls_backend_preconfigured(tls),
        None => builder,
    };
    builder
        .build()
        .map_err(|e| Error::Internal(format!("the HTTP client: {e}")))
}

/// Cal.com, with its free slots cached for a short time.
pub fn calendar() -> Result<crate::cache::CachedCalendar<leadline_calcom::CalcomClient>, Error> {
    let c = config::calcom()?;
    let client = leadline_calcom::CalcomClient::new(provider_http(reqwest::Client::builder())?)
        .with_base_url(c.api_url)
        .with_timeout(c.timeout);
    Ok(crate::cache::CachedCalendar::new(
        client,
        crate::cache::CachedCalendar::<()>::TTL,
    ))
}

/// The provider clients, sharing one HTTP client with the create-call timeout.
pub fn dialers() -> Result<
    crate::dial_worker::ProviderDialers<leadline_voice::RetellDialer, leadline_voice::VapiDialer>,
    Error,
> {
    let http = provider_http(reqwest::Client::builder().timeout(config::provider_timeout()?))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_clients_trust_the_compiled_in_roots_and_build() {
        let tls = provider_tls().expect("the compiled-in roots by default");
        assert!(tls.crypto_provider().cipher_suites.len() > 1);
        provider_http(reqwest::Client::builder()).expect("a client with the shared TLS");
    }
}
