//! Lead intake end to end: the real `api` binary under `cargo lambda watch`
//! against the DynamoDB table the SAM template created in MiniStack.

use aws_sdk_dynamodb::types::AttributeValue;
use leadline_tests::{Answer, Body, stack};
use reqwest::Method;
use serde_json::json;

const GOOD_AND_BAD: &str = "Phone,Name,Email,WhatsApp,Source\n\
    +1 (415) 555-2671,Ada Lovelace,ada@example.com,,web\n\
    415.555.2672,Bob,bob@example.com,+1 415 555 2673,partner\n\
    4155552671,Ada again,,,\n\
    12345,Too Short,,,\n\
    4155552674,Bad Mail,not-an-email,,\n\
    1-800-FLOWERS,Letters,,,\n";

async fn import(key: &str, campaign: &str, csv: &[u8]) -> Answer {
    let path = format!("/v1/campaigns/{campaign}/leads:import");
    stack()
        .call(
            Method::POST,
            "api",
            &path,
            Some(key),
            Some(Body::Csv(csv.to_vec())),
        )
        .await
}

#[tokio::test]
async fn an_import_stores_valid_rows_and_reports_every_other_row_with_its_line() {
    let s = stack();
    let (tenant, key) = s.new_tenant("intake", "US", "America/Los_Angeles").await;
    let campaign = s.new_campaign(&key, "Import").await;

    let report = import(&key, &campaign, GOOD_AND_BAD.as_bytes()).await;
    assert_eq!(report.status, 200, "{report:?}");
    assert_eq!(
        (
            report.body["imported"].as_u64(),
            report.body["duplicates"].as_u64(),
            report.body["rejected"].as_u64()
        ),
        (Some(2), Some(1), Some(3))
    );
    let rejected: Vec<(u64, String)> = report.body["rejected_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (5, "number: phone number is too short".to_owned()),
            (6, "email: not an email address".to_owned()),
            (7, "number: phone number contains letters".to_owned()),
        ]
    );
    assert_eq!(report.body["duplicate_rows"][0]["line"], 4);

    // What is in DynamoDB: two leads, E.164, new, under the tenant.
    let items = s.campaign_lead_items(&tenant, &campaign).await;
    let mut phones: Vec<&str> = items
        .iter()
        .map(|i| i["phone"].as_s().unwrap().as_str())
        .collect();
    phones.sort();
    assert_eq!(phones, vec!["+14155552671", "+14155552672"]);
    assert!(items.iter().all(|i| i["status"].as_s().unwrap() == "new"));
    assert!(
        items
            .iter()
            .all(|i| i["PK"].as_s().unwrap() == &format!("T#{tenant}"))
    );

    // The same file again imports nothing.
    let again = import(&key, &campaign, GOOD_AND_BAD.as_bytes()).await;
    assert_eq!(
        (
            again.body["imported"].as_u64(),
            again.body["duplicates"].as_u64()
        ),
        (Some(0), Some(3))
    );
    assert_eq!(s.campaign_lead_items(&tenant, &campaign).await.len(), 2);

    let fetched = s.get(&key, &format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(fetched.body["lead_count"], 2);
}

