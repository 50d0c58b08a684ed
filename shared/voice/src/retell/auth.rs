//! `x-retell-signature: v=<epoch ms>,d=<hex>`, where the digest is
//! HMAC-SHA256 under the Retell API key of the raw body **followed by** the
//! decimal timestamp, with no separator (both official SDKs).

use data_encoding::HEXLOWER;

use crate::signature::{HmacAlgorithm, SignatureError, hmac, same};

/// The header Retell signs its webhooks and custom-function requests with.
pub const SIGNATURE_HEADER: &str = "x-retell-signature";

/// How far the signature's timestamp may be from our clock, either way.
pub const REPLAY_WINDOW_MS: u64 = 300_000;

/// The largest timestamp the TypeScript SDK accepts (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Checks that `raw_body` was signed by Retell with `api_key` within
/// [`REPLAY_WINDOW_MS`] of `now_ms`.
///
/// The header must read `v=<digits>,d=<64 hex digits>`. The `v=` and `d=`
/// labels may be in any case, as the TypeScript SDK's case-insensitive regex
/// allows, but the digest must be lower-case hex, as the Python SDK requires
/// and as Retell sends it.
pub fn verify(
    signature_header: Option<&str>,
    raw_body: &[u8],
    api_key: &str,
    now_ms: i64,
) -> Result<(), SignatureError> {
    let header = signature_header.ok_or_else(|| SignatureError::missing(SIGNATURE_HEADER))?;
    let (signed_at, digest) = parse_header(header)?;
    check_freshness(signed_at, now_ms)?;
    if same(&digest_of(raw_body, api_key, signed_at), &digest) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The `x-retell-signature` value Retell would send for `raw_body` at `ts_ms`.
/// For tests and the provider simulator.
pub fn sign(raw_body: &[u8], api_key: &str, ts_ms: i64) -> String {
    let digest = digest_of(raw_body, api_key, ts_ms);
    format!("v={ts_ms},d={}", HEXLOWER.encode(&digest))
}

fn digest_of(raw_body: &[u8], api_key: &str, ts_ms: i64) -> Vec<u8> {
    let timestamp = ts_ms.to_string();
    hmac(
        HmacAlgorithm::Sha256,
        api_key.as_bytes(),
        &[raw_body, timestamp.as_bytes()],
    )
}

fn parse_header(header: &str) -> Result<(i64, Vec<u8>), SignatureError> {
    let malformed = |problem| SignatureError::malformed(SIGNATURE_HEADER, problem);
    let (v, d) = header
        .split_once(',')
        .ok_or_else(|| malformed("expected v=<timestamp>,d=<digest>"))?;
    let timestamp =
        strip_label(v, "v=").ok_or_else(|| malformed("expected v=<timestamp> first"))?;
    let digest = strip_label(d, "d=").ok_or_else(|| malformed("expected d=<digest> second"))?;

    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(
            "the timestamp is not a whole number of milliseconds",
        ));
    }
    let signed_at = timestamp
        .parse::<i64>()
        .ok()
        .filter(|t| *t <= MAX_SAFE_INTEGER)
        .ok_or_else(|| malformed("the timestamp is too large"))?;

    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if digest.len() != 64 || !digest.bytes().all(lower_hex) {
        return Err(malformed("the digest is not 64 lower-case hex digits"));
    }
    let digest = HEXLOWER
        .decode(digest.as_bytes())
        .map_err(|_| malformed("the digest is not 64 lower-case hex digits"))?;
    Ok((signed_at, digest))
}

/// `part` without its `label`, the label matched in any case.
fn strip_label<'a>(part: &'a str, label: &str) -> Option<&'a str> {
    let head = part.get(..label.len())?;
    head.eq_ignore_ascii_case(label)
        .then(|| &part[label.len()..])
}

