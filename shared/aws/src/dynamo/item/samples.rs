//! Domain values with every stored shape in them, for the item tests and
//! `benches/item.rs`: every field set (nested `None`s, `u64` past `i64::MAX`,
//! maps keyed by enums, JSON blobs from the providers) and every optional
//! field absent (empty lists, empty maps).

use leadline_core::appointments::appointment::Appointment;
use leadline_core::appointments::business::Business;
use leadline_core::billing::UsageRecord;
use leadline_core::calling::attempt::CallAttempt;
use leadline_core::calling::lead::Lead;
use leadline_core::calling::suppression::Suppression;
use leadline_core::in_call::ToolRecord;
use leadline_core::intake::campaign::Campaign;
use leadline_core::intake::tenant::Tenant;
use leadline_core::write::Outbox;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const TENANT: &str = "acme-dental";
const CAMPAIGN: &str = "cmp_agragn5vrjysaunngmonrx6b";
const LEAD: &str = "ld_0h1ga3vsq4mhnq2v5ggi4n5nqe";
const ATTEMPT: &str = "att_g1kvfe0ss3hpm8ojn5fm6kfb3o";
const MESSAGE: &str = "msg_7b4jlq1kq7gvd3o5s9a6mcs6rg";
const PHONE: &str = "+14155552671";

fn from<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("a sample reads as its type")
}

pub fn lead_full() -> Lead {
    from(json!({
        "id": LEAD, "tenant": TENANT, "campaign": CAMPAIGN, "phone": PHONE,
        "name": "Ana Ruiz", "email": "ana@example.com", "whatsapp": "+14155552672",
        "partner": "north", "zone": "America/New_York", "source": "inbound",
        "preferred_phone": "+14155552673", "from_call": ["name", "preferred_phone"],
        "status": "callback_pending",
        "attempts": 2,
        "outcome": {"kind": "callback_requested", "at": null},
        "note": "asked to be called after lunch",
        "next_call": {"kind": "callback", "attempt": 3, "at": "2025-11-24T14:30:00Z"},
        "messages": [{
            "id": MESSAGE, "channel": "sms", "purpose": "fallback", "template": "missed_call",
            "to": PHONE, "status": "queued", "at": "2025-11-24T10:33:12.123456789Z"
        }],
        "created_at": "2025-11-20T09:00:00Z", "updated_at": "2025-11-24T10:33:12.5Z",
        "version": u64::MAX
    }))
}

pub fn lead_sparse() -> Lead {
    from(json!({
        "id": LEAD, "tenant": TENANT, "campaign": CAMPAIGN, "phone": PHONE,
        "name": null, "email": null, "whatsapp": null, "partner": null, "zone": null,
        "status": "new", "attempts": 0, "outcome": null, "note": null,
        "created_at": "2025-11-20T09:00:00Z", "updated_at": "2025-11-20T09:00:00Z",
        "version": 1
    }))
}

pub fn attempt_full() -> CallAttempt {
    from(json!({
        "id": ATTEMPT, "tenant": TENANT, "lead": LEAD, "campaign": CAMPAIGN,
        "number": 2, "provider": "retell", "direction": "inbound",
        "provider_call_id": "call_8f2e",
        "status": "ended", "outcome": {"kind": "failed", "retryable": true},
        "report": {
            "ended_reason": "dial_no_answer", "summary": "no one picked up",
            "success": "false",
            "structured": {
                "score": 0.85, "negative": -3, "big": u64::MAX, "ok": true,
                "tags": ["a", null, 7], "empty_list": [], "empty_map": {},
                "nested": {"note": null, "when": "tomorrow"}
            },
            "transcript": "Agent: Hello?", "recording_url": "https://example.com/r.wav",
            "started_at": "2025-11-24T10:33:00Z", "ended_at": "2025-11-24T10:33:31Z",
            "duration_ms": 31_000, "provider_cost": 7
        },
        "usage_recorded": true,
        "redial_after": "2025-11-24T10:35:00Z", "stuck_after": "2025-11-24T11:38:00Z",
        "created_at": "2025-11-24T10:33:00Z", "version": 4
    }))
}

