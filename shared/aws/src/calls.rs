//! Counts of the requests an adapter made, by operation, and of the items
//! DynamoDB read for them. Tests and benchmarks read them to hold request
//! budgets ("ceil(n/100) TransactWriteItems calls", "the sweep reads only what is
//! due, never a Scan").
//!
//! The DynamoDB store counts through an interceptor on its client
//! ([`Calls::counting`]), so every request the SDK executes is counted under
//! the operation name the SDK gives it, whatever code path sent it: a `Scan`
//! added anywhere would show. The SQS and Scheduler adapters record their few
//! operations by hand.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

#[derive(Clone, Debug, Default)]
pub struct Calls {
    operations: Arc<Mutex<BTreeMap<String, u64>>>,
    items_read: Arc<AtomicU64>,
}

impl Calls {
    pub fn record(&self, operation: &str) {
        *self
            .operations
            .lock()
            .expect("call counter poisoned")
            .entry(operation.to_owned())
            .or_default() += 1;
    }

    pub fn count(&self, operation: &str) -> u64 {
        self.operations
            .lock()
            .expect("call counter poisoned")
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Items DynamoDB read for this client: those a Query or Scan evaluated
    /// (before any filter), those GetItem and BatchGetItem returned.
    pub fn items_read(&self) -> u64 {
        self.items_read.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.operations
            .lock()
            .expect("call counter poisoned")
            .clone()
    }

    pub fn reset(&self) {
        self.operations
            .lock()
            .expect("call counter poisoned")
            .clear();
        self.items_read.store(0, Ordering::Relaxed);
    }

    /// A client of `config` that counts every operation it executes and the
    /// items its reads read.
    pub fn counting(&self, config: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(config.interceptor(Counter(self.clone())).build())
    }
}

#[derive(Debug)]
struct Counter(Calls);

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "leadline::Calls"
    }

    // Once per operation (not per retry), once the operation's configuration,
    // its name included, is in the bag: a client's interceptors see
    // read_before_execution before that.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        self.0.record(operation);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::{
            batch_get_item::BatchGetItemOutput, get_item::GetItemOutput, query::QueryOutput,
            scan::ScanOutput,
        };
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        // A Query or Scan reads what it evaluates (ScannedCount), which a
        // filter would hide from the items it returns.
        let items = if let Some(o) = output.downcast_ref::<QueryOutput>() {
            (o.scanned_count().max(0) as usize).max(o.items().len())
        } else if let Some(o) = output.downcast_ref::<ScanOutput>() {
            (o.scanned_count().max(0) as usize).max(o.items().len())
        } else if let Some(o) = output.downcast_ref::<GetItemOutput>() {
            usize::from(o.item().is_some())
        } else if let Some(o) = output.downcast_ref::<BatchGetItemOutput>() {
            o.responses()
                .map_or(0, |tables| tables.values().map(Vec::len).sum())
        } else {
            0
        };
        self.0.items_read.fetch_add(items as u64, Ordering::Relaxed);
        Ok(())
    }
}
