//! Tenants (businesses) and their settings.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::kernel::error::Invalid;
use crate::kernel::ids::{TenantId, base32};
use crate::kernel::money::Cents;
use crate::kernel::phone::{Phone, Region};
use crate::kernel::time::{CallingWindow, Zone};

/// Which voice platform places a tenant's calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VoiceProvider {
    Retell,
    Vapi,
}

/// How a tenant's calls are placed. The agent is shared by every tenant unless
/// one overrides it; the deployment holds the provider credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceSettings {
    pub provider: VoiceProvider,
    /// Retell `override_agent_id` / Vapi `assistantId`; the deployment's shared agent when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Retell `from_number`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_number: Option<Phone>,
    /// Vapi `phoneNumberId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<String>,
}

impl Default for VoiceSettings {
    fn default() -> Self {
        Self {
            provider: VoiceProvider::Retell,
            agent_id: None,
            from_number: None,
            phone_number_id: None,
        }
    }
}

/// The price of a call minute when a tenant has no rate of its own: $0.20.
pub const DEFAULT_RATE_PER_MINUTE: Cents = Cents(20);
/// Calls a tenant may have in flight at once unless it says otherwise.
pub const DEFAULT_MAX_CONCURRENT_CALLS: u32 = 5;

/// When a lead whose call went unanswered is called again: after each
/// unanswered attempt `n`, wait the `n`-th delay; after the last, stop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    retry_after_seconds: Vec<u32>,
}

impl Default for RetryPolicy {
    /// Seed 001: after 1 h, 4 h and 24 h; at most 3 retries after the first attempt.
    fn default() -> Self {
        Self {
            retry_after_seconds: vec![3_600, 4 * 3_600, 24 * 3_600],
        }
    }
}

impl RetryPolicy {
    pub const MAX_RETRIES: usize = 10;
    /// A retry waits at most 30 days.
    pub const MAX_DELAY_SECONDS: u32 = 30 * 24 * 3_600;

    pub fn new(retry_after_seconds: Vec<u32>) -> Result<Self, Invalid> {
        if retry_after_seconds.len() > Self::MAX_RETRIES {
            return Err(Invalid::new(
                "retry_after_seconds",
                format!("at most {} retries", Self::MAX_RETRIES),
            ));
        }
        if retry_after_seconds
            .iter()
            .any(|s| !(1..=Self::MAX_DELAY_SECONDS).contains(s))
        {
            return Err(Invalid::new(
                "retry_after_seconds",
                "each delay must be between 1 second and 30 days",
            ));
        }
        Ok(Self {
            retry_after_seconds,
        })
    }

    /// How long to wait after unanswered attempt `attempt` (1-based) before
    /// the next one, or `None` when it was the last allowed.
    pub fn delay_after(&self, attempt: u32) -> Option<SignedDuration> {
        let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
        self.retry_after_seconds
            .get(index)
            .map(|s| SignedDuration::from_secs(i64::from(*s)))
    }

    /// The first attempt and every retry.
    pub fn max_attempts(&self) -> u32 {
        self.retry_after_seconds.len() as u32 + 1
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub zone: Zone,
    pub default_region: Region,
    pub calling_window: CallingWindow,
    pub voice: VoiceSettings,
    pub rate_per_minute: Cents,
    pub max_concurrent_calls: u32,
    /// Tenants stored before retries existed read the default cadence.
    #[serde(default)]
    pub retry_policy: RetryPolicy,
    pub created_at: Timestamp,
}

/// What a tenant is created from: the admin's request, already parsed.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    pub name: String,
    pub slug: String,
    pub timezone: String,
    pub default_region: String,
    #[serde(default)]
    pub calling_window: Option<CallingWindow>,
    #[serde(default)]
    pub voice: Option<VoiceSettings>,
    #[serde(default)]
    pub rate_per_minute_cents: Option<i64>,
    #[serde(default)]
    pub max_concurrent_calls: Option<u32>,
    /// Seconds to wait after each unanswered attempt; the default is 1 h, 4 h, 24 h.
    #[serde(default)]
    pub retry_after_seconds: Option<Vec<u32>>,
}

