//! The single table's keys. Every partition key starts with the tenant, so no
//! query can cross tenants. The access patterns are listed in docs/data-model.md.

use leadline_core::lead::LeadStatus;
use leadline_core::tenant::VoiceProvider;
use leadline_core::{AttemptId, CampaignId, LeadId, TenantId};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";

pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";

/// GSI2's one partition: work the sweep should look at (a lead's overdue
/// follow-up or messages, a stuck call), sorted by when. The index is sparse:
/// an item is in it only while it has such work, so the sweep's query reads
/// what is due and nothing else. Like `DEPLOYMENT`, it belongs to no tenant;
/// only the sweep reads it.
pub const DUE_PK: &str = "DUE";

/// `<epoch seconds, 12 digits>#<item's PK>#<item's SK>`: sorted by time, unique.
pub fn due_sk(at: jiff::Timestamp, pk: &str, sk: &str) -> String {
    format!("{:012}#{pk}#{sk}", at.as_second().max(0))
}

/// The first sort key after every item due at or before `at`.
pub fn due_after(at: jiff::Timestamp) -> String {
    format!("{:012}", at.as_second().max(0) + 1)
}

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

pub fn attempt_sk(attempt: &AttemptId) -> String {
    format!("ATTEMPT#{attempt}")
}

pub const USAGE_PREFIX: &str = "USAGE#";

pub fn usage_sk(attempt: &AttemptId) -> String {
    format!("{USAGE_PREFIX}{attempt}")
}

/// A provider event already applied (Retell call id + event, ...).
pub fn event_sk(dedupe_key: &str) -> String {
    format!("EVENT#{dedupe_key}")
}

pub const SUPPRESSION_PREFIX: &str = "DNC#";

/// A number on the tenant's do-not-call list, by its E.164 form.
pub fn suppression_sk(e164: &str) -> String {
    format!("{SUPPRESSION_PREFIX}{e164}")
}

/// The calls in flight of a tenant, and of each of its campaigns.
pub const TENANT_SLOTS_SK: &str = "SLOTS";

pub fn campaign_slots_sk(campaign: &CampaignId) -> String {
    format!("SLOTS#{campaign}")
}

/// The one partition that belongs to no tenant: what the deployment shares,
/// the provider accounts' calls in flight and call starts per second.
pub const DEPLOYMENT_PK: &str = "DEPLOYMENT";

pub fn provider_slots_sk(provider: VoiceProvider) -> String {
    format!("SLOTS#{}", provider_name(provider))
}

pub fn pace_sk(provider: VoiceProvider, second: i64) -> String {
    format!("PACE#{}#{second}", provider_name(provider))
}

fn provider_name(provider: VoiceProvider) -> &'static str {
    match provider {
        VoiceProvider::Retell => "retell",
        VoiceProvider::Vapi => "vapi",
    }
}

/// A tenant's business (settings and services), one item.
pub const BUSINESS_SK: &str = "BUSINESS";

/// An inbound number, under `DEPLOYMENT`: which tenant it leads to. A number
/// belongs to one tenant, so this is the one place it can be looked up.
pub fn number_sk(e164: &str) -> String {
    format!("NUMBER#{e164}")
}

/// The effects of a committed change, until they are carried out.
pub fn outbox_sk(id: &str) -> String {
    format!("OUTBOX#{id}")
}

/// A tool call that changed something, with the answer it got.
pub fn tool_sk(key: &str) -> String {
    format!("TOOL#{key}")
}

/// A lead's appointments sort together: `APPT#<lead>#<appointment>`.
pub fn appointment_sk(lead: &LeadId, appointment: &leadline_core::AppointmentId) -> String {
    format!("{}{appointment}", appointments_prefix(lead))
}

pub fn appointments_prefix(lead: &LeadId) -> String {
    format!("APPT#{lead}#")
}
