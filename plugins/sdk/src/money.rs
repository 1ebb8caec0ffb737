//! Exact money: decimal text in, decimal text out, never a float.

use crate::Fate;

/// Integer cents (the legacy way of storing some amounts) as decimal text: -1234 -> "-12.34".
pub fn cents_to_decimal(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Canonical two-decimal text for a legacy decimal amount, exact to the cent.
///
/// Rejects text that is not a plain decimal number, and amounts with a non-zero digit
/// below the cent: rounding would change money, so an operator must decide.
pub fn to_cents(text: &str, column: &str) -> Result<String, Fate> {
    let bad = || Fate::reject(format!("{column}={text:?} is not a decimal amount"));
    let t = text.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if frac.len() > 2 && frac[2..].bytes().any(|b| b != b'0') {
        return Err(Fate::reject(format!(
            "{column}={t} has more than 2 decimals; rounding would change the amount"
        )));
    }
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let mut cents = frac.chars().take(2).collect::<String>();
    while cents.len() < 2 {
        cents.push('0');
    }
    let zero = whole == "0" && cents == "00";
    let sign = if negative && !zero { "-" } else { "" };
    Ok(format!("{sign}{whole}.{cents}"))
}

/// Whether canonical decimal text is negative.
pub fn is_negative(decimal: &str) -> bool {
    decimal.starts_with('-')
}

/// Whether canonical decimal text fits `numeric(precision, scale)`: at most
/// `precision - scale` digits before the point (PostgreSQL refuses more).
pub fn fits(decimal: &str, precision: usize, scale: usize) -> bool {
    let digits = decimal.trim_start_matches(['-', '+']);
    let whole = digits
        .split_once('.')
        .map_or(digits, |(w, _)| w)
        .trim_start_matches('0');
    whole.len() <= precision.saturating_sub(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents() {
        assert_eq!(cents_to_decimal(0), "0.00");
        assert_eq!(cents_to_decimal(-1234), "-12.34");
        assert_eq!(cents_to_decimal(5), "0.05");
        assert_eq!(cents_to_decimal(i64::MIN), "-92233720368547758.08");
    }

    #[test]
    fn exact_amounts() {
        assert_eq!(to_cents("12.5", "a").unwrap(), "12.50");
        assert_eq!(to_cents("0012.5000", "a").unwrap(), "12.50");
        assert_eq!(to_cents("-0.00", "a").unwrap(), "0.00");
        assert_eq!(to_cents("-3", "a").unwrap(), "-3.00");
        assert!(to_cents("12.345", "a").is_err());
        assert!(to_cents("1e3", "a").is_err());
        assert!(to_cents("NaN", "a").is_err());
        assert!(to_cents("", "a").is_err());
    }

    #[test]
    fn precision() {
        assert!(fits("9999999999.99", 12, 2));
        assert!(fits("-9999999999.99", 12, 2));
        assert!(fits("0.00", 12, 2));
        assert!(!fits("10000000000.00", 12, 2));
    }
}