impl NewTenant {
    pub fn into_tenant(self, now: Timestamp) -> Result<Tenant, Invalid> {
        let name = self.name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(Invalid::new("name", "must be 1-200 characters"));
        }
        let window = self.calling_window.unwrap_or_default();
        let window = CallingWindow::new(window.start, window.end, window.excluded_weekdays)?;
        let rate = self
            .rate_per_minute_cents
            .unwrap_or(DEFAULT_RATE_PER_MINUTE.0);
        if !(0..=100_000).contains(&rate) {
            return Err(Invalid::new(
                "rate_per_minute_cents",
                "must be between 0 and 100000",
            ));
        }
        let max_calls = self
            .max_concurrent_calls
            .unwrap_or(DEFAULT_MAX_CONCURRENT_CALLS);
        if !(1..=1000).contains(&max_calls) {
            return Err(Invalid::new(
                "max_concurrent_calls",
                "must be between 1 and 1000",
            ));
        }
        let mut voice = self.voice.unwrap_or_default();
        // Read from JSON, the number has its E.164 form; here it must also be
        // a number of its plan.
        voice.from_number = voice
            .from_number
            .map(|from| Phone::parse(from.e164(), None))
            .transpose()
            .map_err(|e| Invalid::new("voice.from_number", e.to_string()))?;
        Ok(Tenant {
            id: TenantId::parse(&self.slug)?,
            name: name.to_owned(),
            zone: Zone::parse(&self.timezone)?,
            default_region: Region::parse(&self.default_region)?,
            calling_window: window,
            voice,
            rate_per_minute: Cents(rate),
            max_concurrent_calls: max_calls,
            retry_policy: match self.retry_after_seconds {
                Some(delays) => RetryPolicy::new(delays)?,
                None => RetryPolicy::default(),
            },
            created_at: now,
        })
    }
}

/// A tenant's API key: `ll_<tenant>_<secret>`. Carrying the tenant lets the key
/// be checked with one read under the tenant's own partition. Only the
/// SHA-256 of the key is stored; the key itself is shown once.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    tenant: TenantId,
    secret: String,
}

impl ApiKey {
    const PREFIX: &'static str = "ll_";

    /// A new key from 20 random bytes (160 bits).
    pub fn generate(tenant: TenantId, random: [u8; 20]) -> Self {
        Self {
            tenant,
            secret: base32(&random),
        }
    }

