//! The calling part of the demo: a study-abroad agency in India calls
//! leads across a dozen time zones through (simulated) Vapi, which misbehaves
//! on purpose: its first create-call answers are 429 and 503, and it delivers
//! every webhook twice. The report shows what was called, when it was not,
//! what came back, and what it costs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::Api;

/// Leads in many zones: at any hour some are inside 09:00-21:00 local and some are not.
const LEADS: &[(&str, &str)] = &[
    ("Asha Iyer", "+91 98765 43210"),
    ("Ravi Sharma", "+91 98765 43211"),
    ("Meera Nair", "+91 98765 43212"),
    ("Oliver Hughes", "+44 7911 123456"),
    ("Amelia Clarke", "+44 7911 654321"),
    ("Lena Novak", "+49 1512 3456789"),
    ("Omar Haddad", "+971 50 123 4567"),
    ("Mei Chen", "+65 8123 4567"),
    ("Jack Wilson", "+61 412 345 678"),
    ("Yuki Sato", "+81 90 1234 5678"),
    ("Sofia Lima", "+55 11 91234 5678"),
    ("Grace Hopper", "+1 212 555 0142"),
    ("Alan Turing", "+1 213 555 0175"),
    ("Kai Akana", "+1 808 555 0110"),
    ("Noah Tremblay", "+1 416 555 0190"),
    ("Kwame Mensah", "+233 24 123 4567"),
];

pub struct Sim {
    pub base: String,
    pub http: reqwest::Client,
}

impl Sim {
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("the simulated providers did not answer {path}: {e}"));
        response.json().await.unwrap_or(Value::Null)
    }

    pub async fn calls_to(&self, e164: &str) -> Vec<Value> {
        let path = format!("/_sim/calls?to={}", e164.replace('+', "%2B"));
        self.send(Method::GET, &path, None)
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn deliveries_to(&self, e164: &str) -> Vec<Value> {
        let path = format!("/_sim/deliveries?to={}", e164.replace('+', "%2B"));
        self.send(Method::GET, &path, None)
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

pub async fn all_leads(api: &Api, key: &str, campaign: &str) -> Vec<Value> {
    let mut leads = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("/v1/campaigns/{campaign}/leads?limit=100"),
            Some(c) => format!("/v1/campaigns/{campaign}/leads?limit=100&cursor={c}"),
        };
        let page = api.expect(Method::GET, &path, key, None, 200).await;
        leads.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return leads,
        }
    }
}

