//! Reading the headers that decide whether a body is (de)compressed.

use http::{
    HeaderMap,
    header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING},
};

use super::Codecs;

/// A compression codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Codec {
    /// `gzip`.
    Gzip,
    /// `br`.
    Brotli,
    /// `zstd`.
    Zstd,
}

/// The codec a response to a request with `headers` is compressed with, out of `offered`, or
/// `None` when the client accepts none of them (or prefers `identity`).
///
/// This is tower-http's negotiation, reproduced so that the layer knows before calling it
/// whether it would compress: the highest `q` wins, ties go to the better codec
/// (zstd, then br, then gzip, then identity), `*` stands for every coding not listed, and a
/// `q` that does not parse drops its entry.
pub(super) fn negotiate(headers: &HeaderMap, offered: Codecs) -> Option<Codec> {
    // q-values in thousandths, per coding: identity, gzip, br, zstd.
    let mut listed: [Option<u16>; 4] = [None; 4];
    let mut wildcard: Option<u16> = None;
    let entries = headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for entry in entries {
        let (coding, q) = match entry.split_once(';') {
            Some((coding, q)) => (coding.trim(), parse_q(q.trim())),
            None => (entry.trim(), Some(1000)),
        };
        let Some(q) = q else { continue };
        let slot = if coding == "*" {
            &mut wildcard
        } else if coding.eq_ignore_ascii_case("identity") {
            &mut listed[0]
        } else if offered.gzip
            && (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip"))
        {
            &mut listed[1]
        } else if offered.brotli && coding.eq_ignore_ascii_case("br") {
            &mut listed[2]
        } else if offered.zstd && coding.eq_ignore_ascii_case("zstd") {
            &mut listed[3]
        } else {
            continue;
        };
        slot.get_or_insert(q);
    }
    let candidates = [
        (None, true),
        (Some(Codec::Gzip), offered.gzip),
        (Some(Codec::Brotli), offered.brotli),
        (Some(Codec::Zstd), offered.zstd),
    ];
    candidates
        .iter()
        .zip(listed)
        .filter(|((_, on), _)| *on)
        .filter_map(|((codec, _), q)| Some((q.or(wildcard)?, *codec)))
        .filter(|(q, _)| *q > 0)
        .max()
        .and_then(|(_, codec)| codec)
}

/// An RFC 9110 `q=` weight in thousandths (`q=0.5` is 500); `None` when malformed.
fn parse_q(text: &str) -> Option<u16> {
    let value = text
        .strip_prefix("q=")
        .or_else(|| text.strip_prefix("Q="))?;
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let whole: u16 = match whole {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = 0u16;
    for (digit, scale) in fraction.bytes().zip([100, 10, 1]) {
        thousandths += u16::from(digit - b'0') * scale;
    }
    let q = whole + thousandths;
    (q <= 1000).then_some(q)
}

/// Whether `Cache-Control` says `no-transform`: such a message is never (de)compressed.
pub(super) fn has_no_transform(headers: &HeaderMap) -> bool {
    headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|directive| directive.trim().eq_ignore_ascii_case("no-transform"))
}

/// Whether a request body with these headers is decompressed: its `Content-Encoding` is
/// exactly one of `codecs` (`gzip`, `br`, `zstd`, as tower-http matches it) and
/// `Cache-Control` does not say `no-transform`.
pub(super) fn decompresses(headers: &HeaderMap, codecs: Codecs) -> bool {
    let coded = match headers.get(CONTENT_ENCODING).map(|value| value.as_bytes()) {
        Some(b"gzip") => codecs.gzip,
        Some(b"br") => codecs.brotli,
        Some(b"zstd") => codecs.zstd,
        _ => false,
    };
    coded && !has_no_transform(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn accept(value: &'static str, offered: Codecs) -> Option<Codec> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static(value));
        negotiate(&headers, offered)
    }

    #[test]
    fn negotiation_follows_q_values_then_codec_preference() {
        let all = Codecs::ALL;
        let gzip = Codecs::default();
        assert_eq!(negotiate(&HeaderMap::new(), all), None);
        assert_eq!(accept("gzip", gzip), Some(Codec::Gzip));
        assert_eq!(accept("x-gzip", gzip), Some(Codec::Gzip));
        assert_eq!(accept("br", gzip), None);
        assert_eq!(accept("gzip, br, zstd", all), Some(Codec::Zstd));
        assert_eq!(accept("gzip, br;q=0.9, zstd;q=0.8", all), Some(Codec::Gzip));
        assert_eq!(accept("gzip;q=0", gzip), None);
        assert_eq!(accept("identity, gzip;q=0.5", gzip), None);
        assert_eq!(accept("identity;q=0.5, gzip", gzip), Some(Codec::Gzip));
        assert_eq!(accept("*", gzip), Some(Codec::Gzip));
        assert_eq!(accept("*;q=0, br", all), Some(Codec::Brotli));
        assert_eq!(accept("gzip;q=0, *", all), Some(Codec::Zstd));
        assert_eq!(accept("identity;q=0", gzip), None);
        // A malformed weight drops the entry.
        assert_eq!(accept("gzip;q=2", gzip), None);
        assert_eq!(accept("gzip;level=1", gzip), None);
    }

    #[test]
    fn q_values_parse_as_rfc_9110_writes_them() {
        assert_eq!(parse_q("q=1"), Some(1000));
        assert_eq!(parse_q("Q=0.5"), Some(500));
        assert_eq!(parse_q("q=0.123"), Some(123));
        assert_eq!(parse_q("q=1.000"), Some(1000));
        for bad in ["q=1.001", "q=0.1234", "q=2", "q=.5", "q=0.x", "0.5", "q="] {
            assert_eq!(parse_q(bad), None, "{bad}");
        }
    }

    #[test]
    fn no_transform_is_found_among_directives() {
        let mut headers = HeaderMap::new();
        assert!(!has_no_transform(&headers));
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("max-age=60, No-Transform"),
        );
        assert!(has_no_transform(&headers));
    }
}