    /// Reads a presented key. Anything not shaped like a key is `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix(Self::PREFIX)?;
        let (tenant, secret) = rest.rsplit_once('_')?;
        let well_formed = secret.len() == 32
            && secret
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !well_formed {
            return None;
        }
        Some(Self {
            tenant: TenantId::parse(tenant).ok()?,
            secret: secret.to_owned(),
        })
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The stored form: lowercase hex SHA-256 of the whole key.
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.reveal().as_bytes());
        data_encoding::HEXLOWER.encode(&digest)
    }

    /// The key itself, to hand to its owner once.
    pub fn reveal(&self) -> String {
        format!("{}{}_{}", Self::PREFIX, self.tenant, self.secret)
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey({}, ***)", self.tenant)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Tenant `acme` in New York, with every default.
    pub fn tenant() -> Tenant {
        let mut t = new_tenant().into_tenant(Timestamp::UNIX_EPOCH).unwrap();
        t.id = TenantId::parse("acme").unwrap();
        t.zone = Zone::parse("America/New_York").unwrap();
        t
    }

    fn new_tenant() -> NewTenant {
        serde_json::from_value(serde_json::json!({
            "name": "Acme Dental", "slug": "acme-dental", "timezone": "Asia/Kolkata", "default_region": "IN"
        }))
        .unwrap()
    }

    #[test]
    fn a_tenant_gets_the_default_window_rate_and_concurrency() {
        let t = new_tenant().into_tenant(Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(t.calling_window, CallingWindow::default());
        assert_eq!(t.rate_per_minute, Cents(20));
        assert_eq!(t.max_concurrent_calls, DEFAULT_MAX_CONCURRENT_CALLS);
        assert_eq!(t.voice.provider, VoiceProvider::Retell);
    }

    #[test]
    fn each_bad_field_is_named() {
        type Spoil = fn(&mut NewTenant);
        let cases: [(Spoil, &str); 8] = [
            (
                |t| t.retry_after_seconds = Some(vec![3600, 0]),
                "retry_after_seconds",
            ),
            (
                |t| t.retry_after_seconds = Some(vec![60; 11]),
                "retry_after_seconds",
            ),
            (|t| t.slug = "Bad Slug".into(), "slug"),
            (|t| t.timezone = "India".into(), "timezone"),
            (|t| t.default_region = "XX".into(), "region"),
            (|t| t.name = "  ".into(), "name"),
            (|t| t.max_concurrent_calls = Some(0), "max_concurrent_calls"),
            (
                // E.164 in form, but no number of the North American plan.
                |t| {
                    t.voice = Some(VoiceSettings {
                        from_number: serde_json::from_str("\"+10005550100\"").unwrap(),
                        ..VoiceSettings::default()
                    })
                },
                "voice.from_number",
            ),
        ];
        for (spoil, field) in cases {
            let mut t = new_tenant();
            spoil(&mut t);
            assert_eq!(
                t.into_tenant(Timestamp::UNIX_EPOCH).unwrap_err().field,
                field
            );
        }
    }

    #[test]
    fn the_default_cadence_retries_after_one_four_and_twenty_four_hours_then_stops() {
        let policy = RetryPolicy::default();
        let hours = |n| SignedDuration::from_hours(n);
        assert_eq!(policy.delay_after(1), Some(hours(1)));
        assert_eq!(policy.delay_after(2), Some(hours(4)));
        assert_eq!(policy.delay_after(3), Some(hours(24)));
        assert_eq!(policy.delay_after(4), None);
        assert_eq!(policy.delay_after(0), None);
        assert_eq!(policy.max_attempts(), 4);
        let stored_before_retries = serde_json::json!({
            "id": "acme", "name": "Acme", "zone": "America/New_York", "default_region": "US",
            "calling_window": {"start": "09:00", "end": "20:00"},
            "voice": {"provider": "retell"}, "rate_per_minute": 20,
            "max_concurrent_calls": 5, "created_at": "2026-01-01T00:00:00Z"
        });
        let t: Tenant = serde_json::from_value(stored_before_retries).unwrap();
        assert_eq!(t.retry_policy, policy);
    }

    #[test]
    fn an_api_key_names_its_tenant_and_round_trips() {
        let key = ApiKey::generate(TenantId::parse("acme-dental").unwrap(), [42; 20]);
        let shown = key.reveal();
        assert!(shown.starts_with("ll_acme-dental_"));
        let parsed = ApiKey::parse(&shown).unwrap();
        assert_eq!(parsed.tenant().as_str(), "acme-dental");
        assert_eq!(parsed.hash(), key.hash());
        assert_eq!(parsed.hash().len(), 64);
    }

    #[test]
    fn malformed_keys_are_not_keys() {
        for raw in [
            "",
            "ll_",
            "ll_acme_short",
            "xx_acme_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "ll_Acme_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(ApiKey::parse(raw).is_none(), "{raw}");
        }
    }

    #[test]
    fn a_key_never_prints_its_secret() {
        let key = ApiKey::generate(TenantId::parse("acme").unwrap(), [1; 20]);
        assert_eq!(format!("{key:?}"), "ApiKey(acme, ***)");
    }
}
