//! The single table's keys. Every partition key starts with the tenant, so no
//! query can cross tenants. The access patterns are listed in docs/data-model.md.

use leadline_core::calling::lead::LeadStatus;
use leadline_core::intake::tenant::VoiceProvider;
use leadline_core::{AttemptId, CampaignId, LeadId, TenantId};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";

pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";

/// How many partitions GSI2 spreads the due work over: `DUE#0` .. `DUE#15`.
///
/// GSI2 holds work the sweep should look at (a lead's overdue follow-up or
/// messages, a stuck call), sorted by when. The index is sparse: an item is
/// in it only while it has such work, so the sweep reads what is due and
/// nothing else. Like `DEPLOYMENT`, it belongs to no tenant; only the sweep
/// reads it.
///
/// Every lead and attempt write that enters, moves in or leaves the index is
/// a write to its GSI2 partition, and a partition takes at most 1,000 write
/// units a second; when it cannot, DynamoDB throttles the table writes that
/// feed it. docs/capacity.md counts about 5.5 index writes a call: at 5,000
/// calls in flight (3-minute calls) 150 units a second, and more in bursts
/// (the hour the calling windows open, leads leave the index as fast as the
/// dispatcher takes their follow-ups). One partition would make 1,000 units
/// the whole deployment's ceiling (about 180 call starts a second); 16 lift it
/// sixteen-fold and leave each shard at 1% at that load. The price is on the
/// read side: a sweep page is one Query per shard still open (16 for the
/// first), each reading only due items, once every 15 minutes. Fewer shards
/// would buy less headroom; more would thin each shard's share of a page
/// (100 items over 16 is 6 or 7 each) and add Queries for nothing at this
/// load. Changing it moves items to other shards: every item in the index
/// would have to be written again (docs/data-model.md).
pub const DUE_SHARDS: u32 = 16;

/// The GSI2 partition of the item `pk`/`sk`: `DUE#<k>`, k from the first
/// four bytes of SHA-256(pk, 0, sk), so an item keeps its shard for good
/// (wherever its time moves it in the index) and the shards fill evenly.
pub fn due_pk(pk: &str, sk: &str) -> String {
    due_shard_pk(due_shard(pk, sk))
}

/// Which of the [`DUE_SHARDS`] shards the item `pk`/`sk` lives in.
pub fn due_shard(pk: &str, sk: &str) -> u32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(pk.as_bytes())
        .chain_update([0])
        .chain_update(sk.as_bytes())
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % DUE_SHARDS
}

/// The partition key of shard `k` of GSI2.
pub fn due_shard_pk(k: u32) -> String {
    format!("DUE#{k}")
}

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

/// The jobs waiting for a slot in a scope sort right after the scope's slot
/// item (`slot_sk`), oldest first: `<slot SK>#WAIT#<since>#<attempt>`.
/// (A tenant's slot item is `SLOTS` and a campaign's `SLOTS#cmp_...`, so a
/// tenant's waiters, `SLOTS#WAIT#...`, never share a prefix with a campaign's.)
pub fn waiters_prefix(slot_sk: &str) -> String {
    format!("{slot_sk}#WAIT#")
}

/// `since` in epoch milliseconds, 15 digits, so the sort key sorts by time.
pub fn waiter_sk(slot_sk: &str, since: jiff::Timestamp, attempt: &AttemptId) -> String {
    format!(
        "{}{:015}#{attempt}",
        waiters_prefix(slot_sk),
        since.as_millisecond().max(0)
    )
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

/// A lead's messages sort together: `MSG#<lead>#<message>`.
pub fn message_sk(lead: &LeadId, message: &leadline_core::MessageId) -> String {
    format!("{}{message}", messages_prefix(lead))
}

pub fn messages_prefix(lead: &LeadId) -> String {
    format!("MSG#{lead}#")
}

/// GSI1 of a message: a tenant's messages by status (`unknown` ones for
/// the operator), oldest first.
pub fn messages_by_status_pk(tenant: &TenantId) -> String {
    format!("{}#MSG", tenant_pk(tenant))
}

pub fn message_by_status_sk(
    status: &str,
    created: jiff::Timestamp,
    message: &leadline_core::MessageId,
) -> String {
    format!("{status}#{:015}#{message}", created.as_millisecond().max(0))
}

/// Which message a provider's id names (WhatsApp's `wamid`).
pub fn provider_ref_sk(provider_id: &str) -> String {
    format!("PMSG#{provider_id}")
}

/// A tenant's messaging settings, one item.
pub const MESSAGING_SK: &str = "MESSAGING";

/// When a tenant's sender of a channel may send next.
pub fn message_pace_sk(channel: &str) -> String {
    format!("MSGPACE#{channel}")
}

/// A sender (an SMS number, a WhatsApp number id), under `DEPLOYMENT`:
/// which tenant its inbound messages belong to.
pub fn sender_sk(key: &str) -> String {
    format!("SENDER#{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scopes_waiters_sort_by_when_they_started_and_no_other_scopes_share_their_prefix() {
        let attempt = AttemptId::parse("att_aaaaaaaaaaaaaaaaaaaaaaaa").unwrap();
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        let early = waiter_sk(TENANT_SLOTS_SK, at("2026-11-23T18:00:09.5Z"), &attempt);
        let late = waiter_sk(TENANT_SLOTS_SK, at("2026-11-23T18:00:10Z"), &attempt);
        assert!(early < late, "{early} < {late}");
        assert_eq!(
            late,
            "SLOTS#WAIT#001795456810000#att_aaaaaaaaaaaaaaaaaaaaaaaa"
        );
        let campaign = CampaignId::from_bytes(&[7; 15]);
        let campaign_waiter = waiter_sk(
            &campaign_slots_sk(&campaign),
            at("2026-11-23T18:00:10Z"),
            &attempt,
        );
        assert!(!campaign_waiter.starts_with(&waiters_prefix(TENANT_SLOTS_SK)));
        assert!(!late.starts_with(&waiters_prefix(&campaign_slots_sk(&campaign))));
    }

    #[test]
    fn an_items_due_shard_never_changes_and_the_shards_fill_evenly() {
        // Items already in the index sit in these shards: another hash (or
        // std's, seeded per process) would lose them from the sweep's view.
        // (The same as Python's hashlib.sha256(pk + b"\0" + sk), first four
        // bytes big-endian, mod 16.)
        assert_eq!(due_pk("T#acme", "LEAD#ld_x"), "DUE#8");
        assert_eq!(due_pk("T#acme", "ATTEMPT#att_x"), "DUE#14");
        let mut counts = [0u32; DUE_SHARDS as usize];
        for i in 0..16_000 {
            counts[due_shard(&format!("T#t{}", i % 7), &format!("LEAD#ld_{i}")) as usize] += 1;
        }
        assert!(
            counts.iter().all(|n| (900..1_100).contains(n)),
            "{counts:?}"
        );
    }
}
