//! Gateway API durations (GEP-2257): `1h`, `30s`, `1m30s`, `500ms`; up to four
//! `<number><unit>` parts, units `h`, `m`, `s`, `ms`, no fractions, no sign.

use std::time::Duration;

/// Parses a GEP-2257 duration, or explains why it is not one.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not a Gateway API duration (e.g. 1h, 30s, 1m30s, 500ms)");
    if text.is_empty() {
        return Err(invalid());
    }
    let bytes = text.as_bytes();
    let mut total = Duration::ZERO;
    let mut parts = 0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &text[start..i];
        if digits.is_empty() || digits.len() > 5 {
            return Err(invalid());
        }
        let value: u64 = digits.parse().map_err(|_| invalid())?;
        let unit = if text[i..].starts_with("ms") {
            i += 2;
            Duration::from_millis(value)
        } else {
            let unit = match bytes.get(i) {
                Some(b'h') => Duration::from_secs(value * 3600),
                Some(b'm') => Duration::from_secs(value * 60),
                Some(b's') => Duration::from_secs(value),
                _ => return Err(invalid()),
            };
            i += 1;
            unit
        };
        total += unit;
        parts += 1;
        if parts > 4 {
            return Err(invalid());
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_gep_2257_forms() {
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(
            parse_duration("1h2m3s4ms").unwrap(),
            Duration::from_millis(3_723_004)
        );
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_what_gep_2257_forbids() {
        for bad in [
            "",
            "1",
            "1.5s",
            "-1s",
            "1d",
            "s",
            "123456s",
            "1h1h1h1h1h",
            "1 s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} should be rejected");
        }
    }
}
