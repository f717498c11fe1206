//! What the simulated clients did and were told, in true time.

/// One entry of a run's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A client acted as a holder of `resource` from `from_ms` to `until_ms` (true time): from the
    /// grant's answer until it released or its own lease deadline passed, whichever came first.
    Held {
        /// The client.
        client: usize,
        /// The resource.
        resource: String,
        /// The grant's fence.
        fence: u64,
        /// When it started acting.
        from_ms: u64,
        /// When it stopped.
        until_ms: u64,
        /// A dynamo-dlm 1.0 peer (no fence).
        peer: bool,
    },
    /// An answer a client received (every one, errors included), as JSON.
    Answer {
        /// The client.
        client: usize,
        /// The owner token it used (`None`: owner-less).
        owner: Option<String>,
        /// The op.
        op: &'static str,
        /// The resource.
        resource: String,
        /// When it was sent.
        sent_ms: u64,
        /// When it came back.
        at_ms: u64,
        /// The answer.
        json: String,
        /// The request, as JSON (`{}`: no invoke).
        request: String,
        /// The invocation that answered (see the table log's `invocation`; `None`: no invoke).
        invocation: Option<u64>,
        /// Whether lock-fn gave this answer (`false`: the simulation cut it - the caller stopped
        /// waiting, the instance was killed, the answer was lost).
        from_fn: bool,
    },
    /// A resource was probed after the calm phase: `granted` tells whether a try took it.
    Probe {
        /// The resource.
        resource: String,
        /// When.
        at_ms: u64,
        /// Whether it was taken.
        granted: bool,
        /// The answer.
        json: String,
    },
}
