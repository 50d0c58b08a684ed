//! Identifiers the providers hand out, and the phone number format they accept.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use data_encoding::HEXLOWER;

/// A Retell call id: `call_` and 32 lower-case hex digits.
pub(crate) fn retell_call_id() -> String {
    format!("call_{}", HEXLOWER.encode(&random_bytes::<16>()))
}

/// A Cal.com booking uid: `bk_` and 22 lower-case hex digits.
pub(crate) fn calcom_booking_uid() -> String {
    format!("bk_{}", HEXLOWER.encode(&random_bytes::<11>()))
}

/// A Vapi tool call id: `call_` and 24 lower-case hex digits.
pub(crate) fn tool_call_id() -> String {
    format!("call_{}", HEXLOWER.encode(&random_bytes::<12>()))
}

/// A random (version 4) UUID, as Vapi uses for call ids.
pub(crate) fn uuid_v4() -> String {
    let mut bytes = random_bytes::<16>();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = HEXLOWER.encode(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0; N];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS refused randomness: unique is all a simulator needs.
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let word = RandomState::new().hash_one((i, std::time::SystemTime::now()));
            chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
        }
    }
    bytes
}

/// `^\+[1-9]\d{6,14}$`: the E.164 form both providers require.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_is_a_plus_then_seven_to_fifteen_digits_not_starting_with_zero() {
        for good in [
            "+14155550100",
            "+4930123456",
            "+1234567",
            "+123456789012345",
        ] {
            assert!(is_e164(good), "{good}");
        }
        for bad in [
            "14155550100",
            "+04155550100",
            "+123456",
            "+1234567890123456",
            "+1 415 555 0100",
            "+1415555010a",
            "",
            "+",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }

    #[test]
    fn ids_have_the_providers_shapes() {
        let retell = retell_call_id();
        assert_eq!(retell.len(), 37);
        assert!(retell.starts_with("call_"));
        let uuid = uuid_v4();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid_v4(), uuid);
        assert_eq!(calcom_booking_uid().len(), 25);
        assert_eq!(tool_call_id().len(), 29);
    }
}
