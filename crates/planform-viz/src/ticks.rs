//! Tick marks and labels for the plots' logarithmic axes.
//!
//! The rule ([`log_ticks`]), for an axis over `[lo, hi]` with `0 < lo < hi`:
//! take the coarsest of these tick sets that puts **at least 3 ticks** inside
//! the range —
//!
//! 1. powers of ten `1·10^k` (thinned to every n-th decade so that at most 8
//!    remain, when the range spans many decades);
//! 2. mantissas 1, 2, 5 (`1, 2, 5, 10, 20, 50, …`);
//! 3. mantissas 1 to 9 (`1, 2, 3, …, 9, 10, 20, …`);
//! 4. when even that gives fewer than 3 (the range spans less than a factor
//!    of about 2, e.g. a loss between 2.66 and 3.1), evenly spaced linear
//!    ticks with a 1-2-5 step, 3 to 11 of them.
//!
//! Labels ([`tick_labels`]) use the fewest significant digits that tell every
//! two neighbouring ticks apart (`2.6, 2.8, 3, 3.2` rather than `3, 3, 3, 3`).
//! So a plotted log axis always shows at least three readable labels.

/// The tick values of a logarithmic axis over `[lo, hi]` (see the module
/// rule), ascending. Empty when the range is not positive and finite; when
/// `hi / lo ≥ 1 + 1e-9` there are always at least 3 ticks.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    if !(lo > 0.0 && hi.is_finite()) {
        return Vec::new();
    }
    for mantissas in [
        &[1.0][..],
        &[1.0, 2.0, 5.0],
        &[1., 2., 3., 4., 5., 6., 7., 8., 9.],
    ] {
        let mut v = mantissa_ticks(lo, hi, mantissas);
        if v.len() >= 3 {
            if mantissas.len() == 1 && v.len() > 8 {
                let every = v.len().div_ceil(8);
                v = v.into_iter().step_by(every).collect();
            }
            return v;
        }
    }
    linear_ticks(lo, hi)
}

/// `m·10^k` for every mantissa `m` and decade `k` with the value in `[lo, hi]`.
fn mantissa_ticks(lo: f64, hi: f64, mantissas: &[f64]) -> Vec<f64> {
    let (k0, k1) = (lo.log10().floor() as i32 - 1, hi.log10().ceil() as i32 + 1);
    let mut out = Vec::new();
    for k in k0..=k1 {
        let p = 10f64.powi(k);
        for m in mantissas {
            let v = m * p;
            // Tolerate the rounding of m·10^k at the range ends.
            if v >= lo * (1.0 - 1e-12) && v <= hi * (1.0 + 1e-12) {
                out.push(v);
            }
        }
    }
    out
}

/// Multiples of the largest 1-2-5 step not above a quarter of the range
/// (hence 4 to 11 ticks), or the ends and the middle when rounding defeats that.
fn linear_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let quarter = (hi - lo) / 4.0;
    if quarter <= 0.0 || !quarter.is_finite() {
        return vec![lo];
    }
    let e = 10f64.powf(quarter.log10().floor());
    let step = [5.0, 2.0, 1.0]
        .iter()
        .map(|m| m * e)
        .find(|s| *s <= quarter)
        .unwrap_or(e);
    // (The tolerance keeps ends that are multiples up to rounding, like 2.9 = 58 · 0.05.)
    let (k0, k1) = (
        (lo / step - 1e-9).ceil() as i64,
        (hi / step + 1e-9).floor() as i64,
    );
    let mut out: Vec<f64> = (k0..=k1).map(|k| k as f64 * step).collect();
    out.dedup();
    if out.len() < 3 {
        let mid = lo + (hi - lo) / 2.0;
        out = vec![lo, mid, hi];
        out.dedup();
    }
    out
}

/// `v` with `sig` significant digits, trailing zeros dropped; scientific
/// notation below 1e-3 and from 1e6 on.
pub fn fmt_sig(v: f64, sig: usize) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let sig = sig.clamp(1, 17);
    let a = v.abs();
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if !(1e-3..1e6).contains(&a) {
        let s = format!("{v:.*e}", sig - 1);
        return match s.split_once('e') {
            Some((m, e)) => format!("{}e{e}", trim(m.to_string())),
            None => s,
        };
    }
    let decimals = (sig as i32 - 1 - a.log10().floor() as i32).clamp(0, 17) as usize;
    trim(format!("{v:.decimals$}"))
}

/// Labels for ascending `ticks`: the fewest significant digits (at most 17)
/// that make neighbouring labels differ.
pub fn tick_labels(ticks: &[f64]) -> Vec<String> {
    let mut labels = Vec::new();
    for sig in 1..=17 {
        labels = ticks.iter().map(|&t| fmt_sig(t, sig)).collect();
        if labels.windows(2).all(|w| w[0] != w[1]) {
            break;
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_range_gets_labels() {
        // Loss 2.66–4.92, padded by 1.2 as the plot does.
        let t = log_ticks(2.66 / 1.2, 4.92 * 1.2);
        assert_eq!(t, vec![3.0, 4.0, 5.0]);
        assert_eq!(tick_labels(&t), vec!["3", "4", "5"]);
        assert_eq!(log_ticks(0.01, 100.0), vec![0.01, 0.1, 1.0, 10.0, 100.0]);
        assert_eq!(log_ticks(0.3, 4.0), vec![0.5, 1.0, 2.0]);
        assert_eq!(
            tick_labels(&log_ticks(2.66, 2.9)),
            vec!["2.7", "2.75", "2.8", "2.85", "2.9"]
        );
        assert_eq!(log_ticks(1e-30, 1.0).len(), 8);
        assert!(log_ticks(0.0, 1.0).is_empty() && log_ticks(1.0, f64::NAN).is_empty());
    }

    #[test]
    fn labels_and_numbers() {
        assert_eq!(fmt_sig(0.00001234, 3), "1.23e-5");
        assert_eq!(fmt_sig(2e6, 2), "2e6");
        assert_eq!(fmt_sig(-0.25, 4), "-0.25");
        assert_eq!(
            tick_labels(&[2.6, 2.8, 3.0, 3.2]),
            vec!["2.6", "2.8", "3", "3.2"]
        );
    }
}