fn by_status(leads: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for lead in leads {
        *counts
            .entry(lead["status"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    counts
}

pub async fn run(api: &Api, sim: &Sim, admin: &str, main: (&str, &str), report: &mut Vec<String>) {
    let slug = format!("demo-amber-{}", std::process::id());
    let tenant = json!({
        "name": "Amber Study Abroad", "slug": slug, "timezone": "Asia/Kolkata", "default_region": "IN",
        "calling_window": { "start": "09:00", "end": "21:00" },
        "voice": { "provider": "vapi" }, "max_concurrent_calls": 3
    });
    let (created, key) = api.new_tenant(admin, &tenant).await;
    let body = json!({"name": "Spring intake", "pacing": {"max_parallel_calls": 3, "calls_per_second": 2}});
    let campaign_id = api.new_campaign(&key, &body).await;
    let csv: String = std::iter::once("name,phone\n".to_owned())
        .chain(
            LEADS
                .iter()
                .map(|(name, phone)| format!("{name},{phone}\n")),
        )
        .collect();
    let import_path = format!("/v1/campaigns/{campaign_id}/leads:import");
    api.expect(
        Method::POST,
        &import_path,
        &key,
        Some(("text/csv", csv.into_bytes())),
        200,
    )
    .await;
    let leads = all_leads(api, &key, &campaign_id).await;
    let numbers: Vec<String> = leads
        .iter()
        .filter_map(|l| l["phone"].as_str().map(str::to_owned))
        .collect();

    // Vapi misbehaves: two refusals first, and every webhook twice.
    for number in &numbers[..2] {
        let status = if number == &numbers[0] { 429 } else { 503 };
        let fault = json!({"provider": "vapi", "to": number, "create_call": [{"status": status}]});
        sim.send(Method::POST, "/_sim/faults", Some(fault)).await;
    }
    for number in &numbers {
        let fault = json!({"provider": "vapi", "to": number, "webhooks": {"duplicate": true}});
        sim.send(Method::POST, "/_sim/faults", Some(fault)).await;
    }
    let started = Instant::now();
    api.expect(
        Method::POST,
        &format!("/v1/campaigns/{campaign_id}:start"),
        &key,
        None,
        202,
    )
    .await;
    api.expect(
        Method::POST,
        &format!("/v1/campaigns/{}:start", main.1),
        main.0,
        None,
        202,
    )
    .await;

    // Until every lead inside its hours is done (nothing calling, no change for 15 s).
    let mut last = BTreeMap::new();
    let mut still_since = Instant::now();
    let leads = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let leads = all_leads(api, &key, &campaign_id).await;
        let counts = by_status(&leads);
        if counts != last {
            last = counts.clone();
            still_since = Instant::now();
        }
        let calling = counts.get("calling").copied().unwrap_or(0);
        if (calling == 0 && still_since.elapsed() > Duration::from_secs(15))
            || started.elapsed() > Duration::from_secs(180)
        {
            break leads;
        }
    };

    let (mut placed, mut refused, mut deliveries, mut edges) = (0, 0, 0, Vec::new());
    for number in &numbers {
        let delivered = sim.deliveries_to(number).await;
        deliveries += delivered.len();
        for call in sim.calls_to(number).await {
            match call["status"].as_u64() {
                Some(201) => {
                    placed += 1;
                    if let Some(at) = call["received_at"]
                        .as_str()
                        .and_then(|at| at.parse::<jiff::Timestamp>().ok())
                    {
                        edges.push((at, 1));
                    }
                    // The call is over at the first word of its end (retries
                    // make several calls per number): when the simulator
                    // sent it, its delivery's `at` less the time leadline
                    // took to answer it (leadline frees the call's slot
                    // before it answers).
                    if let Some(end) = delivered
                        .iter()
                        .filter(|d| d["call_id"] == call["call_id"])
                        .filter(|d| {
                            d["event"] == "status-update:ended"
                                || d["event"] == "end-of-call-report"
                        })
                        .filter_map(|d| {
                            let at: jiff::Timestamp = d["at"].as_str()?.parse().ok()?;
                            let took = d["elapsed_ms"].as_i64().unwrap_or(0);
                            Some(at - jiff::SignedDuration::from_millis(took))
                        })
                        .min()
                    {
                        edges.push((end, -1));
                    }
                }
                _ => refused += 1,
            }
        }
    }
    edges.sort();
    let most_at_once = edges
        .iter()
        .scan(0i32, |live, (_, d)| {
            *live += d;
            Some(*live)
        })
        .max()
        .unwrap_or(0);
    let usage = api
        .expect(Method::GET, "/v1/usage?limit=100", &key, None, 200)
        .await;
    let records = usage["items"].as_array().cloned().unwrap_or_default();
    let seconds: u64 = records
        .iter()
        .filter_map(|r| r["billable_seconds"].as_u64())
        .sum();
    let cents: i64 = records.iter().filter_map(|r| r["amount"].as_i64()).sum();

    report.push(String::new());
    report.push(format!(
        "calling           {} ({slug}), Vapi, 09:00-21:00 in each lead's zone, 3 calls at once",
        created["tenant"]["name"]
    ));
    report.push(format!(
        "  leads           {} in {} countries",
        leads.len(),
        11
    ));
    report.push(format!("  provider        {placed} calls placed; {refused} create-calls refused by a planted 429 or 503 and placed again later"));
    report.push(format!(
        "  concurrency     at most {most_at_once} calls in flight at the provider (limit 3)"
    ));
    report.push(format!("  webhooks        {deliveries} deliveries, every one sent twice; usage records {} (one per ended call)", records.len()));
    report.push(format!(
        "  usage           {} calls, {seconds} billable seconds, ${}.{:02} at $0.20/min",
        records.len(),
        cents / 100,
        cents % 100
    ));
    report.push("  leads by status (queued = waiting for its calling hours):".into());
    for (status, n) in by_status(&leads) {
        report.push(format!("    {status:<18}{n}"));
    }
    let waiting: Vec<String> = leads
        .iter()
        .filter(|l| l["status"] == "queued")
        .filter_map(|l| {
            l["phone"]
                .as_str()
                .map(|p| format!("{}..", &p[..p.len().min(4)]))
        })
        .collect();
    if !waiting.is_empty() {
        report.push(format!("  waiting         {}", waiting.join(" ")));
    }

    let main_leads = all_leads(api, main.0, main.1).await;
    report.push(String::new());
    report.push(format!("November reactivation started too (1,000 US leads, 09:00-19:00 New York time, closed Sundays, US law 08:00-21:00 local); after {:.0} s:", started.elapsed().as_secs_f64()));
    for (status, n) in by_status(&main_leads) {
        report.push(format!("    {status:<18}{n}"));
    }
}
