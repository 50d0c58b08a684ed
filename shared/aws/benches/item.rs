//! The item mapping of one stored value: serde_dynamo (`leadline_aws`'s
//! `to_item` / `from_item`) against the serde_json detour it replaced, kept
//! in `src/dynamo/item/json_detour.rs`. A lead (the item every webhook reads
//! and writes), an attempt (provider JSON inside) and a business (services
//! and opening hours). Prints ns per call and the ratio old/new from
//! interleaved timed loops in one process, then criterion's estimates.
//!
//! `cargo bench -p leadline-aws --bench item`. Without `--bench`
//! (`cargo test --benches`) it is a smoke run: a few iterations, criterion
//! in test mode.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use leadline_aws::dynamo::item::{self, Item};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[allow(dead_code)]
#[path = "../src/dynamo/item/json_detour.rs"]
mod json_detour;
#[allow(dead_code)]
#[path = "../src/dynamo/item/samples.rs"]
mod samples;

/// Rounds of the timed loops, each old then new (interleaved, so drift of
/// the machine's speed falls on both), and calls per round.
const ROUNDS: usize = 10;
const CALLS: usize = 20_000;
const SMOKE_CALLS: usize = 50;

/// A lead item's keys (the keys of `lead_item`: table, GSI1, GSI2).
fn keys() -> Vec<(&'static str, String)> {
    vec![
        (
            "GSI1PK",
            "T#acme-dental#C#cmp_agragn5vrjysaunngmonrx6b".into(),
        ),
        (
            "GSI1SK",
            "callback_pending#ld_0h1ga3vsq4mhnq2v5ggi4n5nqe".into(),
        ),
        ("GSI2PK", "DUE#0007".into()),
        (
            "GSI2SK",
            "00001764000000#T#acme-dental#LEAD#ld_0h1ga3vsq4mhnq2v5ggi4n5nqe".into(),
        ),
        ("PK", "T#acme-dental".into()),
        ("SK", "LEAD#ld_0h1ga3vsq4mhnq2v5ggi4n5nqe".into()),
    ]
}

/// Nanoseconds per call of `f`, over `rounds` rounds of `calls` calls.
fn per_call(total: Duration, rounds: usize, calls: usize) -> f64 {
    total.as_nanos() as f64 / (rounds * calls) as f64
}

/// Times old and new to_item and from_item of `value`, interleaved; prints
/// one line each with the ratio old/new.
fn compare<T>(what: &str, value: &T, rounds: usize, calls: usize)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let keys = keys();
    let new_item = item::to_item(value, &keys).unwrap();
    let old_item = json_detour::to_item(value, &keys).unwrap();
    assert_eq!(new_item, old_item, "{what}: both make the same item");
    assert_eq!(&item::from_item::<T>(new_item.clone()).unwrap(), value);

    let (mut write_old, mut write_new) = (Duration::ZERO, Duration::ZERO);
    let (mut read_old, mut read_new) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..calls {
            black_box(json_detour::to_item(black_box(value), &keys).unwrap());
        }
        write_old += t.elapsed();
        let t = Instant::now();
        for _ in 0..calls {
            black_box(item::to_item(black_box(value), &keys).unwrap());
        }
        write_new += t.elapsed();

        let items: Vec<Item> = (0..calls).map(|_| new_item.clone()).collect();
        let t = Instant::now();
        for i in items {
            black_box(json_detour::from_item::<T>(black_box(i)).unwrap());
        }
        read_old += t.elapsed();
        let items: Vec<Item> = (0..calls).map(|_| new_item.clone()).collect();
        let t = Instant::now();
        for i in items {
            black_box(item::from_item::<T>(black_box(i)).unwrap());
        }
        read_new += t.elapsed();
    }
    for (op, old, new) in [
        ("to_item", write_old, write_new),
        ("from_item", read_old, read_new),
    ] {
        let (old, new) = (per_call(old, rounds, calls), per_call(new, rounds, calls));
        println!(
            "{what:9} {op:9}  serde_json detour {old:8.0} ns  serde_dynamo {new:8.0} ns  old/new {:.2}",
            old / new
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; without it this is a smoke run.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let (rounds, calls) = if smoke {
        (1, SMOKE_CALLS)
    } else {
        (ROUNDS, CALLS)
    };
    if smoke {
        println!(
            "item mapping: smoke run ({calls} calls, criterion in test mode; `cargo bench` runs {ROUNDS} x {CALLS})"
        );
    }
    compare("lead", &samples::lead_full(), rounds, calls);
    compare("attempt", &samples::attempt_full(), rounds, calls);
    compare("business", &samples::business_full(), rounds, calls);

    let lead = samples::lead_full();
    let keys = keys();
    let stored = item::to_item(&lead, &keys).unwrap();
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3));
    c.bench_function("lead_to_item_serde_dynamo", |b| {
        b.iter(|| item::to_item(black_box(&lead), &keys).unwrap())
    });
    c.bench_function("lead_to_item_serde_json_detour", |b| {
        b.iter(|| json_detour::to_item(black_box(&lead), &keys).unwrap())
    });
    c.bench_function("lead_from_item_serde_dynamo", |b| {
        b.iter_batched(
            || stored.clone(),
            |i| item::from_item::<leadline_core::calling::lead::Lead>(i).unwrap(),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("lead_from_item_serde_json_detour", |b| {
        b.iter_batched(
            || stored.clone(),
            |i| json_detour::from_item::<leadline_core::calling::lead::Lead>(i).unwrap(),
            BatchSize::SmallInput,
        )
    });
    c.final_summary();
}
