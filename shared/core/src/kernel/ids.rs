//! Identifiers. Each is a newtype that can only hold a well-formed value, so a
//! key built from one can never smuggle a `#` or an empty segment into DynamoDB.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::kernel::error::Invalid;

/// A tenant (one business). Its id is its slug: lowercase letters, digits and
/// dashes, 3 to 40 characters, starting with a letter. Being the slug makes
/// "one tenant per slug" a conditional put on the tenant's own key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let ok_len = (3..=40).contains(&raw.len());
        let ok_start = raw.starts_with(|c: char| c.is_ascii_lowercase());
        let ok_chars = raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let ok_dashes = !raw.ends_with('-') && !raw.contains("--");
        if ok_len && ok_start && ok_chars && ok_dashes {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid::new(
                "slug",
                "must be 3-40 lowercase letters, digits or single dashes, starting with a letter",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Declares an opaque id with a fixed prefix (`cmp_`, `ld_`, ...) followed by
/// lowercase base32 characters.
macro_rules! prefixed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn parse(raw: &str) -> Result<Self, Invalid> {
                let body = raw.strip_prefix($prefix).unwrap_or("");
                if (10..=40).contains(&body.len())
                    && body.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(Invalid::new(stringify!($name), concat!("not a ", $prefix, " id")))
                }
            }

            /// Builds the id from already-random or already-hashed bytes.
            pub fn from_bytes(bytes: &[u8]) -> Self {
                Self(format!("{}{}", $prefix, base32(bytes)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Invalid;
            fn try_from(s: String) -> Result<Self, Invalid> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(
    /// A campaign: one list of leads called with one set of settings.
    CampaignId,
    "cmp_"
);
prefixed_id!(
    /// A lead. Derived from (tenant, campaign, phone), so importing the same
    /// number twice into a campaign addresses the same item.
    LeadId,
    "ld_"
);
prefixed_id!(
    /// One call attempt of a lead. Derived from (lead, attempt number), so a
    /// dial job delivered twice finds the attempt it already recorded.
    AttemptId,
    "att_"
);
prefixed_id!(
    /// An appointment booked for a lead.
    AppointmentId,
    "apt_"
);
prefixed_id!(
    /// A message (SMS, email, WhatsApp) sent or to be sent to a lead.
    MessageId,
    "msg_"
);
prefixed_id!(
    /// An invoice leadline asked Stripe to issue.
    InvoiceId,
    "inv_"
);

impl LeadId {
    pub fn derive(tenant: &TenantId, campaign: &CampaignId, phone: &crate::Phone) -> Self {
        Self::from_bytes(&digest(&[tenant.as_str(), campaign.as_str(), phone.e164()])[..15])
    }
}

impl LeadId {
    /// Whom an inbound caller's appointments belong to: there is no imported
    /// lead, so the owner is derived from (tenant, caller's number).
    pub fn for_caller(tenant: &TenantId, caller: &crate::Phone) -> Self {
        Self::from_bytes(&digest(&[tenant.as_str(), "inbound", caller.e164()])[..15])
    }
}

impl AppointmentId {
    /// The appointment of a Cal.com booking: one per booking, however often it is reported.
    pub fn derive(tenant: &TenantId, booking_uid: &str) -> Self {
        Self::from_bytes(&digest(&[tenant.as_str(), "booking", booking_uid])[..15])
    }
}

impl AttemptId {
    pub fn derive(lead: &LeadId, attempt_number: u32) -> Self {
        Self::from_bytes(&digest(&[lead.as_str(), &attempt_number.to_string()])[..15])
    }
}

impl MessageId {
    /// The one message of `purpose` on `channel` for a lead's `occasion`
    /// (the attempt it follows, the appointment it reminds of).
    pub fn derive(lead: &LeadId, purpose: &str, channel: &str, occasion: &str) -> Self {
        Self::from_bytes(&digest(&[lead.as_str(), purpose, channel, occasion])[..15])
    }
}

impl CampaignId {
    /// Where a tenant's inbound callers are listed: the `campaign` of every
    /// lead made from an inbound call. No campaign item has this id and it is
    /// never started; it lists those leads together (GSI1) as a campaign's
    /// are. Its 12 characters can never be a generated id's 24.
    pub fn inbound() -> Self {
        Self("cmp_inboundcalls".to_owned())
    }

    pub fn is_inbound(&self) -> bool {
        self.0 == "cmp_inboundcalls"
    }

    /// A new campaign id: 6 bytes of milliseconds (so ids sort by creation) and
    /// 9 random bytes.
    pub fn new(now: jiff::Timestamp, random: [u8; 9]) -> Self {
        let mut bytes = [0u8; 15];
        let ms = now.as_millisecond().max(0) as u64;
        bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
        bytes[6..].copy_from_slice(&random);
        Self::from_bytes(&bytes)
    }
}

impl TryFrom<String> for TenantId {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// SHA-256 over the parts, each followed by a separator that cannot occur in them.
fn digest(parts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hasher.finalize().into()
}

/// Lowercase RFC 4648 base32hex without padding: safe in URLs, keys and file
/// names, and it sorts as its bytes do (plain base32 puts its digits, the
/// largest values, before its letters in ASCII), so time-prefixed ids sort by time.
pub(crate) fn base32(bytes: &[u8]) -> String {
    data_encoding::BASE32HEX_NOPAD
        .encode(bytes)
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_slug_is_lowercase_letters_digits_and_single_dashes() {
        assert!(TenantId::parse("acme-dental").is_ok());
        assert!(TenantId::parse("a1b").is_ok());
        for bad in [
            "",
            "ab",
            "Acme",
            "1acme",
            "acme_dental",
            "acme--x",
            "acme-",
            "acme#x",
        ] {
            assert!(TenantId::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_lead_id_is_the_same_for_the_same_number_in_the_same_campaign() {
        let t = TenantId::parse("acme").unwrap();
        let c = CampaignId::from_bytes(&[1; 15]);
        let other = CampaignId::from_bytes(&[2; 15]);
        let p = crate::Phone::parse("+14155552671", None).unwrap();
        assert_eq!(LeadId::derive(&t, &c, &p), LeadId::derive(&t, &c, &p));
        assert_ne!(LeadId::derive(&t, &c, &p), LeadId::derive(&t, &other, &p));
        assert!(LeadId::parse(LeadId::derive(&t, &c, &p).as_str()).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn campaign_ids_sort_by_creation_time(
            early_ms in 0i64..4_000_000_000_000,
            later_by in 1i64..1_000_000,
            a: [u8; 9],
            b: [u8; 9],
        ) {
            let early = CampaignId::new(jiff::Timestamp::from_millisecond(early_ms).unwrap(), a);
            let late = CampaignId::new(jiff::Timestamp::from_millisecond(early_ms + later_by).unwrap(), b);
            proptest::prop_assert!(early.as_str() < late.as_str(), "{} !< {}", early, late);
        }
    }

    #[test]
    fn ids_reject_other_prefixes_and_characters() {
        assert!(LeadId::parse("cmp_aaaaaaaaaaaaaaaaaaaaaaaa").is_err());
        assert!(LeadId::parse("ld_AAAAAAAAAAAAAAAAAAAAAAAA").is_err());
        assert!(LeadId::parse("ld_aaaa#aaaaaaaaaaaaaaaaaa").is_err());
    }
}
