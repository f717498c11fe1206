//! Error messages that keep their causes (SDK errors hide the useful part in `source()`).

/// `err` followed by each of its sources, joined with `": "`.
///
/// ```
/// let io = std::io::Error::other("connection refused");
/// assert_eq!(lock_protocol::error_chain::error_chain(&io), "connection refused");
/// ```
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}
