//! Owner tokens: generated when a caller does not bring one, and redacted whenever logged.

/// A fresh unguessable owner token: 128 random bits from the OS, as 32 hex digits.
pub fn generate_owner() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A log-safe form of an owner: a short prefix and the length, never the whole token.
pub fn redact(owner: &str) -> String {
    let keep = (owner.chars().count() / 4).min(6);
    let prefix: String = owner.chars().take(keep).collect();
    format!("{prefix}…({} bytes)", owner.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_owners_are_distinct_128_bit_hex() {
        let a = generate_owner();
        let b = generate_owner();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn redaction_never_shows_the_whole_token() {
        for owner in [
            "a",
            "abcd",
            "0123456789abcdef0123456789abcdef",
            "arn:aws:states:eu-west-1:1:execution:sm:run-1",
        ] {
            let r = redact(owner);
            assert!(!r.contains(owner), "{r} shows {owner}");
        }
        assert!(redact("0123456789abcdef0123456789abcdef").starts_with("012345…"));
    }
}