pub fn attempt_sparse() -> CallAttempt {
    from(json!({
        "id": ATTEMPT, "tenant": TENANT, "lead": LEAD, "campaign": CAMPAIGN,
        "number": 1, "provider": "vapi", "provider_call_id": null,
        "status": "dialing", "outcome": null,
        "created_at": "2025-11-24T10:33:00Z", "version": 1
    }))
}

pub fn campaign_full() -> Campaign {
    from(json!({
        "id": CAMPAIGN, "tenant": TENANT, "name": "November reactivation",
        "status": "running", "pacing": {"max_parallel_calls": 5, "calls_per_second": 1},
        "start_at": "2025-11-24T14:00:00Z", "lead_count": 946,
        "created_at": "2025-11-20T09:00:00Z"
    }))
}

pub fn campaign_sparse() -> Campaign {
    from(json!({
        "id": CAMPAIGN, "tenant": TENANT, "name": "Draft",
        "status": "draft", "pacing": {"max_parallel_calls": 1, "calls_per_second": 1},
        "start_at": null, "lead_count": 0,
        "created_at": "2025-11-20T09:00:00Z"
    }))
}

pub fn tenant_full() -> Tenant {
    from(json!({
        "id": TENANT, "name": "Bright Smile Dental", "zone": "America/New_York",
        "default_region": "US",
        "calling_window": {"start": "09:00", "end": "19:00", "excluded_weekdays": ["sunday"]},
        "voice": {
            "provider": "retell", "agent_id": "agent_1", "from_number": PHONE,
            "phone_number_id": "pn_1"
        },
        "rate_per_minute": 20, "max_concurrent_calls": 5,
        "retry_policy": {"retry_after_seconds": [3600, 14400, 86400]},
        "created_at": "2025-11-20T09:00:00Z"
    }))
}

pub fn tenant_sparse() -> Tenant {
    from(json!({
        "id": TENANT, "name": "Bright Smile Dental", "zone": "Europe/London",
        "default_region": "GB",
        "calling_window": {"start": "09:00", "end": "20:00", "excluded_weekdays": []},
        "voice": {"provider": "vapi"},
        "rate_per_minute": 0, "max_concurrent_calls": 1,
        "retry_policy": {"retry_after_seconds": []},
        "created_at": "2025-11-20T09:00:00Z"
    }))
}

pub fn business_full() -> Business {
    from(json!({
        "tenant": TENANT, "name": "Bright Smile Dental", "zone": "America/New_York",
        "phone": PHONE, "address": "1 Main St", "about": "Family dentistry",
        "greeting": "Bright Smile Dental, how can I help?",
        "opening_hours": {
            "monday": [{"open": "09:00", "close": "12:00"}, {"open": "13:00", "close": "18:00"}],
            "saturday": []
        },
        "booking_rules": {"min_notice_minutes": 60, "max_days_ahead": 30},
        "answers": [{"topic": "parking", "answer": "Behind the building."}],
        "calendar": {"api_key": "cal_live_x"},
        "inbound_numbers": [PHONE, "+14155552672"],
        "services": [{
            "id": "cleaning", "name": "Cleaning", "duration_minutes": 30, "price": 12000,
            "calcom_event_type_id": u64::MAX, "voice_booking": true,
            "description": "A routine cleaning"
        }, {
            "id": "x-ray", "name": "X-ray", "duration_minutes": 15, "price": 0,
            "calcom_event_type_id": 42, "voice_booking": false
        }],
        "updated_at": "2025-11-20T09:00:00Z", "version": 3
    }))
}

pub fn business_sparse() -> Business {
    from(json!({
        "tenant": TENANT, "name": "Oak Street Physio", "zone": "Europe/London",
        "updated_at": "2025-11-20T09:00:00Z"
    }))
}