fn check_freshness(signed_at: i64, now_ms: i64) -> Result<(), SignatureError> {
    let skew = now_ms.abs_diff(signed_at);
    if skew <= REPLAY_WINDOW_MS {
        Ok(())
    } else if signed_at < now_ms {
        Err(SignatureError::Stale { age_ms: skew })
    } else {
        Err(SignatureError::FromTheFuture { ahead_ms: skew })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"event":"call_ended"}"#;
    const KEY: &str = "test-api-key";
    const AT: i64 = 1_700_000_000_000;
    const SDK_DIGEST: &str = "07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e";

    fn sdk_header() -> String {
        format!("v={AT},d={SDK_DIGEST}")
    }

    fn malformed(header: &str) -> bool {
        matches!(
            verify(Some(header), BODY, KEY, AT),
            Err(SignatureError::Malformed { .. })
        )
    }

    #[test]
    fn the_sdk_test_vector_verifies_and_signs() {
        assert_eq!(verify(Some(&sdk_header()), BODY, KEY, AT), Ok(()));
        assert_eq!(sign(BODY, KEY, AT), sdk_header());
    }

    #[test]
    fn timestamps_within_the_window_either_way_are_accepted() {
        let header = sdk_header();
        assert_eq!(verify(Some(&header), BODY, KEY, AT + 299_000), Ok(()));
        assert_eq!(verify(Some(&header), BODY, KEY, AT - 299_000), Ok(()));
        assert_eq!(verify(Some(&header), BODY, KEY, AT + 300_000), Ok(()));
    }

    #[test]
    fn an_old_signature_is_stale() {
        assert_eq!(
            verify(Some(&sdk_header()), BODY, KEY, AT + 301_000),
            Err(SignatureError::Stale { age_ms: 301_000 })
        );
    }

    #[test]
    fn a_signature_from_the_future_is_refused() {
        assert_eq!(
            verify(Some(&sdk_header()), BODY, KEY, AT - 301_000),
            Err(SignatureError::FromTheFuture { ahead_ms: 301_000 })
        );
    }

    #[test]
    fn a_missing_header_is_missing() {
        assert_eq!(
            verify(None, BODY, KEY, AT),
            Err(SignatureError::Missing {
                header: SIGNATURE_HEADER.into()
            })
        );
    }

    #[test]
    fn labels_may_be_upper_case() {
        let header = format!("V={AT},D={SDK_DIGEST}");
        assert_eq!(verify(Some(&header), BODY, KEY, AT), Ok(()));
    }

    #[test]
    fn malformed_headers_are_refused() {
        assert!(malformed(&format!("v={AT}")));
        assert!(malformed(&format!("d={SDK_DIGEST}")));
        assert!(malformed(&format!("d={SDK_DIGEST},v={AT}")));
        assert!(malformed(&format!("v=17e11,d={SDK_DIGEST}")));
        assert!(malformed(&format!("v=-{AT},d={SDK_DIGEST}")));
        assert!(malformed(&format!("v=,d={SDK_DIGEST}")));
        assert!(malformed(&format!("v=99999999999999999999,d={SDK_DIGEST}")));
        assert!(malformed(&format!("v={AT},d={}", &SDK_DIGEST[..63])));
        assert!(malformed(&format!("v={AT},d={SDK_DIGEST}0")));
        assert!(malformed(&format!(
            "v={AT},d={}",
            SDK_DIGEST.to_uppercase()
        )));
        assert!(malformed(&format!("v={AT},d={}", "g".repeat(64))));
        assert!(malformed(&format!(" v={AT},d={SDK_DIGEST}")));
        assert!(malformed(""));
    }

    #[test]
    fn a_tampered_body_does_not_match() {
        let tampered = br#"{"event":"call_ended" }"#;
        assert_eq!(
            verify(Some(&sdk_header()), tampered, KEY, AT),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn another_key_does_not_match() {
        assert_eq!(
            verify(Some(&sdk_header()), BODY, "other-key", AT),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn the_timestamp_first_order_does_not_match() {
        let message = [AT.to_string().as_bytes(), BODY].concat();
        let digest = hmac(HmacAlgorithm::Sha256, KEY.as_bytes(), &[&message]);
        let header = format!("v={AT},d={}", HEXLOWER.encode(&digest));
        assert_eq!(
            verify(Some(&header), BODY, KEY, AT),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_empty_body_is_signed_like_any_other() {
        let header = sign(b"", KEY, AT);
        assert_eq!(verify(Some(&header), b"", KEY, AT), Ok(()));
    }
}
