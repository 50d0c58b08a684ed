//! Properties over arbitrary input: signatures round-trip and break on any
//! change, and no body or refusal makes the adapters panic.

use leadline_core::calling::call::DialError;
use leadline_voice::dial::classify_refusal;
use leadline_voice::{HmacAlgorithm, SignatureError, VapiHmac, retell, vapi};
use proptest::prelude::*;

const NOW_MS: i64 = 1_800_000_000_000;

fn algorithm() -> impl Strategy<Value = HmacAlgorithm> {
    prop_oneof![
        Just(HmacAlgorithm::Sha256),
        Just(HmacAlgorithm::Sha512),
        Just(HmacAlgorithm::Sha1),
    ]
}

proptest! {
    #[test]
    fn a_retell_signature_verifies_within_the_window(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        key in ".{1,64}",
        skew in -300_000_i64..=300_000,
    ) {
        let header = retell::sign(&body, &key, NOW_MS + skew);
        prop_assert_eq!(retell::verify(Some(&header), &body, &key, NOW_MS), Ok(()));
    }

    #[test]
    fn any_change_to_the_body_breaks_a_retell_signature(
        body in proptest::collection::vec(any::<u8>(), 1..512),
        index in any::<prop::sample::Index>(),
        flip in 1_u8..=255,
    ) {
        let header = retell::sign(&body, "key", NOW_MS);
        let mut tampered = body.clone();
        tampered[index.index(body.len())] ^= flip;
        prop_assert_eq!(
            retell::verify(Some(&header), &tampered, "key", NOW_MS),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_vapi_hmac_signature_round_trips(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        secret in ".{1,64}",
        algorithm in algorithm(),
        timestamp in "[0-9]{10,13}",
    ) {
        let credential = VapiHmac::new(secret, algorithm);
        let signature = credential.sign(&timestamp, "POST", "https://h.example/v", &body).unwrap();
        let header = |name: &str| match name {
            "x-signature" => Some(signature.as_str()),
            "x-timestamp" => Some(timestamp.as_str()),
            _ => None,
        };
        prop_assert_eq!(credential.verify(header, "POST", "https://h.example/v", &body), Ok(()));
    }

    #[test]
    fn no_body_makes_the_parsers_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = retell::parse_event(&body);
        let _ = vapi::parse_event(&body);
    }

    #[test]
    fn no_header_makes_retell_verification_panic(header in ".{0,100}") {
        let _ = retell::verify(Some(&header), b"{}", "key", NOW_MS);
    }

    #[test]
    fn server_errors_are_always_unavailable_and_429_always_throttled(
        status in 500_u16..600,
        body in ".{0,400}",
    ) {
        prop_assert!(matches!(classify_refusal(status, &body, None), DialError::Unavailable(_)));
        prop_assert!(
            matches!(classify_refusal(429, &body, None), DialError::Throttled { .. }),
            "expected throttled"
        );
    }
}
