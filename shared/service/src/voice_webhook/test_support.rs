//! What the voice webhook's tests share: the webhook over in-memory ports,
//! its keys and its clock.

use leadline_core::memory::{
    MemoryCalendar, MemoryMessages, MemoryQueue, MemoryScheduler, MemoryStore,
};
use leadline_core::time::FixedClock;

use super::VoiceWebhook;

pub const RETELL_KEY: &str = "key_test";
pub const VAPI_SECRET: &str = "vapi-secret";

pub type Webhook = VoiceWebhook<
    MemoryStore,
    MemoryScheduler,
    MemoryMessages,
    FixedClock,
    MemoryStore,
    MemoryCalendar,
    MemoryQueue,
>;

/// Monday 2026-11-23, 08:00 in New York.
pub fn now() -> jiff::Timestamp {
    "2026-11-23T13:00:00Z".parse().unwrap()
}