#[tokio::test]
async fn a_file_that_cannot_be_read_is_refused_whole_and_writes_nothing() {
    let s = stack();
    let (tenant, key) = s.new_tenant("badcsv", "US", "America/New_York").await;
    let campaign = s.new_campaign(&key, "Bad files").await;
    let too_large = {
        let mut v = b"number\n".to_vec();
        v.resize(4 * 1024 * 1024 + 10, b'1');
        v
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "unbalanced quotes",
            b"number,name\n4155552671,\"Ada\n4155552672,Bob\n".to_vec(),
            400,
            "never closed",
        ),
        ("empty file", Vec::new(), 400, "empty"),
        (
            "no phone column",
            b"name,email\nAda,a@b.co\n".to_vec(),
            400,
            "no phone column",
        ),
        ("over the limit", too_large, 413, "at most"),
    ];
    for (what, body, status, message) in cases {
        let answer = import(&key, &campaign, &body).await;
        assert_eq!(answer.status, status, "{what}: {answer:?}");
        assert!(
            answer.error_message().contains(message),
            "{what}: {answer:?}"
        );
    }
    // Bytes that are not UTF-8 reach the function base64-encoded, as API Gateway sends them.
    let path = format!("/v1/campaigns/{campaign}/leads:import");
    let event = leadline_tests::api_gateway_event(
        "POST",
        &path,
        &key,
        "text/csv",
        b"number,name\n4155552671,Ad\x81a\n",
    );
    let (_, response) = s.invoke("api", &event).await;
    assert_eq!(response["statusCode"], 400, "invalid UTF-8: {response}");
    assert!(
        response["body"]
            .as_str()
            .unwrap_or_default()
            .contains("not UTF-8"),
        "{response}"
    );

    let form = s
        .http()
        .post(s.url("api", &format!("/v1/campaigns/{campaign}/leads:import")))
        .bearer_auth(&key)
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x--")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status().as_u16(), 400);
    assert!(
        s.campaign_lead_items(&tenant, &campaign).await.is_empty(),
        "nothing was written"
    );
}

