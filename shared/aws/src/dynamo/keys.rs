//! The single table's keys. Every partition key starts with the tenant, so no
//! query can cross tenants. The access patterns are listed in docs/data-model.md.

use leadline_core::lead::LeadStatus;
use leadline_core::{CampaignId, LeadId, TenantId};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";

pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}")
}

pub const TENANT_SK: &str = "TENANT";

pub fn api_key_sk(key_hash: &str) -> String {
    format!("KEY#{key_hash}")
}

pub const CAMPAIGN_PREFIX: &str = "CAMPAIGN#";

pub fn campaign_sk(campaign: &CampaignId) -> String {
    format!("{CAMPAIGN_PREFIX}{campaign}")
}

pub fn lead_sk(lead: &LeadId) -> String {
    format!("LEAD#{lead}")
}

/// GSI1 partition of a campaign's leads.
pub fn campaign_leads_pk(tenant: &TenantId, campaign: &CampaignId) -> String {
    format!("T#{tenant}#C#{campaign}")
}

/// GSI1 sort key of a lead: by status, then id, so one status is a prefix query.
pub fn lead_by_status_sk(status: LeadStatus, lead: &LeadId) -> String {
    format!("{}#{lead}", status.as_str())
}
