//! Counts of the requests an adapter made, by operation. Tests and benchmarks
//! read them to hold request budgets ("ceil(n/25) BatchWriteItem calls").

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Default)]
pub struct Calls(Arc<Mutex<BTreeMap<&'static str, u64>>>);

impl Calls {
    pub fn record(&self, operation: &'static str) {
        *self
            .0
            .lock()
            .expect("call counter poisoned")
            .entry(operation)
            .or_default() += 1;
    }

    pub fn count(&self, operation: &str) -> u64 {
        self.0
            .lock()
            .expect("call counter poisoned")
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.0.lock().expect("call counter poisoned").clone()
    }

    pub fn reset(&self) {
        self.0.lock().expect("call counter poisoned").clear();
    }
}