/// Files as spreadsheets save them, through the real binary with the bytes
/// base64-encoded as API Gateway sends them: Excel's CSV on Windows
/// (Windows-1252, semicolons where a comma is the decimal mark) with numbers as
/// `tel:` URIs, and Excel's "Unicode Text" (UTF-16LE with a byte order mark,
/// tabs). The answer says how each was read.
#[tokio::test]
async fn files_as_spreadsheets_save_them_are_read_and_the_answer_says_how() {
    let s = stack();
    let (tenant, key) = s.new_tenant("formats", "US", "America/New_York").await;
    let campaign = s.new_campaign(&key, "Formats").await;
    let path = format!("/v1/campaigns/{campaign}/leads:import");
    let send = |content: &[u8]| {
        let event = leadline_tests::api_gateway_event("POST", &path, &key, "text/csv", content);
        async move {
            let (_, response) = s.invoke("api", &event).await;
            assert_eq!(response["statusCode"], 200, "{response}");
            serde_json::from_str::<serde_json::Value>(response["body"].as_str().unwrap()).unwrap()
        }
    };

    let windows = send(
        b"Phone;Name\r\ntel:+1-415-555-2671;M\xfcller\r\n4155552672;Caf\xe9 \x80\r\n\"tel:+1-415-555-2673;ext=9\";Ext\r\n",
    )
    .await;
    assert_eq!(
        (
            &windows["encoding"],
            &windows["delimiter"],
            &windows["imported"],
            &windows["rejected"]
        ),
        (
            &json!("windows-1252"),
            &json!("semicolon"),
            &json!(2),
            &json!(1)
        ),
        "{windows}"
    );
    assert_eq!(windows["rejected_rows"][0]["line"], 4);
    assert!(
        windows["rejected_rows"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("extension"),
        "{windows}"
    );

    let mut unicode_text = vec![0xff, 0xfe];
    for unit in "Phone\tName\r\n4155552674\tZoë 𝄞\r\n".encode_utf16() {
        unicode_text.extend(unit.to_le_bytes());
    }
    let utf16 = send(&unicode_text).await;
    assert_eq!(
        (&utf16["encoding"], &utf16["delimiter"], &utf16["imported"]),
        (&json!("utf-16le"), &json!("tab"), &json!(1)),
        "{utf16}"
    );

    let mut names: Vec<(String, String)> = s
        .campaign_lead_items(&tenant, &campaign)
        .await
        .iter()
        .map(|i| {
            (
                i["phone"].as_s().unwrap().clone(),
                i["name"].as_s().unwrap().clone(),
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("+14155552671", "Müller"),
            ("+14155552672", "Café €"),
            ("+14155552674", "Zoë 𝄞")
        ]
        .map(|(p, n)| (p.to_owned(), n.to_owned()))
    );
}

/// Tenant A (in Chicago) with a campaign holding one lead, and tenant B.
struct TwoTenants {
    tenant_a: String,
    key_a: String,
    tenant_b: String,
    key_b: String,
    campaign: String,
    lead: String,
}

async fn two_tenants(prefix: &str, (b_region, b_zone): (&str, &str)) -> TwoTenants {
    let s = stack();
    let (tenant_a, key_a) = s
        .new_tenant(&format!("{prefix}-a"), "US", "America/Chicago")
        .await;
    let (tenant_b, key_b) = s.new_tenant(&format!("{prefix}-b"), b_region, b_zone).await;
    let campaign = s.new_campaign(&key_a, "A's campaign").await;
    import(&key_a, &campaign, b"number\n4155552671\n").await;
    let lead = s
        .get(&key_a, &format!("/v1/campaigns/{campaign}/leads"))
        .await
        .body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    TwoTenants {
        tenant_a,
        key_a,
        tenant_b,
        key_b,
        campaign,
        lead,
    }
}

#[tokio::test]
async fn keys_are_checked_and_tenants_see_only_their_own_data() {
    let s = stack();
    let TwoTenants {
        tenant_a,
        key_a,
        tenant_b,
        key_b,
        campaign,
        lead: lead_id,
    } = two_tenants("tenant", ("IN", "Asia/Kolkata")).await;

    let no_key = s
        .call(Method::GET, "api", "/v1/campaigns", None, None)
        .await;
    assert_eq!(no_key.status, 401);
    let forged = key_a[..key_a.len() - 4].to_owned() + "aaaa";
    assert_eq!(s.get(&forged, "/v1/campaigns").await.status, 401);

    for path in [
        format!("/v1/campaigns/{campaign}"),
        format!("/v1/campaigns/{campaign}/leads"),
        format!("/v1/leads/{lead_id}"),
    ] {
        let answer = s.get(&key_b, &path).await;
        assert_eq!(answer.status, 404, "tenant B reading {path}: {answer:?}");
        assert_eq!(
            s.get(&key_a, &path).await.status,
            200,
            "tenant A reading {path}"
        );
    }
    let a_items = partition(&tenant_a).await;
    let b_items = partition(&tenant_b).await;
    let b_import = import(&key_b, &campaign, b"number\n+919876543210\n").await;
    assert_eq!(b_import.status, 404);
    assert_eq!(partition(&tenant_a).await, a_items, "A's items changed");
    assert_eq!(
        partition(&tenant_b).await,
        b_items,
        "B's import wrote something"
    );
    // A's campaign still holds exactly its one lead, and B has nothing.
    let a_leads = s
        .get(&key_a, &format!("/v1/campaigns/{campaign}/leads"))
        .await;
    let ids: Vec<&str> = a_leads.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [lead_id.as_str()], "{a_leads:?}");
    assert_eq!(a_leads.body["items"][0]["phone"], "+14155552671");
    let a_campaign = s.get(&key_a, &format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(a_campaign.body["lead_count"], 1, "{a_campaign:?}");
    assert_eq!(
        s.get(&key_b, "/v1/campaigns").await.body["items"],
        json!([])
    );
}

/// Every item under a tenant's partition, read straight from DynamoDB.
async fn partition(tenant: &str) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    let out = stack()
        .dynamodb()
        .await
        .query()
        .table_name(&stack().table)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("T#{tenant}")))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert!(
        out.last_evaluated_key.is_none(),
        "one page holds a test tenant"
    );
    out.items.unwrap_or_default()
}

