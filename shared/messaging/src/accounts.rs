//! Whose provider accounts a message goes through: the deployment's, or a
//! tenant's own, read through [`TenantAccounts`] (Secrets Manager in a
//! deployment, by another crate; [`MemoryAccounts`] in tests).

use std::fmt;

use async_trait::async_trait;
use leadline_core::TenantId;
use serde::{Deserialize, Serialize};

use crate::twilio::TwilioAccount;

/// A set of messaging provider accounts: the shape of the Secrets Manager
/// secret (`{"twilio_account_sid", "twilio_auth_token", "sendgrid_api_key",
/// "sendgrid_webhook_public_key", "whatsapp_access_token",
/// "whatsapp_app_secret", "whatsapp_verify_token"}`), each field optional
/// (a tenant may bring one provider only). Unknown fields are ignored.
///
/// `Debug` prints the Twilio account sid (an identifier) and, for every
/// secret, only whether it is set.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagingAccounts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twilio_account_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twilio_auth_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sendgrid_api_key: Option<String>,
    /// The Event Webhook's verification key (base64 DER).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sendgrid_webhook_public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_access_token: Option<String>,
    /// Signs the webhooks (`X-Hub-Signature-256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_app_secret: Option<String>,
    /// Answers the subscription handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_verify_token: Option<String>,
}

fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl MessagingAccounts {
    /// The Twilio account, when both its sid and its token are set.
    pub fn twilio(&self) -> Option<TwilioAccount> {
        Some(TwilioAccount {
            sid: set(&self.twilio_account_sid)?.to_owned(),
            auth_token: set(&self.twilio_auth_token)?.to_owned(),
        })
    }

    pub fn sendgrid_api_key(&self) -> Option<&str> {
        set(&self.sendgrid_api_key)
    }

    pub fn sendgrid_webhook_public_key(&self) -> Option<&str> {
        set(&self.sendgrid_webhook_public_key)
    }

    pub fn whatsapp_access_token(&self) -> Option<&str> {
        set(&self.whatsapp_access_token)
    }

    pub fn whatsapp_app_secret(&self) -> Option<&str> {
        set(&self.whatsapp_app_secret)
    }

    pub fn whatsapp_verify_token(&self) -> Option<&str> {
        set(&self.whatsapp_verify_token)
    }
}

impl fmt::Debug for MessagingAccounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = |value: &Option<String>| if set(value).is_some() { "set" } else { "none" };
        f.debug_struct("MessagingAccounts")
            .field("twilio_account_sid", &self.twilio_account_sid)
            .field("twilio_auth_token", &secret(&self.twilio_auth_token))
            .field("sendgrid_api_key", &secret(&self.sendgrid_api_key))
            .field(
                "sendgrid_webhook_public_key",
                &secret(&self.sendgrid_webhook_public_key),
            )
            .field(
                "whatsapp_access_token",
                &secret(&self.whatsapp_access_token),
            )
            .field("whatsapp_app_secret", &secret(&self.whatsapp_app_secret))
            .field(
                "whatsapp_verify_token",
                &secret(&self.whatsapp_verify_token),
            )
            .finish()
    }
}

/// The tenant's accounts could not be read (the store is unreachable, the
/// secret is not of the expected shape): the send is tried again later.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the tenant's messaging accounts could not be read: {0}")]
pub struct AccountsError(pub String);

/// Where the accounts tenants brought are kept.
#[async_trait]
pub trait TenantAccounts: Send + Sync {
    /// The tenant's own accounts; `None` when it stored none.
    async fn accounts(&self, tenant: &TenantId)
    -> Result<Option<MessagingAccounts>, AccountsError>;
}

/// Tenants' accounts held in memory, for tests.
#[cfg(any(test, feature = "memory"))]
#[derive(Debug, Default)]
pub struct MemoryAccounts {
    accounts: std::collections::HashMap<TenantId, MessagingAccounts>,
    unavailable: bool,
}

#[cfg(any(test, feature = "memory"))]
impl MemoryAccounts {
    pub fn with(mut self, tenant: TenantId, accounts: MessagingAccounts) -> Self {
        self.accounts.insert(tenant, accounts);
        self
    }

    /// A store that cannot be read.
    pub fn unavailable() -> Self {
        Self {
            unavailable: true,
            ..Self::default()
        }
    }
}

#[cfg(any(test, feature = "memory"))]
#[async_trait]
impl TenantAccounts for MemoryAccounts {
    async fn accounts(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<MessagingAccounts>, AccountsError> {
        if self.unavailable {
            return Err(AccountsError("the store is unavailable".to_owned()));
        }
        Ok(self.accounts.get(tenant).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_reads_with_any_field_missing_and_prints_no_secret() {
        let secret = r#"{"twilio_account_sid":"AC123","twilio_auth_token":"tok-secret",
            "sendgrid_api_key":"SG.key-secret","whatsapp_app_secret":"app-secret",
            "whatsapp_verify_token":"","other":"ignored"}"#;
        let accounts: MessagingAccounts = serde_json::from_str(secret).unwrap();
        assert_eq!(
            accounts.twilio(),
            Some(TwilioAccount {
                sid: "AC123".into(),
                auth_token: "tok-secret".into()
            })
        );
        assert_eq!(accounts.sendgrid_api_key(), Some("SG.key-secret"));
        assert_eq!(accounts.whatsapp_access_token(), None);
        assert_eq!(accounts.whatsapp_verify_token(), None);
        let printed = format!("{accounts:?}");
        for secret in ["tok-secret", "SG.key-secret", "app-secret"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("AC123"), "{printed}");

        let empty: MessagingAccounts = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, MessagingAccounts::default());
        assert_eq!(empty.twilio(), None);
    }

    #[test]
    fn a_twilio_account_needs_both_sid_and_token() {
        let accounts = MessagingAccounts {
            twilio_account_sid: Some("AC123".into()),
            ..MessagingAccounts::default()
        };
        assert_eq!(accounts.twilio(), None);
    }
}
