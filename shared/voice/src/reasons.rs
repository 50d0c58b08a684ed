//! What a call came to, read from the provider's reason for its end
//! (Retell `disconnection_reason`, Vapi `endedReason`).
//!
//! The outcome families:
//! - **Completed**: the lead was reached and talked, whoever hung up, including
//!   transfers, silence after talking and the maximum duration.
//! - **Voicemail**: a machine answered (voicemail, or an IVR menu).
//! - **Busy**, **NoAnswer**: the lead did not pick up; declining the call
//!   counts as no answer, to be tried again later.
//! - **InvalidNumber**: the destination itself cannot be called.
//! - **Failed, retryable**: the provider, its telephony carrier or the agent
//!   pipeline failed, or a limit was reached. Configuration errors of the
//!   pipeline (an LLM key, a voice) land here too: the attempt limit bounds
//!   their cost, and the lead stays callable once the operator fixes them.
//! - **Failed, final**: calling this lead again cannot succeed or must not
//!   happen: payment or fraud blocks, a carrier that forbids the destination,
//!   a call flagged as spam or scam, a call a person stopped or deleted, an
//!   assistant that does not exist.
//!
//! Reasons are matched exactly first, then by family prefix. A reason in
//! neither is a retryable failure and is logged, so the table can catch up
//! with the providers' growing lists.

use leadline_core::calling::lead::CallOutcome;
use leadline_core::kernel::redact::Redacted;

const COMPLETED: CallOutcome = CallOutcome::Completed;
const VOICEMAIL: CallOutcome = CallOutcome::Voicemail;
const BUSY: CallOutcome = CallOutcome::Busy;
const NO_ANSWER: CallOutcome = CallOutcome::NoAnswer;
const INVALID_NUMBER: CallOutcome = CallOutcome::InvalidNumber;
const RETRYABLE: CallOutcome = CallOutcome::Failed { retryable: true };
const FINAL: CallOutcome = CallOutcome::Failed { retryable: false };

/// Retell's `disconnection_reason` values (SDK v5.60.0).
const RETELL_REASONS: &[(&str, CallOutcome)] = &[
    ("user_hangup", COMPLETED),
    ("agent_hangup", COMPLETED),
    ("call_transfer", COMPLETED),
    ("transfer_bridged", COMPLETED),
    ("transfer_cancelled", COMPLETED),
    ("inactivity", COMPLETED),
    ("max_duration_reached", COMPLETED),
    ("call_take_over", COMPLETED),
    ("voicemail_reached", VOICEMAIL),
    ("ivr_reached", VOICEMAIL),
    ("dial_busy", BUSY),
    ("dial_no_answer", NO_ANSWER),
    ("user_declined", NO_ANSWER),
    ("registered_call_timeout", NO_ANSWER),
    ("error_user_not_joined", NO_ANSWER),
    ("invalid_destination", INVALID_NUMBER),
    ("dial_failed", RETRYABLE),
    ("concurrency_limit_reached", RETRYABLE),
    ("no_concurrency_fallback", RETRYABLE),
    ("telephony_provider_unavailable", RETRYABLE),
    ("sip_routing_error", RETRYABLE),
    ("no_valid_payment", FINAL),
    ("telephony_provider_permission_denied", FINAL),
    ("marked_as_spam", FINAL),
    ("scam_detected", FINAL),
    ("manual_stopped", FINAL),
];

/// `error_llm_websocket_*`, `error_asr`, `error_retell`, `error_unknown`, ...
const RETELL_FAMILIES: &[(&str, CallOutcome)] = &[("error_", RETRYABLE)];