#[tokio::test]
async fn another_tenants_key_cannot_write_to_a_tenants_objects() {
    let s = stack();
    let TwoTenants {
        tenant_a,
        key_a,
        key_b,
        campaign,
        lead,
        ..
    } = two_tenants("writes", ("US", "America/Chicago")).await;
    // A number no other run claimed (MiniStack keeps its table between runs).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let inbound = format!("+1415555{:04}", nanos / 100_000 % 10_000);
    let business = json!({
        "name": "A's practice", "timezone": "America/Chicago", "inbound_numbers": [inbound]
    });
    let put = s
        .call(
            Method::PUT,
            "api",
            "/v1/business",
            Some(&key_a),
            Some(Body::Json(business)),
        )
        .await;
    assert_eq!(put.status, 201, "{put:?}");
    let service = json!({
        "id": "consult", "name": "Consultation", "duration_minutes": 30, "price_cents": 5000,
        "calcom_event_type_id": 77
    });
    let created = s
        .call(
            Method::POST,
            "api",
            "/v1/services",
            Some(&key_a),
            Some(Body::Json(service.clone())),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let before = partition(&tenant_a).await;

    let writes: Vec<(Method, String, Option<Body>)> = vec![
        (Method::DELETE, format!("/v1/leads/{lead}"), None),
        (Method::POST, format!("/v1/leads/{lead}:call"), None),
        (Method::POST, format!("/v1/leads/{lead}:booked"), None),
        (
            Method::POST,
            format!("/v1/campaigns/{campaign}:start"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/campaigns/{campaign}:pause"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/campaigns/{campaign}:resume"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/campaigns/{campaign}/leads:import"),
            Some(Body::Csv(b"number\n4155552672\n".to_vec())),
        ),
        // B has no business of its own: A's service is not B's to change.
        (
            Method::PUT,
            "/v1/services/consult".into(),
            Some(Body::Json(service.clone())),
        ),
        (Method::DELETE, "/v1/services/consult".into(), None),
    ];
    for (method, path, body) in writes {
        let answer = s
            .call(method.clone(), "api", &path, Some(&key_b), body)
            .await;
        // Not found, not "no such route": the route exists and A's object is not B's.
        assert_eq!(
            (answer.status, answer.body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "tenant B: {method} {path}: {answer:?}"
        );
    }
    // B's business is B's own: it cannot take A's inbound number.
    let claim = json!({"name": "B's practice", "timezone": "America/Chicago", "inbound_numbers": [inbound]});
    let taken = s
        .call(
            Method::PUT,
            "api",
            "/v1/business",
            Some(&key_b),
            Some(Body::Json(claim)),
        )
        .await;
    assert_eq!(taken.status, 409, "{taken:?}");
    // With a business of its own, B still cannot delete A's service.
    let own = json!({"name": "B's practice", "timezone": "America/Chicago"});
    let put = s
        .call(
            Method::PUT,
            "api",
            "/v1/business",
            Some(&key_b),
            Some(Body::Json(own)),
        )
        .await;
    assert_eq!(put.status, 201, "{put:?}");
    let delete = s
        .call(
            Method::DELETE,
            "api",
            "/v1/services/consult",
            Some(&key_b),
            None,
        )
        .await;
    assert_eq!(delete.status, 404, "{delete:?}");

    assert_eq!(partition(&tenant_a).await, before, "A's items changed");
    let a_business = s.get(&key_a, "/v1/business").await;
    assert_eq!(
        a_business.body["inbound_numbers"],
        json!([inbound]),
        "{a_business:?}"
    );
    assert_eq!(
        s.get(&key_a, "/v1/services").await.body["items"][0]["id"],
        "consult"
    );
}

#[tokio::test]
async fn only_the_admin_key_creates_tenants_and_a_slug_is_taken_once() {
    let s = stack();
    let slug = leadline_tests::unique("admin");
    let body = json!({ "name": "Admin test", "slug": slug, "timezone": "Europe/London", "default_region": "GB" });
    let refused = s
        .call(
            Method::POST,
            "api",
            "/v1/tenants",
            Some("adm_wrong-key-wrong-key-wrong"),
            Some(Body::Json(body.clone())),
        )
        .await;
    assert_eq!(refused.status, 401);
    let client = s.dynamodb().await;
    let tenant_item = || {
        client
            .get_item()
            .table_name(&s.table)
            .key(
                "PK",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("T#{slug}")),
            )
            .key(
                "SK",
                aws_sdk_dynamodb::types::AttributeValue::S("TENANT".into()),
            )
            .send()
    };
    assert!(
        tenant_item().await.unwrap().item.is_none(),
        "a refused request writes nothing"
    );

    let created = s
        .call(
            Method::POST,
            "api",
            "/v1/tenants",
            Some(&s.admin_key),
            Some(Body::Json(body.clone())),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["tenant"]["calling_window"]["start"], "09:00");
    let stored = tenant_item().await.unwrap().item.expect("tenant stored");
    assert!(
        !format!("{stored:?}").contains(created.body["api_key"].as_str().unwrap()),
        "the key itself is not stored"
    );

    let again = s
        .call(
            Method::POST,
            "api",
            "/v1/tenants",
            Some(&s.admin_key),
            Some(Body::Json(body)),
        )
        .await;
    assert_eq!(again.status, 409);
    let invalid = s
        .call(
            Method::POST,
            "api",
            "/v1/tenants",
            Some(&s.admin_key),
            Some(Body::Json(
                json!({"name": "x", "slug": "Bad Slug", "timezone": "UTC", "default_region": "US"}),
            )),
        )
        .await;
    assert_eq!(
        (invalid.status, invalid.body["error"]["field"].as_str()),
        (422, Some("slug"))
    );
    let not_json = s
        .http()
        .post(s.url("api", "/v1/tenants"))
        .bearer_auth(&s.admin_key)
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status().as_u16(), 400);
}

#[tokio::test]
async fn listings_page_with_cursors_that_belong_to_their_listing() {
    let s = stack();
    let (_, key) = s.new_tenant("pages", "US", "America/Denver").await;
    let (_, other_key) = s.new_tenant("pages-other", "US", "America/Denver").await;
    // Campaign ids order by creation millisecond; campaigns made within the
    // same millisecond have no order between them.
    for name in ["first", "second", "third"] {
        s.new_campaign(&key, name).await;
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let first = s.get(&key, "/v1/campaigns?limit=2").await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(first.body["items"][0]["name"], "third", "newest first");
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let second = s
        .get(&key, &format!("/v1/campaigns?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(second.body["items"][0]["name"], "first");
    let stolen = s
        .get(&other_key, &format!("/v1/campaigns?cursor={cursor}"))
        .await;
    assert_eq!(
        stolen.status, 400,
        "another tenant's cursor is refused: {stolen:?}"
    );

    let campaign = s.new_campaign(&key, "statuses").await;
    import(
        &key,
        &campaign,
        b"number\n4155552671\n4155552672\n4155552673\n",
    )
    .await;
    let new = s
        .get(
            &key,
            &format!("/v1/campaigns/{campaign}/leads?status=new&limit=2"),
        )
        .await;
    assert_eq!(new.body["items"].as_array().unwrap().len(), 2);
    assert!(new.body["next_cursor"].is_string());
    let booked = s
        .get(
            &key,
            &format!("/v1/campaigns/{campaign}/leads?status=booked"),
        )
        .await;
    assert_eq!(booked.body["items"].as_array().unwrap().len(), 0);
    let bad = s
        .get(
            &key,
            &format!("/v1/campaigns/{campaign}/leads?status=happy"),
        )
        .await;
    assert_eq!(bad.status, 422);
}

#[tokio::test]
async fn the_invoke_api_runs_the_same_binary_with_an_api_gateway_event() {
    let s = stack();
    let event: serde_json::Value =
        serde_json::from_str(include_str!("../events/api-list-campaigns.json"))
            .expect("event fixture is JSON");
    let (status, response) = s.invoke("api", &event).await;
    assert_eq!(status, 200);
    assert_eq!(
        response["statusCode"], 401,
        "the fixture's key is not a real key: {response}"
    );
}

#[tokio::test]
async fn functions_of_later_capabilities_say_not_implemented_instead_of_faking_success() {
    let s = stack();
    let answer = s
        .call(
            Method::POST,
            "calcom-webhook",
            "/webhooks/calcom/acme-dental",
            None,
            Some(Body::Json(json!({"triggerEvent": "BOOKING_CREATED"}))),
        )
        .await;
    assert_eq!(answer.status, 501);
    assert!(answer.error_message().contains("not implemented yet"));

    let scheduled: serde_json::Value =
        serde_json::from_str(include_str!("../events/reminders-reminder.json")).unwrap();
    let (_, response) = s.invoke("reminders", &scheduled).await;
    assert!(
        response.to_string().contains("not implemented yet"),
        "{response}"
    );
}

#[tokio::test]
async fn the_deployed_http_api_routes_to_the_api_function() {
    let s = stack();
    let response = s
        .http()
        .get(format!("{}/v1/campaigns", s.api))
        .send()
        .await
        .expect("MiniStack's HTTP API answers");
    assert_eq!(
        response.status().as_u16(),
        401,
        "the deployed api function asked for a key"
    );
}

#[tokio::test]
async fn an_import_of_n_new_leads_makes_ceil_n_over_100_conditional_transactions() {
    use leadline_aws::DynamoStore;
    use leadline_core::intake;
    let s = stack();
    let (tenant_id, key) = s.new_tenant("batches", "US", "America/New_York").await;
    let campaign = s.new_campaign(&key, "Batches").await;
    let store = DynamoStore::new(s.dynamodb().await, &s.table);
    let tenant = leadline_core::ports::TenantStore::tenant(
        &store,
        &leadline_core::TenantId::parse(&tenant_id).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    let mut csv = String::from("number\n");
    for i in 0..1001 {
        csv.push_str(&format!("+1 212 555 {:04}\n", 1000 + i));
    }
    store.calls().reset();
    let campaign_id = leadline_core::CampaignId::parse(&campaign).unwrap();
    let report = intake::import_leads(
        &store,
        &tenant,
        &campaign_id,
        csv.as_bytes(),
        jiff::Timestamp::now(),
    )
    .await
    .unwrap();
    assert_eq!(report.imported, 1001);
    assert_eq!(
        store.calls().count("TransactWriteItems"),
        1001_u64.div_ceil(100),
        "{:?}",
        store.calls().snapshot()
    );
    assert_eq!(store.calls().count("BatchWriteItem"), 0);
    assert_eq!(store.calls().count("BatchGetItem"), 1001_u64.div_ceil(100));
    assert_eq!(
        s.campaign_lead_items(&tenant_id, &campaign).await.len(),
        1001
    );
}

/// Two imports of one file sent at once, then two more while one of its
/// leads moves on (booked): each lead is imported by exactly one import, the
/// campaign counts it once, and no import resets a lead.
#[tokio::test]
async fn imports_of_one_file_at_once_import_each_lead_once_and_reset_none() {
    let s = stack();
    let (tenant, key) = s.new_tenant("twice", "US", "America/New_York").await;
    let campaign = s.new_campaign(&key, "Twice").await;
    let csv: String = std::iter::once("number\n".to_owned())
        .chain((0..300).map(|i| format!("+1 212 555 {:04}\n", 5000 + i)))
        .collect();
    let counts = |a: &Answer| {
        assert_eq!(a.status, 200, "{a:?}");
        (
            a.body["imported"].as_u64().unwrap(),
            a.body["duplicates"].as_u64().unwrap(),
        )
    };
    let (a, b) = tokio::join!(
        import(&key, &campaign, csv.as_bytes()),
        import(&key, &campaign, csv.as_bytes())
    );
    let (a, b) = (counts(&a), counts(&b));
    assert_eq!(a.0 + b.0, 300, "each lead imported once: {a:?} {b:?}");
    assert_eq!(
        (a.0 + a.1, b.0 + b.1),
        (300, 300),
        "the rest are duplicates"
    );
    assert_eq!(s.campaign_lead_items(&tenant, &campaign).await.len(), 300);
    let path = format!("/v1/campaigns/{campaign}");
    assert_eq!(s.get(&key, &path).await.body["lead_count"], 300);

    let lead = s.get(&key, &format!("{path}/leads?limit=1")).await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let book = format!("/v1/leads/{lead}:booked");
    let (c, booked, d) = tokio::join!(
        import(&key, &campaign, csv.as_bytes()),
        s.call(Method::POST, "api", &book, Some(&key), None),
        import(&key, &campaign, csv.as_bytes())
    );
    assert_eq!(booked.status, 200, "{booked:?}");
    assert_eq!((counts(&c), counts(&d)), ((0, 300), (0, 300)));
    let stored = s.get(&key, &format!("/v1/leads/{lead}")).await;
    assert_eq!(
        (
            stored.body["status"].as_str(),
            stored.body["version"].as_u64()
        ),
        (Some("booked"), Some(1)),
        "{stored:?}"
    );
    assert_eq!(s.get(&key, &path).await.body["lead_count"], 300);
}

#[tokio::test]
async fn two_concurrent_writers_of_one_lead_cannot_both_win() {
    use leadline_aws::DynamoStore;
    use leadline_core::calling::lead::LeadStatus;
    use leadline_core::ports::LeadStore;
    let s = stack();
    let (tenant, key) = s.new_tenant("race", "US", "America/New_York").await;
    let campaign = s.new_campaign(&key, "Race").await;
    import(&key, &campaign, b"number\n4155552671\n").await;
    let listed = s
        .get(&key, &format!("/v1/campaigns/{campaign}/leads"))
        .await;
    let lead_id =
        leadline_core::LeadId::parse(listed.body["items"][0]["id"].as_str().unwrap()).unwrap();
    let tenant = leadline_core::TenantId::parse(&tenant).unwrap();

    let store = DynamoStore::new(s.dynamodb().await, &s.table);
    let now = jiff::Timestamp::now();
    // Two writers read the same version and each make a different change.
    let mut queued = store.lead(&tenant, &lead_id).await.unwrap().unwrap();
    let mut suppressed = queued.clone();
    queued.queue(1, now).unwrap();
    suppressed.suppress("asked not to be called", now);
    use leadline_core::write::{Change, Commit, Entity, Refused};
    let save =
        |lead: &leadline_core::calling::lead::Lead| [Change::Save(Entity::Lead(lead.clone()))];
    let (queued_save, suppressed_save) = (save(&queued), save(&suppressed));
    let (a, b) = tokio::join!(store.commit(&queued_save), store.commit(&suppressed_save));
    assert!(
        a.is_ok() != b.is_ok(),
        "exactly one writer wins: {a:?} {b:?}"
    );
    let loser = if a.is_err() { a } else { b };
    assert!(matches!(
        loser,
        Err(leadline_core::Error::Refused(Refused::Stale))
    ));

    let stored = store.lead(&tenant, &lead_id).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    assert!([LeadStatus::Queued, LeadStatus::DoNotCall].contains(&stored.status));
    // The status index moved with the winner.
    let by_status = s
        .get(
            &key,
            &format!(
                "/v1/campaigns/{campaign}/leads?status={}",
                stored.status.as_str()
            ),
        )
        .await;
    assert_eq!(by_status.body["items"].as_array().unwrap().len(), 1);
    let stale_new = s
        .get(&key, &format!("/v1/campaigns/{campaign}/leads?status=new"))
        .await;
    assert_eq!(stale_new.body["items"].as_array().unwrap().len(), 0);
}
