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
        mean_ms: if ms.is_empty() {
            f64::NAN
        } else {
            ms.iter().sum::<f64>() / ms.len() as f64
        },
    }
}