/// Vapi's `endedReason` values outside the error families, and the error
/// values that differ from their family (openapi of 2026-08-20, 627 values).
const VAPI_REASONS: &[(&str, CallOutcome)] = &[
    ("customer-ended-call", COMPLETED),
    ("customer-ended-call-before-warm-transfer", COMPLETED),
    ("customer-ended-call-after-warm-transfer-attempt", COMPLETED),
    ("customer-ended-call-during-transfer", COMPLETED),
    ("assistant-ended-call", COMPLETED),
    ("assistant-said-end-call-phrase", COMPLETED),
    ("assistant-ended-call-with-hangup-task", COMPLETED),
    ("assistant-ended-call-after-message-spoken", COMPLETED),
    ("assistant-forwarded-call", COMPLETED),
    ("exceeded-max-duration", COMPLETED),
    ("silence-timed-out", COMPLETED),
    ("call.in-progress.twilio-completed-call", COMPLETED),
    ("call.in-progress.sip-completed-call", COMPLETED),
    ("vonage-completed", COMPLETED),
    ("call.forwarding.operator-busy", COMPLETED),
    ("call.forwarding.no-answer", COMPLETED),
    ("call.ringing.hook-executed-say", COMPLETED),
    ("call.ringing.hook-executed-transfer", COMPLETED),
    ("call.ending.hook-executed-say", COMPLETED),
    ("call.ending.hook-executed-transfer", COMPLETED),
    ("voicemail", VOICEMAIL),
    ("customer-busy", BUSY),
    ("customer-did-not-answer", NO_ANSWER),
    (
        "call.ringing.sip-inbound-caller-hungup-before-call-connect",
        NO_ANSWER,
    ),
    (
        "call.in-progress.error-providerfault-outbound-sip-480-temporarily-unavailable",
        NO_ANSWER,
    ),
    ("twilio-reported-customer-misdialed", INVALID_NUMBER),
    ("worker-shutdown", RETRYABLE),
    ("phone-call-provider-closed-websocket", RETRYABLE),
    (
        "phone-call-provider-bypass-enabled-but-no-call-received",
        RETRYABLE,
    ),
    ("assistant-join-timed-out", RETRYABLE),
    ("manually-canceled", FINAL),
    ("call-deleted", FINAL),
    ("scheduled-call-deleted", FINAL),
    ("assistant-not-found", FINAL),
    ("assistant-not-valid", FINAL),
    ("call-start-error-neither-assistant-nor-server-set", FINAL),
    ("call.start.assistant-version-error-validation", FINAL),
    ("customer-did-not-give-microphone-permission", FINAL),
    ("call.start.error-vapi-number-international", FINAL),
    ("call.start.error-fraud-check-failed", FINAL),
    ("call.start.error-subscription-frozen", FINAL),
    ("call.start.error-subscription-insufficient-credits", FINAL),
    ("call.start.error-subscription-wallet-does-not-exist", FINAL),
    ("call.start.error-subscription-upgrade-failed", FINAL),
    (
        "call.start.error-enterprise-feature-not-available-recording-consent",
        FINAL,
    ),
];

const VAPI_FAMILIES: &[(&str, CallOutcome)] = &[
    ("pipeline-error-", RETRYABLE),
    ("call.in-progress.error-", RETRYABLE),
    ("call.start.error-", RETRYABLE),
    ("call.ringing.error-", RETRYABLE),
    ("assistant-request-", RETRYABLE),
    ("twilio-", RETRYABLE),
    ("vonage-", RETRYABLE),
    ("sip-", RETRYABLE),
];

/// The outcome of a Retell call that ended for `reason`.
pub fn retell_outcome(reason: &str) -> CallOutcome {
    outcome_of("retell", reason, RETELL_REASONS, RETELL_FAMILIES)
}

/// The outcome of a Vapi call that ended for `reason`.
pub fn vapi_outcome(reason: &str) -> CallOutcome {
    outcome_of("vapi", reason, VAPI_REASONS, VAPI_FAMILIES)
}

fn outcome_of(
    provider: &'static str,
    reason: &str,
    exact: &[(&str, CallOutcome)],
    families: &[(&str, CallOutcome)],
) -> CallOutcome {
    lookup(reason, exact, families).unwrap_or_else(|| {
        tracing::warn!(
            provider,
            reason = %Redacted(reason),
            "unknown end-of-call reason, taken as a retryable failure"
        );
        RETRYABLE
    })
}

