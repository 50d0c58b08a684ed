//! Tenants' own messaging accounts: a JSON secret per tenant in Secrets
//! Manager ([`leadline_aws::TenantSecrets`]), never in the table, never
//! answered back. A warm function keeps what it read for a minute.

use std::time::Duration;

use async_trait::async_trait;
use leadline_core::TenantId;
use leadline_messaging::{AccountsError, MessagingAccounts, TenantAccounts};

use crate::cache::TtlCache;

pub struct SecretAccounts {
    secrets: leadline_aws::TenantSecrets,
    cache: TtlCache<TenantId, Option<MessagingAccounts>>,
}

impl SecretAccounts {
    pub const TTL: Duration = Duration::from_secs(60);

    pub fn new(secrets: leadline_aws::TenantSecrets) -> Self {
        Self {
            secrets,
            cache: TtlCache::new(Self::TTL),
        }
    }

    /// Stores a tenant's accounts (the API's `PUT /v1/messaging`).
    pub async fn store(
        &self,
        tenant: &TenantId,
        accounts: &MessagingAccounts,
    ) -> leadline_core::Result<()> {
        let json = serde_json::to_string(accounts)
            .map_err(|e| leadline_core::Error::Internal(e.to_string()))?;
        self.secrets.put(tenant, &json).await?;
        self.cache.put(tenant.clone(), Some(accounts.clone()));
        Ok(())
    }
}

#[async_trait]
impl TenantAccounts for SecretAccounts {
    async fn accounts(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<MessagingAccounts>, AccountsError> {
        if let Some(hit) = self.cache.get(tenant) {
            return Ok(hit);
        }
        let raw = self
            .secrets
            .get(tenant)
            .await
            .map_err(|e| AccountsError(e.to_string()))?;
        let accounts = raw
            .map(|raw| serde_json::from_str::<MessagingAccounts>(&raw))
            .transpose()
            .map_err(|e| AccountsError(format!("the secret is not of the expected shape: {e}")))?;
        self.cache.put(tenant.clone(), accounts.clone());
        Ok(accounts)
    }
}
