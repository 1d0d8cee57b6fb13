//! Number formatting of the markdown reports.

/// `1234567.8` → `1,234,568`; values under 100 keep one decimal.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    if x < 100.0 {
        return format!("{x:.1}");
    }
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `a / b` as `×123`, or `–`.
pub fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 && a.is_finite() => format!("×{}", num(a / b)),
        _ => "–".into(),
    }
}

/// `a / b` as `×1.23` (two decimals under 10, else as [`ratio`]), or `–`.
pub fn factor(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 && a.is_finite() && a / b < 10.0 => format!("×{:.2}", a / b),
        _ => ratio(a, b),
    }
}

/// A count with thousands separators.
pub fn int(x: u64) -> String {
    if x < 100 {
        x.to_string()
    } else {
        num(x as f64)
    }
}

/// [`num`] of an optional value, `–` when absent.
pub fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), num)
}

/// `0.123` → `12.3%`.
pub fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_ratios_formatted() {
        assert_eq!(num(1_234_567.4), "1,234,567");
        assert_eq!(num(100.0), "100");
        assert_eq!(num(999_999.6), "1,000,000");
        assert_eq!(num(15.04), "15.0");
        assert_eq!(num(f64::NAN), "–");
        assert_eq!(ratio(3_000.0, Some(10.0)), "×300");
        assert_eq!(ratio(1.0, None), "–");
        assert_eq!(ratio(1.0, Some(0.0)), "–");
        assert_eq!(factor(1.234, Some(1.0)), "×1.23");
        assert_eq!(factor(300.0, Some(1.0)), "×300");
        assert_eq!(int(59), "59");
        assert_eq!(int(12_345), "12,345");
        assert_eq!(opt(None), "–");
        assert_eq!(pct(0.0784), "7.8%");
    }
}
