//! What the engine takes from the world around it: the time and fresh random tokens. A Lambda
//! reads the wall clock and the OS random source; the simulator gives each instance a clock of its
//! own (simulated time plus a skew) and tokens from the seeded generator, so that a seed replays
//! exactly.

pub(crate) mod backoff;
pub mod clock;
pub mod metrics;

/// The source of time and fresh tokens.
#[derive(Debug, Clone, Default)]
pub enum World {
    /// The wall clock and the OS random source.
    #[default]
    Real,
    /// Simulated time (tokio's paused clock, from `start`, read as `epoch_ms` then) shifted by
    /// `skew_ms`, and tokens from the thread's seeded generator.
    Simulated {
        /// The epoch time simulated time starts at.
        epoch_ms: u64,
        /// The tokio instant that time is.
        start: tokio::time::Instant,
        /// This instance's clock error.
        skew_ms: i64,
    },
}

impl World {
    /// Now, epoch milliseconds.
    pub fn now_ms(&self) -> u64 {
        match self {
            World::Real => crate::world::clock::now_ms(),
            World::Simulated {
                epoch_ms,
                start,
                skew_ms,
            } => {
                let since = start.elapsed().as_millis() as u64;
                epoch_ms
                    .saturating_add(since)
                    .saturating_add_signed(*skew_ms)
            }
        }
    }

    /// A fresh 128-bit token (owner tokens, nonces): from the OS random source, or seeded in
    /// simulation.
    pub fn fresh_token(&self) -> String {
        match self {
            World::Real => lock_protocol::new_owner_token(),
            World::Simulated { .. } => {
                format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
            }
        }
    }
}
