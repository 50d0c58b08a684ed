//! Identifiers the providers hand out, and the phone number format they accept.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use data_encoding::{BASE64, BASE64URL_NOPAD, HEXLOWER, HEXUPPER};

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

/// A Twilio Message sid: `SM` and 32 lower-case hex digits.
pub(crate) fn twilio_message_sid() -> String {
    format!("SM{}", HEXLOWER.encode(&random_bytes::<16>()))
}

/// A SendGrid `X-Message-Id` (or `sg_event_id`): 22 URL-safe base64 characters.
pub(crate) fn sendgrid_id() -> String {
    BASE64URL_NOPAD.encode(&random_bytes::<16>())
}

/// A WhatsApp message id: `wamid.` and base64 of the user's number and a
/// random part, the way Meta's look.
pub(crate) fn wamid(digits: &str) -> String {
    let mut raw = vec![0x1c, 0x18, digits.len() as u8];
    raw.extend_from_slice(digits.as_bytes());
    raw.extend_from_slice(&[0x15, 0x02, 0x00, 0x11, 0x18, 0x12]);
    raw.extend_from_slice(HEXUPPER.encode(&random_bytes::<9>()).as_bytes());
    raw.push(0x00);
    format!("wamid.{}", BASE64.encode(&raw))
}

/// Meta's `fbtrace_id`: 23 characters of URL-safe base64, starting with `A`.
pub(crate) fn fbtrace_id() -> String {
    format!("A{}", BASE64URL_NOPAD.encode(&random_bytes::<16>()))
}

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
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
        let sid = twilio_message_sid();
        assert_eq!(sid.len(), 34);
        assert!(sid.starts_with("SM"));
        assert_eq!(sendgrid_id().len(), 22);
        assert!(wamid("14155550100").starts_with("wamid.HBgL"));
        assert_eq!(fbtrace_id().len(), 23);
    }
}