fn lookup(
    reason: &str,
    exact: &[(&str, CallOutcome)],
    families: &[(&str, CallOutcome)],
) -> Option<CallOutcome> {
    let reason = reason.trim().to_ascii_lowercase();
    exact
        .iter()
        .find(|(name, _)| *name == reason)
        .or_else(|| {
            families
                .iter()
                .find(|(prefix, _)| reason.starts_with(prefix))
        })
        .map(|(_, outcome)| outcome.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_all(outcome_of: fn(&str) -> CallOutcome, reasons: &[&str], expected: CallOutcome) {
        for reason in reasons {
            assert_eq!(outcome_of(reason), expected, "{reason}");
        }
    }

    #[test]
    fn retell_reached_and_talked_is_completed() {
        let reasons = [
            "user_hangup",
            "agent_hangup",
            "call_transfer",
            "transfer_bridged",
            "inactivity",
            "max_duration_reached",
        ];
        assert_all(retell_outcome, &reasons, COMPLETED);
    }

    #[test]
    fn retell_machines_are_voicemail() {
        assert_all(
            retell_outcome,
            &["voicemail_reached", "ivr_reached"],
            VOICEMAIL,
        );
    }

    #[test]
    fn retell_busy_and_no_answer() {
        assert_eq!(retell_outcome("dial_busy"), BUSY);
        let unanswered = ["dial_no_answer", "user_declined", "registered_call_timeout"];
        assert_all(retell_outcome, &unanswered, NO_ANSWER);
    }

    #[test]
    fn retell_invalid_destination_is_an_invalid_number() {
        assert_eq!(retell_outcome("invalid_destination"), INVALID_NUMBER);
    }

    #[test]
    fn retell_provider_failures_are_retryable() {
        let reasons = [
            "dial_failed",
            "concurrency_limit_reached",
            "telephony_provider_unavailable",
            "sip_routing_error",
            "error_llm_websocket_open",
            "error_asr",
            "error_retell",
            "error_unknown",
            "error_some_future_failure",
        ];
        assert_all(retell_outcome, &reasons, RETRYABLE);
    }

    #[test]
    fn retell_blocks_and_manual_stops_are_final() {
        let reasons = [
            "no_valid_payment",
            "telephony_provider_permission_denied",
            "marked_as_spam",
            "scam_detected",
            "manual_stopped",
        ];
        assert_all(retell_outcome, &reasons, FINAL);
    }

    #[test]
    fn vapi_reached_and_talked_is_completed() {
        let reasons = [
            "customer-ended-call",
            "assistant-ended-call",
            "assistant-said-end-call-phrase",
            "assistant-forwarded-call",
            "exceeded-max-duration",
            "silence-timed-out",
        ];
        assert_all(vapi_outcome, &reasons, COMPLETED);
    }

    #[test]
    fn vapi_voicemail_busy_no_answer_and_misdial() {
        assert_eq!(vapi_outcome("voicemail"), VOICEMAIL);
        assert_eq!(vapi_outcome("customer-busy"), BUSY);
        assert_eq!(vapi_outcome("customer-did-not-answer"), NO_ANSWER);
        assert_eq!(
            vapi_outcome("twilio-reported-customer-misdialed"),
            INVALID_NUMBER
        );
    }

    #[test]
    fn vapi_error_families_are_retryable() {
        let reasons = [
            "pipeline-error-openai-llm-failed",
            "pipeline-error-eleven-labs-voice-not-found",
            "call.in-progress.error-vapifault-worker-died",
            "call.start.error-get-phone-number",
            "call.ringing.error-sip-inbound-call-failed-to-connect",
            "assistant-request-failed",
            "twilio-failed-to-connect-call",
            "sip-some-future-failure",
            "call.start.error-subscription-concurrency-limit-reached",
        ];
        assert_all(vapi_outcome, &reasons, RETRYABLE);
    }

    #[test]
    fn vapi_exceptions_to_a_family_win_over_the_family() {
        assert_eq!(vapi_outcome("call.start.error-subscription-frozen"), FINAL);
        assert_eq!(
            vapi_outcome(
                "call.in-progress.error-providerfault-outbound-sip-480-temporarily-unavailable"
            ),
            NO_ANSWER
        );
    }

    #[test]
    fn vapi_cancels_deletes_and_blocks_are_final() {
        let reasons = [
            "manually-canceled",
            "call-deleted",
            "assistant-not-found",
            "call.start.error-fraud-check-failed",
            "call.start.error-subscription-insufficient-credits",
        ];
        assert_all(vapi_outcome, &reasons, FINAL);
    }

    #[test]
    fn reasons_are_matched_whatever_their_case_and_surrounding_space() {
        assert_eq!(vapi_outcome(" Customer-Busy "), BUSY);
        assert_eq!(retell_outcome("DIAL_BUSY"), BUSY);
    }

    /// Every `disconnection_reason` of the Retell SDK v5.60.0.
    const RETELL_DOCUMENTED: &[&str] = &[
        "user_hangup",
        "agent_hangup",
        "call_transfer",
        "voicemail_reached",
        "ivr_reached",
        "inactivity",
        "max_duration_reached",
        "concurrency_limit_reached",
        "no_concurrency_fallback",
        "no_valid_payment",
        "scam_detected",
        "dial_busy",
        "dial_failed",
        "dial_no_answer",
        "invalid_destination",
        "telephony_provider_permission_denied",
        "telephony_provider_unavailable",
        "sip_routing_error",
        "marked_as_spam",
        "user_declined",
        "error_llm_websocket_open",
        "error_llm_websocket_lost_connection",
        "error_llm_websocket_runtime",
        "error_llm_websocket_corrupt_payload",
        "error_no_audio_received",
        "error_asr",
        "error_retell",
        "error_unknown",
        "error_user_not_joined",
        "registered_call_timeout",
        "transfer_bridged",
        "transfer_cancelled",
        "manual_stopped",
        "call_take_over",
    ];

    /// Every Vapi `endedReason` of the openapi of 2026-08-20 outside the
    /// `pipeline-error-`, `call.in-progress.error-` and `call.start.error-` families.
    const VAPI_DOCUMENTED: &[&str] = &[
        "call-start-error-neither-assistant-nor-server-set",
        "assistant-request-failed",
        "assistant-request-returned-error",
        "assistant-request-returned-unspeakable-error",
        "assistant-request-returned-invalid-assistant",
        "assistant-request-returned-no-assistant",
        "assistant-request-returned-forwarding-phone-number",
        "scheduled-call-deleted",
        "call.start.assistant-version-error-validation",
        "assistant-not-valid",
        "assistant-not-found",
        "worker-shutdown",
        "vonage-disconnected",
        "vonage-failed-to-connect-call",
        "vonage-completed",
        "phone-call-provider-bypass-enabled-but-no-call-received",
        "call.in-progress.twilio-completed-call",
        "call.in-progress.sip-completed-call",
        "call.ringing.error-sip-inbound-call-failed-to-connect",
        "assistant-ended-call",
        "assistant-said-end-call-phrase",
        "assistant-ended-call-with-hangup-task",
        "assistant-ended-call-after-message-spoken",
        "assistant-forwarded-call",
        "assistant-join-timed-out",
        "customer-busy",
        "customer-ended-call",
        "customer-ended-call-before-warm-transfer",
        "customer-ended-call-after-warm-transfer-attempt",
        "customer-ended-call-during-transfer",
        "customer-did-not-answer",
        "customer-did-not-give-microphone-permission",
        "exceeded-max-duration",
        "manually-canceled",
        "phone-call-provider-closed-websocket",
        "call.forwarding.operator-busy",
        "call.forwarding.no-answer",
        "silence-timed-out",
        "call.ringing.hook-executed-say",
        "call.ringing.hook-executed-transfer",
        "call.ending.hook-executed-say",
        "call.ending.hook-executed-transfer",
        "call.ringing.sip-inbound-caller-hungup-before-call-connect",
        "twilio-failed-to-connect-call",
        "twilio-reported-customer-misdialed",
        "vonage-rejected",
        "voicemail",
        "call-deleted",
    ];

    #[test]
    fn every_documented_reason_is_in_the_table() {
        for reason in RETELL_DOCUMENTED {
            assert!(
                lookup(reason, RETELL_REASONS, RETELL_FAMILIES).is_some(),
                "{reason}"
            );
        }
        for reason in VAPI_DOCUMENTED {
            assert!(
                lookup(reason, VAPI_REASONS, VAPI_FAMILIES).is_some(),
                "{reason}"
            );
        }
    }

    #[test]
    fn an_unknown_reason_is_a_retryable_failure() {
        assert_eq!(retell_outcome("aliens_hung_up"), RETRYABLE);
        assert_eq!(vapi_outcome("aliens-hung-up"), RETRYABLE);
        assert_eq!(vapi_outcome(""), RETRYABLE);
    }
}
