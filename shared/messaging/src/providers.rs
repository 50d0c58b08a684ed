//! The [`MessageProvider`] of a deployment: each message to the client of its
//! sender's provider, through the deployment's accounts or its tenant's own.

use std::borrow::Cow;
use std::time::Duration;

use async_trait::async_trait;
use leadline_core::messaging::provider::{
    Accepted, Account, MessageProvider, Outgoing, SendFailure, Sender,
};

use crate::accounts::{MessagingAccounts, TenantAccounts};
use crate::http::not_sendable;
use crate::sendgrid::SendgridClient;
use crate::twilio::{TwilioClient, status_callback_url};
use crate::whatsapp::WhatsappClient;

/// Where the providers are and how long a send may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagingConfig {
    pub twilio_api_url: String,
    pub sendgrid_api_url: String,
    pub whatsapp_api_url: String,
    /// The Graph API version (`v26.0`).
    pub whatsapp_api_version: String,
    /// Per request: a send not answered by then is
    /// [`SendFailure::Unavailable`].
    pub timeout: Duration,
    /// leadline's public URL (`https://api.example.com`), under which
    /// Twilio's status callbacks arrive
    /// ([`status_callback_url`](crate::twilio::status_callback_url)).
    /// Without it, SMS are sent without a status callback.
    pub public_base_url: Option<String>,
}

impl Default for MessagingConfig {
    fn default() -> Self {
        Self {
            twilio_api_url: TwilioClient::DEFAULT_BASE_URL.to_owned(),
            sendgrid_api_url: SendgridClient::DEFAULT_BASE_URL.to_owned(),
            whatsapp_api_url: WhatsappClient::DEFAULT_BASE_URL.to_owned(),
            whatsapp_api_version: WhatsappClient::DEFAULT_VERSION.to_owned(),
            timeout: Duration::from_secs(5),
            public_base_url: None,
        }
    }
}

/// Sends each message through Twilio, SendGrid or WhatsApp by its
/// [`Sender`], with the deployment's accounts ([`Account::Deployment`]) or
/// the tenant's own ([`Account::Tenant`], read from `T` at each send).
///
/// A message that cannot be sent as it stands (no account for its
/// provider, a sender and recipient of different channels, a template as
/// an SMS) is refused as [`Refusal::Rejected`] with a `leadline.…` code,
/// without a request; a tenant's accounts that cannot be read make the send
/// [`SendFailure::Unavailable`].
///
/// [`Refusal::Rejected`]: leadline_core::messaging::provider::Refusal::Rejected
pub struct Providers<T> {
    twilio: TwilioClient,
    sendgrid: SendgridClient,
    whatsapp: WhatsappClient,
    public_base_url: Option<String>,
    deployment: MessagingAccounts,
    tenants: T,
}

impl<T: TenantAccounts> Providers<T> {
    /// `http` is built once by the caller (with the shared TLS
    /// configuration) and shared by the three clients.
    pub fn new(
        http: reqwest::Client,
        config: &MessagingConfig,
        deployment: MessagingAccounts,
        tenants: T,
    ) -> Self {
        Self {
            twilio: TwilioClient::new(http.clone())
                .with_base_url(&config.twilio_api_url)
                .with_timeout(config.timeout),
            sendgrid: SendgridClient::new(http.clone())
                .with_base_url(&config.sendgrid_api_url)
                .with_timeout(config.timeout),
            whatsapp: WhatsappClient::new(http)
                .with_base_url(&config.whatsapp_api_url)
                .with_version(&config.whatsapp_api_version)
                .with_timeout(config.timeout),
            public_base_url: config
                .public_base_url
                .as_deref()
                .map(str::trim)
                .filter(|url| !url.is_empty())
                .map(str::to_owned),
            deployment,
            tenants,
        }
    }

    async fn accounts_for(
        &self,
        outgoing: &Outgoing,
    ) -> Result<Cow<'_, MessagingAccounts>, SendFailure> {
        match &outgoing.account {
            Account::Deployment => Ok(Cow::Borrowed(&self.deployment)),
            Account::Tenant(tenant) if *tenant != outgoing.tenant => Err(not_sendable(
                "account",
                "the message names another tenant's account",
            )),
            Account::Tenant(tenant) => match self.tenants.accounts(tenant).await {
                Ok(Some(accounts)) => Ok(Cow::Owned(accounts)),
                Ok(None) => Err(not_sendable(
                    "no_tenant_accounts",
                    "the tenant has no messaging accounts stored",
                )),
                Err(error) => Err(SendFailure::Unavailable(error.to_string())),
            },
        }
    }
}

#[async_trait]
impl<T: TenantAccounts> MessageProvider for Providers<T> {
    async fn send(&self, outgoing: &Outgoing) -> Result<Accepted, SendFailure> {
        let accounts = self.accounts_for(outgoing).await?;
        match &outgoing.sender {
            Sender::TwilioNumber { .. } | Sender::TwilioService { .. } => {
                let account = accounts.twilio().ok_or_else(|| {
                    not_sendable("no_twilio_account", "no Twilio account sid and auth token")
                })?;
                let callback = self.public_base_url.as_deref().map(|base| {
                    status_callback_url(base, &outgoing.tenant, &outgoing.lead, &outgoing.message)
                });
                self.twilio
                    .send(&account, outgoing, callback.as_deref())
                    .await
            }
            Sender::Email { .. } => {
                let api_key = accounts
                    .sendgrid_api_key()
                    .ok_or_else(|| not_sendable("no_sendgrid_account", "no SendGrid API key"))?;
                self.sendgrid.send(api_key, outgoing).await
            }
            Sender::Whatsapp { .. } => {
                let token = accounts.whatsapp_access_token().ok_or_else(|| {
                    not_sendable("no_whatsapp_account", "no WhatsApp access token")
                })?;
                self.whatsapp.send(token, outgoing).await
            }
        }
    }
}
