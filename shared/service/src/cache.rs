//! What a warm `voice-webhook` keeps between requests: the businesses (one
//! read per call instead of one per tool call) and the calendar's free slots
//! (a caller asking twice, or several callers of one business, cost one
//! Cal.com request). Both expire quickly, so an edit or a booking made
//! elsewhere shows within seconds.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jiff::Timestamp;
use leadline_core::appointments::business::Business;
use leadline_core::appointments::calendar::{
    Booking, Calendar, CalendarAccount, CalendarError, NewBooking, SlotQuery,
};
use leadline_core::ports::BusinessStore;
use leadline_core::{Phone, Result, TenantId};

/// Entries kept at most; past it the oldest half goes.
const MAX_ENTRIES: usize = 1_000;

/// A map whose entries live `ttl`.
pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap();
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn put(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap();
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                let mut ages: Vec<Instant> = entries.values().map(|(at, _)| *at).collect();
                ages.sort();
                let cut = ages[ages.len() / 2];
                entries.retain(|_, (at, _)| *at > cut);
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub fn forget(&self, keep: impl Fn(&K) -> bool) {
        self.entries.lock().unwrap().retain(|k, _| keep(k));
    }
}

/// Businesses and inbound numbers, read through and kept for `ttl`.
pub struct CachedBusinesses<S> {
    store: S,
    businesses: TtlCache<TenantId, Option<Business>>,
    numbers: TtlCache<Phone, Option<TenantId>>,
}

impl<S> CachedBusinesses<S> {
    /// A business edit reaches warm functions within this time.
    pub const TTL: Duration = Duration::from_secs(60);

    pub fn new(store: S, ttl: Duration) -> Self {
        Self {
            store,
            businesses: TtlCache::new(ttl),
            numbers: TtlCache::new(ttl),
        }
    }
}

#[async_trait]
impl<S: BusinessStore> BusinessStore for CachedBusinesses<S> {
    async fn business(&self, tenant: &TenantId) -> Result<Option<Business>> {
        if let Some(cached) = self.businesses.get(tenant) {
            return Ok(cached);
        }
        let business = self.store.business(tenant).await?;
        self.businesses.put(tenant.clone(), business.clone());
        Ok(business)
    }

    async fn save_business(&self, business: &Business, previous: Option<&Business>) -> Result<()> {
        self.store.save_business(business, previous).await?;
        self.businesses.forget(|t| t != &business.tenant);
        Ok(())
    }

    async fn tenant_of_number(&self, number: &Phone) -> Result<Option<TenantId>> {
        if let Some(cached) = self.numbers.get(number) {
            return Ok(cached);
        }
        let tenant = self.store.tenant_of_number(number).await?;
        self.numbers.put(number.clone(), tenant.clone());
        Ok(tenant)
    }
}

/// A calendar whose free slots are kept for `ttl`, per account and query.
/// Any booking, move or cancellation through it forgets that account's slots.
pub struct CachedCalendar<K> {
    calendar: K,
    slots: TtlCache<SlotKey, Vec<Timestamp>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct SlotKey {
    account: String,
    event_type_id: u64,
    from: Timestamp,
    to: Timestamp,
    zone: String,
}

impl<K> CachedCalendar<K> {
    /// Free slots are this fresh at most; a slot taken meanwhile is answered
    /// with alternatives when it is booked.
    pub const TTL: Duration = Duration::from_secs(30);

    pub fn new(calendar: K, ttl: Duration) -> Self {
        Self {
            calendar,
            slots: TtlCache::new(ttl),
        }
    }

    fn forget_account(&self, account: &CalendarAccount) {
        self.slots.forget(|k| k.account != account.api_key);
    }
}

#[async_trait]
impl<K: Calendar> Calendar for CachedCalendar<K> {
    async fn free_slots(
        &self,
        account: &CalendarAccount,
        query: &SlotQuery,
    ) -> Result<Vec<Timestamp>, CalendarError> {
        let key = SlotKey {
            account: account.api_key.clone(),
            event_type_id: query.event_type_id,
            from: query.from,
            to: query.to,
            zone: query.zone.name().to_owned(),
        };
        if let Some(slots) = self.slots.get(&key) {
            return Ok(slots);
        }
        let slots = self.calendar.free_slots(account, query).await?;
        self.slots.put(key, slots.clone());
        Ok(slots)
    }

    async fn book(
        &self,
        account: &CalendarAccount,
        booking: &NewBooking,
    ) -> Result<Booking, CalendarError> {
        let result = self.calendar.book(account, booking).await;
        self.forget_account(account);
        result
    }

    async fn reschedule(
        &self,
        account: &CalendarAccount,
        uid: &str,
        start: Timestamp,
        reason: &str,
    ) -> Result<Booking, CalendarError> {
        let result = self.calendar.reschedule(account, uid, start, reason).await;
        self.forget_account(account);
        result
    }

    async fn cancel(
        &self,
        account: &CalendarAccount,
        uid: &str,
        reason: &str,
    ) -> Result<(), CalendarError> {
        let result = self.calendar.cancel(account, uid, reason).await;
        self.forget_account(account);
        result
    }
}

#[cfg(test)]
mod tests {
    use leadline_core::Zone;
    use leadline_core::memory::MemoryCalendar;

    use super::*;

    fn query() -> SlotQuery {
        SlotQuery {
            event_type_id: 7,
            from: "2026-11-24T05:00:00Z".parse().unwrap(),
            to: "2026-11-25T05:00:00Z".parse().unwrap(),
            zone: Zone::parse("America/New_York").unwrap(),
        }
    }

    #[tokio::test]
    async fn slots_are_asked_once_until_a_booking_or_the_ttl() {
        let account = CalendarAccount {
            api_key: "cal_a".into(),
        };
        let inner = MemoryCalendar::default();
        let slot: Timestamp = "2026-11-24T15:00:00Z".parse().unwrap();
        inner.offer(7, 30, [slot]);
        let cached = CachedCalendar::new(inner, Duration::from_secs(30));
        assert_eq!(cached.free_slots(&account, &query()).await.unwrap(), [slot]);
        assert_eq!(cached.free_slots(&account, &query()).await.unwrap(), [slot]);
        assert_eq!(cached.calendar.requests().len(), 1);

        cached.calendar.take_next_slot();
        let booking = NewBooking {
            event_type_id: 7,
            start: slot,
            attendee: leadline_core::appointments::calendar::Attendee {
                name: "Ada".into(),
                email: leadline_core::appointments::calendar::Email::parse("ada@example.com")
                    .unwrap(),
                phone: None,
                zone: Zone::parse("UTC").unwrap(),
            },
            metadata: leadline_core::appointments::calendar::BookingMetadata {
                tenant: TenantId::parse("acme").unwrap(),
                lead: leadline_core::LeadId::from_bytes(&[1; 15]),
                call: "c".into(),
                tool_call: "t".into(),
            },
        };
        assert!(cached.book(&account, &booking).await.is_err());
        assert!(
            cached
                .free_slots(&account, &query())
                .await
                .unwrap()
                .is_empty(),
            "a booking attempt forgets the account's slots"
        );

        let expired = CachedCalendar::new(MemoryCalendar::default(), Duration::ZERO);
        expired.free_slots(&account, &query()).await.unwrap();
        expired.free_slots(&account, &query()).await.unwrap();
        assert_eq!(expired.calendar.requests().len(), 2);
    }
}
