//! Campaigns: a list of leads called with one set of settings.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::kernel::error::Invalid;
use crate::kernel::ids::{CampaignId, TenantId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Taking leads; not calling yet.
    Draft,
    Running,
    Paused,
    Completed,
}

impl CampaignStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Running => "running",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Completed => "completed",
        }
    }
}

/// How fast a campaign calls: the seeds' "parallel calls" and "interval between batches".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pacing {
    /// Calls of this campaign in flight at once (bounded again by the tenant's limit).
    pub max_parallel_calls: u32,
    /// Call starts per second for this campaign.
    pub calls_per_second: u32,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            max_parallel_calls: 5,
            calls_per_second: 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: CampaignId,
    pub tenant: TenantId,
    pub name: String,
    pub status: CampaignStatus,
    pub pacing: Pacing,
    /// When calling may begin; immediately when absent.
    pub start_at: Option<Timestamp>,
    /// Leads imported so far (maintained by imports).
    pub lead_count: u64,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    pub name: String,
    #[serde(default)]
    pub pacing: Option<Pacing>,
    #[serde(default)]
    pub start_at: Option<Timestamp>,
}

impl NewCampaign {
    pub fn into_campaign(
        self,
        id: CampaignId,
        tenant: TenantId,
        now: Timestamp,
    ) -> Result<Campaign, Invalid> {
        let name = self.name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(Invalid::new("name", "must be 1-200 characters"));
        }
        let pacing = self.pacing.unwrap_or_default();
        if !(1..=1000).contains(&pacing.max_parallel_calls) {
            return Err(Invalid::new(
                "pacing.max_parallel_calls",
                "must be between 1 and 1000",
            ));
        }
        if !(1..=100).contains(&pacing.calls_per_second) {
            return Err(Invalid::new(
                "pacing.calls_per_second",
                "must be between 1 and 100",
            ));
        }
        Ok(Campaign {
            id,
            tenant,
            name: name.to_owned(),
            status: CampaignStatus::Draft,
            pacing,
            start_at: self.start_at,
            lead_count: 0,
            created_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_campaign_starts_as_a_draft_with_default_pacing() {
        let new: NewCampaign = serde_json::from_str(r#"{"name":"November leads"}"#).unwrap();
        let c = new
            .into_campaign(
                CampaignId::from_bytes(&[1; 15]),
                TenantId::parse("acme").unwrap(),
                Timestamp::UNIX_EPOCH,
            )
            .unwrap();
        assert_eq!(c.status, CampaignStatus::Draft);
        assert_eq!(c.pacing, Pacing::default());
    }

    #[test]
    fn pacing_out_of_bounds_is_refused() {
        let new: NewCampaign = serde_json::from_str(
            r#"{"name":"x","pacing":{"max_parallel_calls":0,"calls_per_second":1}}"#,
        )
        .unwrap();
        let err = new
            .into_campaign(
                CampaignId::from_bytes(&[1; 15]),
                TenantId::parse("acme").unwrap(),
                Timestamp::UNIX_EPOCH,
            )
            .unwrap_err();
        assert_eq!(err.field, "pacing.max_parallel_calls");
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<NewCampaign>(r#"{"name":"x","nmae":"y"}"#).is_err());
    }
}
