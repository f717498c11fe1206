//! Percentiles and summaries.

use serde::Serialize;
use std::time::Duration;

/// p50/p99/mean of a sample, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Summary {
    pub n: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// The `q` quantile (0..=1) of sorted millisecond values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx]
}

/// Summarises durations.
pub fn summarize(samples: &[Duration]) -> Summary {
    summarize_ms(samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect())
}

/// Summarises millisecond values.
pub fn summarize_ms(mut ms: Vec<f64>) -> Summary {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Summary {
        n: ms.len(),
        p50_ms: quantile(&ms, 0.5),
        p90_ms: quantile(&ms, 0.9),
        p99_ms: quantile(&ms, 0.99),
        max_ms: ms.last().copied().unwrap_or(f64::NAN),
        mean_ms: if ms.is_empty() {
            f64::NAN
        } else {
            ms.iter().sum::<f64>() / ms.len() as f64
        },
    }
}

/// The idle time between consecutive grants of a mutex that a live waiter could have filled.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct GapSummary {
    /// Consecutive grant pairs.
    pub n: usize,
    /// The largest fillable gap, its 99th and 50th percentiles, ms.
    pub max_ms: f64,
    pub p99_ms: f64,
    pub p50_ms: f64,
    /// Fillable gaps above 100 ms.
    pub over_100ms: usize,
    /// The largest gap between consecutive grants whether or not anyone waited, ms.
    pub max_any_ms: f64,
}

/// Gaps above this are what "no grant gap above 100 ms" counts.
pub const GAP_LIMIT_MS: f64 = 100.0;

/// For consecutive grants of one mutex (`spans`: start and end on one clock, ms, any order), the
/// part of each gap - from one grant's end to the next one's start - during which some caller was
/// waiting: `waits` holds every wait as (began, granted; infinity when it never was). A caller
/// waiting when the next grant began had been waiting since the earliest such `began`; so the
/// fillable part is from the later of the previous end and that time, to the next start.
pub fn fillable_gaps(spans: &[(f64, f64)], waits: &[(f64, f64)]) -> GapSummary {
    let mut spans = spans.to_vec();
    spans.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    let mut fillable = Vec::new();
    let mut max_any = 0f64;
    for pair in spans.windows(2) {
        let (ended, next) = (pair[0].1, pair[1].0);
        max_any = max_any.max(next - ended);
        let waiting_since = waits
            .iter()
            .filter(|(began, granted)| *began < next && *granted >= next)
            .map(|(began, _)| *began)
            .fold(f64::INFINITY, f64::min);
        fillable.push((next - ended.max(waiting_since)).max(0.0));
    }
    let over = fillable.iter().filter(|g| **g > GAP_LIMIT_MS).count();
    let s = summarize_ms(fillable.clone());
    GapSummary {
        n: fillable.len(),
        max_ms: fillable.iter().copied().fold(0.0, f64::max),
        p99_ms: if fillable.is_empty() { 0.0 } else { s.p99_ms },
        p50_ms: if fillable.is_empty() { 0.0 } else { s.p50_ms },
        over_100ms: over,
        max_any_ms: max_any.max(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_counts_only_while_someone_waits() {
        // Grants [0,10), [50,60), [300,310); a waiter from 20 (granted at 50), one from 200
        // (granted at 300): the first gap is fillable from 20 (30 ms), the second from 200 (100 ms).
        let spans = [(300.0, 310.0), (0.0, 10.0), (50.0, 60.0)];
        let waits = [(20.0, 50.0), (200.0, 300.0)];
        let g = fillable_gaps(&spans, &waits);
        assert_eq!(
            (g.n, g.max_ms, g.over_100ms, g.max_any_ms),
            (2, 100.0, 0, 240.0)
        );
        // A waiter that never got the lock, waiting from 5, makes both gaps fillable in full.
        let g = fillable_gaps(
            &spans,
            &[(20.0, 50.0), (200.0, 300.0), (5.0, f64::INFINITY)],
        );
        assert_eq!((g.max_ms, g.over_100ms), (240.0, 1));
        // A handoff (the next grant starts where the last ended) is no gap.
        assert_eq!(
            fillable_gaps(&[(0.0, 10.0), (10.0, 20.0)], &[(0.0, 10.0)]).max_ms,
            0.0
        );
    }
}
