//! What a tenant owes: usage per call minute and a fee per milestone of kept
//! appointments, invoiced through Stripe.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::kernel::ids::{AttemptId, InvoiceId, TenantId};
use crate::kernel::money::Cents;

/// The billable part of one ended call. Exactly one exists per call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    pub tenant: TenantId,
    pub attempt: AttemptId,
    pub billable_seconds: u64,
    pub rate_per_minute: Cents,
    pub amount: Cents,
    pub ended_at: Timestamp,
}

impl UsageRecord {
    /// A call of `duration_ms` milliseconds, billed by the second (rounded up)
    /// at `rate_per_minute`.
    pub fn for_call(
        tenant: TenantId,
        attempt: AttemptId,
        duration_ms: u64,
        rate_per_minute: Cents,
        ended_at: Timestamp,
    ) -> Self {
        let billable_seconds = duration_ms.div_ceil(1000);
        Self {
            tenant,
            attempt,
            billable_seconds,
            rate_per_minute,
            amount: Cents::for_seconds(rate_per_minute, billable_seconds),
            ended_at,
        }
    }
}

/// "A fee of `fee` for every `every` kept appointments" (seed 004: $2,000 per 25).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MilestonePlan {
    pub every: u32,
    pub fee: Cents,
}

impl Default for MilestonePlan {
    fn default() -> Self {
        Self {
            every: 25,
            fee: Cents(200_000),
        }
    }
}

impl MilestonePlan {
    /// How many milestones `kept` appointments have reached.
    pub fn reached(&self, kept: u64) -> u64 {
        kept / self.every.max(1) as u64
    }
}

/// One milestone reached by a tenant; `number` is 1 for the first `every` kept appointments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    pub tenant: TenantId,
    pub number: u64,
    pub fee: Cents,
    pub reached_at: Timestamp,
}

impl Milestone {
    /// Stripe's `Idempotency-Key` for this milestone's invoice: a retry can never bill twice.
    pub fn idempotency_key(&self) -> String {
        format!("milestone-{}-{}", self.tenant, self.number)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    Usage,
    Milestone,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Open,
    Paid,
    PaymentFailed,
    Void,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub id: InvoiceId,
    pub tenant: TenantId,
    pub kind: InvoiceKind,
    pub amount: Cents,
    pub status: InvoiceStatus,
    pub stripe_invoice_id: Option<String>,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_billed_by_the_second_rounded_up() {
        let t = TenantId::parse("acme").unwrap();
        let a = AttemptId::from_bytes(&[1; 15]);
        let u = UsageRecord::for_call(t, a, 61_001, Cents(20), Timestamp::UNIX_EPOCH);
        assert_eq!(u.billable_seconds, 62);
        assert_eq!(u.amount, Cents(21)); // 62 s at 20 c/min = 20.67 c
    }

    #[test]
    fn a_milestone_is_reached_every_twenty_five_kept_appointments() {
        let plan = MilestonePlan::default();
        assert_eq!(plan.reached(24), 0);
        assert_eq!(plan.reached(25), 1);
        assert_eq!(plan.reached(74), 2);
    }

    #[test]
    fn a_milestone_invoice_key_is_deterministic() {
        let m = Milestone {
            tenant: TenantId::parse("acme").unwrap(),
            number: 3,
            fee: Cents(200_000),
            reached_at: Timestamp::UNIX_EPOCH,
        };
        assert_eq!(m.idempotency_key(), "milestone-acme-3");
    }
}
