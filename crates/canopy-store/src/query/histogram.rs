//! Histograms for the session metrics: 10 equal-width buckets after cutting outliers.
//!
//! Values above a chosen percentile (nearest rank) are cut (`p75` keeps the lowest 75 %), or,
//! with the interquartile option, only values between the first and third quartile
//! (interpolated) are kept. Averages
//! are taken over every value, before any cut, so they stay the true mean.

use serde::{Deserialize, Serialize};

/// How many buckets a histogram has.
pub const BUCKETS: usize = 10;

/// How outliers are cut before bucketing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cut {
    /// Keep values at or below this percentile (0–100).
    Percentile(f64),
    /// Keep values between the first and third quartile.
    Interquartile,
}

/// One bucket: `[range_start, range_end)`, the last one closed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Lower bound.
    pub range_start: f64,
    /// Upper bound.
    pub range_end: f64,
    /// How many values fell in it.
    pub value: u64,
}

/// The value at percentile `p` (0–100) of sorted `values`, by linear interpolation.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = (p.clamp(0.0, 100.0) / 100.0) * last as f64;
    let low = rank.floor() as usize;
    let high = rank.ceil() as usize;
    let weight = rank - low as f64;
    Some(sorted[low] + (sorted[high] - sorted[low]) * weight)
}

/// The nearest-rank percentile: the smallest value with at least `p` % of `sorted` at or below
/// it. Used for the outlier cut, so the cut always falls on a real value.
pub fn nearest_rank(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

/// The mean of `values`, or 0 when there are none.
pub fn average(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// Cuts outliers from `values` and counts the rest into [`BUCKETS`] equal-width buckets.
/// No values give no buckets; values all equal give one bucket holding them all.
pub fn histogram(values: &[f64], cut: Cut) -> Vec<Bucket> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let (low, high) = match cut {
        Cut::Percentile(p) => (sorted.first().copied(), nearest_rank(&sorted, p)),
        Cut::Interquartile => (percentile(&sorted, 25.0), percentile(&sorted, 75.0)),
    };
    let (Some(low), Some(high)) = (low, high) else {
        return Vec::new();
    };
    let kept: Vec<f64> = sorted
        .into_iter()
        .filter(|v| *v >= low && *v <= high)
        .collect();
    if kept.is_empty() {
        return Vec::new();
    }
    if high <= low {
        return vec![Bucket {
            range_start: low,
            range_end: high,
            value: kept.len() as u64,
        }];
    }
    let width = (high - low) / BUCKETS as f64;
    let mut buckets: Vec<Bucket> = (0..BUCKETS)
        .map(|i| Bucket {
            range_start: low + width * i as f64,
            range_end: if i + 1 == BUCKETS {
                high
            } else {
                low + width * (i + 1) as f64
            },
            value: 0,
        })
        .collect();
    for v in kept {
        let index = (((v - low) / width) as usize).min(BUCKETS - 1);
        buckets[index].value += 1;
    }
    buckets
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn percentiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 50.0), Some(2.5));
        assert_eq!(percentile(&v, 100.0), Some(4.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn a_percentile_cut_drops_the_outliers() {
        let mut values: Vec<f64> = (1..=99).map(f64::from).collect();
        values.push(1_000_000.0);
        let buckets = histogram(&values, Cut::Percentile(99.0));
        assert_eq!(buckets.len(), BUCKETS);
        assert_eq!(buckets.iter().map(|b| b.value).sum::<u64>(), 99);
        assert!(buckets.last().unwrap().range_end < 1_000.0);
        assert_eq!(average(&values), (4950.0 + 1_000_000.0) / 100.0);
    }

    #[test]
    fn interquartile_keeps_the_middle_half() {
        let values: Vec<f64> = (0..100).map(f64::from).collect();
        let buckets = histogram(&values, Cut::Interquartile);
        let kept: u64 = buckets.iter().map(|b| b.value).sum();
        assert_eq!(kept, 50);
        assert_eq!(buckets[0].range_start, 24.75);
    }

    #[test]
    fn equal_values_make_one_bucket() {
        assert_eq!(
            histogram(&[3.0, 3.0], Cut::Percentile(90.0)),
            [Bucket {
                range_start: 3.0,
                range_end: 3.0,
                value: 2
            }]
        );
        assert!(histogram(&[], Cut::Interquartile).is_empty());
    }

    proptest! {
        #[test]
        fn no_kept_value_is_lost(values in proptest::collection::vec(0u32..10_000, 1..200)) {
            let values: Vec<f64> = values.into_iter().map(f64::from).collect();
            let buckets = histogram(&values, Cut::Percentile(100.0));
            prop_assert_eq!(buckets.iter().map(|b| b.value).sum::<u64>(), values.len() as u64);
            for pair in buckets.windows(2) {
                prop_assert!(pair[0].range_end <= pair[1].range_start + 1e-9);
            }
        }
    }
}
