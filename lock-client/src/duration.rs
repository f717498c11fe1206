//! Human durations for `DLM_DURATION` and the CLI: `500ms`, `10s`, `2m`, `1h 30m`; a bare number is
//! seconds (as dynamo-dlm's `duration`).

use std::time::Duration;

/// What a duration looks like, for error messages.
pub const DURATION_FORMAT: &str =
    "a duration such as 500ms, 10s, 2m or 1h30m (a bare number is seconds)";

/// Parses a human duration: one or more `<whole number><unit>` parts (`ms`, `s`, `m`, `h`), with
/// optional spaces; a bare whole number is seconds.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(lock_client::parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(lock_client::parse_duration("10"), Ok(Duration::from_secs(10)));
/// assert!(lock_client::parse_duration("-5s").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    let bad = || format!("{text:?} is not {DURATION_FORMAT}");
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit_ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(bad()),
        };
        total += Duration::from_millis(value.checked_mul(unit_ms).ok_or_else(bad)?);
        rest = rest[unit_len..].trim_start();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_the_cli_documents() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration(" 1m 30s "), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "soon", "abc", "-5s", "5x", "s", "1.5s", "5 s"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("500ms, 10s"), "{bad}: {err}");
        }
    }
}
