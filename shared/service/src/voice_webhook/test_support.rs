//! What the voice webhook's tests share: the webhook over in-memory ports,
//! its keys and its clock.

use leadline_core::memory::{
    FixedClock, MemoryCalendar, MemoryMessages, MemoryQueue, MemoryScheduler, MemoryStore,
};

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

/// What the code under test logs while `work` runs (the fmt layer's text).
pub async fn logged<T>(work: impl std::future::Future<Output = T>) -> (T, String) {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let output = work.await;
    drop(guard);
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    (output, text)
}
