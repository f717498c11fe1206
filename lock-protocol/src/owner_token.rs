//! Owner tokens: who holds a lock.

/// A fresh unguessable owner token: 128 random bits from the OS, as 32 lowercase hex digits.
///
/// ```
/// assert_eq!(lock_protocol::new_owner_token().len(), 32);
/// ```
///
/// lock-fn makes one when a request has none; the client makes one before its first invoke so that
/// every retry of that acquire carries the same owner (and so can never become a second grant).
pub fn new_owner_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_128_bit_hex() {
        let a = new_owner_token();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, new_owner_token());
    }
}
