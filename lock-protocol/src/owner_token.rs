//! Owner tokens (who holds a lock, and the credential to release or renew it) and their public
//! digest (what the lock item stores and what `describe` shows instead of the token).

use sha2::{Digest, Sha256};

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
    hex(&bytes)
}

/// The public form of an owner token: the first 128 bits of its SHA-256, as 32 lowercase hex
/// digits. The lock item stores this (never the token), `describe` shows it, and a caller can
/// compute it to recognise its own lock. Knowing a digest does not let anyone release, renew or
/// re-acquire: those need the token itself.
///
/// ```
/// let d = lock_protocol::owner_digest("arn:aws:states:eu-west-1:1:execution:sm:run-1");
/// assert_eq!(d.len(), 32);
/// assert_ne!(d, lock_protocol::owner_digest("arn:aws:states:eu-west-1:1:execution:sm:run-2"));
/// ```
pub fn owner_digest(owner: &str) -> String {
    let hash = Sha256::digest(owner.as_bytes());
    hex(&hash[..16])
}

fn hex(bytes: &[u8]) -> String {
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

    #[test]
    fn digests_are_sha256_prefixes() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(owner_digest("abc"), "ba7816bf8f01cfea414140de5dae2223");
        assert_ne!(owner_digest("abc"), owner_digest("abd"));
        assert_ne!(owner_digest(&owner_digest("abc")), owner_digest("abc"));
    }
}