pub fn appointment_full() -> Appointment {
    from(json!({
        "id": "apt_q2n1dlh3d0v3c9s7qkj5f2m6ba", "tenant": TENANT, "lead": LEAD,
        "booking_uid": "bk_afdaaf03859089de9f8766",
        "starts_at": "2025-11-25T14:30:00Z", "ends_at": "2025-11-25T15:00:00Z",
        "status": "booked", "service": "cleaning", "call": "call_8f2e", "version": 2
    }))
}

pub fn appointment_sparse() -> Appointment {
    from(json!({
        "id": "apt_q2n1dlh3d0v3c9s7qkj5f2m6ba", "tenant": TENANT, "lead": LEAD,
        "booking_uid": "bk_1", "starts_at": "2025-11-25T14:30:00Z",
        "ends_at": "2025-11-25T15:00:00Z", "status": "no_show", "version": 1
    }))
}

pub fn usage() -> UsageRecord {
    from(json!({
        "tenant": TENANT, "attempt": ATTEMPT, "billable_seconds": 31,
        "rate_per_minute": 20, "amount": -11, "ended_at": "2025-11-24T10:33:31Z"
    }))
}

pub fn suppression() -> Suppression {
    from(json!({
        "tenant": TENANT, "phone": PHONE, "source": "call",
        "reason": "asked not to be called", "at": "2025-11-24T10:33:31Z"
    }))
}

pub fn outbox() -> Outbox {
    let follow_up = json!({
        "tenant": TENANT, "lead": LEAD, "reason": "retry", "attempt": 3,
        "due_at": "2025-11-24T14:33:00Z"
    });
    let mut schedule = follow_up.clone();
    schedule["effect"] = json!("schedule_call");
    let mut cancel = follow_up.clone();
    cancel["effect"] = json!("cancel_call");
    from(json!({
        "tenant": TENANT, "id": "k2v0b6h0a9l6vn9q5t7s1c4mdo",
        "effects": [
            schedule,
            cancel,
            {"effect": "dial", "at": "2025-11-24T14:33:00Z", "message": {
                "kind": "dial", "tenant": TENANT, "campaign": CAMPAIGN, "lead": LEAD,
                "phone": PHONE, "attempt": 3, "manual": false, "tries": 2
            }},
            {"effect": "dial", "at": "2025-11-24T14:33:00Z", "message": {
                "kind": "sweep", "tenant": TENANT, "campaign": CAMPAIGN,
                "statuses": ["new", "retry_pending"], "cursor": null
            }},
            {"effect": "dial", "at": "2025-11-24T14:33:00Z", "message": {
                "kind": "follow_up", "tenant": TENANT, "lead": LEAD, "reason": "callback",
                "attempt": 4, "due_at": "2025-11-24T14:33:00Z"
            }},
            {"effect": "send", "id": MESSAGE, "tenant": TENANT, "lead": LEAD,
             "channel": "email", "purpose": "reminder", "template": "reminder_24h",
             "to": "ana@example.com", "params": {"time": "14:30", "name": "Ana"}},
            {"effect": "send", "id": MESSAGE, "tenant": TENANT, "lead": LEAD,
             "channel": "whatsapp", "purpose": "no_show_follow_up", "template": "no_show",
             "to": PHONE}
        ],
        "due_at": "2025-11-24T10:38:31Z"
    }))
}

pub fn tool_record_answer() -> ToolRecord {
    from(json!({
        "key": "call_8f2e#tool_1", "tenant": TENANT, "name": "book_appointment",
        "reply": {"answer": {
            "say": "You're booked for Tuesday at 9:30.", "booked": true,
            "slots": ["2025-11-25T14:30:00Z"], "price_cents": 12000, "score": 0.5,
            "booking": null
        }},
        "at": "2025-11-24T10:33:20Z"
    }))
}

pub fn tool_record_error() -> ToolRecord {
    from(json!({
        "key": "call_8f2e#tool_2", "tenant": TENANT, "name": "cancel_appointment",
        "reply": {"error": "I couldn't find that appointment."},
        "at": "2025-11-24T10:33:25Z"
    }))
}
