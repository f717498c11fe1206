//! Owner tokens in logs: redacted, never shown whole. (Tokens are made by
//! [`lock_protocol::new_owner_token`].)

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
