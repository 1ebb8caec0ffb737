//! Legacy dates and times.

/// A local timestamp (legacy `timestamp` columns carry no zone) as `timestamptz` input text
/// in `zone`, an IANA name such as "Europe/Paris": PostgreSQL applies the zone's rules
/// (daylight saving included) when it stores the value. Which zone the legacy clock ran in
/// is the plugin's knowledge, not the SDK's.
pub fn local_to_timestamptz(local: &str, zone: &str) -> String {
    format!("{local} {zone}")
}

/// A date typed by hand into a legacy text column, as ISO `YYYY-MM-DD`.
///
/// Accepts `YYYY-MM-DD`, `MM/DD/YYYY` and `DD.MM.YYYY`; returns None for anything else,
/// including impossible dates such as `0000-00-00` or February 30th.
pub fn parse_loose_date(text: &str) -> Option<String> {
    let t = text.trim();
    let parts = |sep: char| -> Option<Vec<u32>> {
        let p: Vec<&str> = t.split(sep).collect();
        if p.len() != 3
            || p.iter()
                .any(|s| s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        p.iter().map(|s| s.parse().ok()).collect()
    };
    let (y, m, d) = if let Some(p) = parts('-') {
        (p[0], p[1], p[2])
    } else if let Some(p) = parts('/') {
        (p[2], p[0], p[1])
    } else if let Some(p) = parts('.') {
        (p[2], p[1], p[0])
    } else {
        return None;
    };
    if !(1800..=2200).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

/// A legacy timestamp column (NULL stays NULL) as a `timestamptz` value in `zone`, through
/// [`local_to_timestamptz`]. PostgreSQL's special values `infinity` and `-infinity` pass
/// through unchanged (they carry no zone).
pub fn opt_timestamptz(local: Option<&str>, zone: &str) -> crate::Value {
    match local.map(str::trim) {
        None => crate::Value::Null,
        Some(special @ ("infinity" | "-infinity")) => {
            crate::Value::Timestamptz(special.to_string())
        }
        Some(local) => crate::Value::Timestamptz(local_to_timestamptz(local, zone)),
    }
}

/// A local timestamp typed as text (for example inside legacy JSON), checked strictly:
/// `YYYY-MM-DD HH:MM:SS` with optional fraction (1 to 6 digits), a `T` accepted for the
/// space. Returns the canonical text (space separator) or None when it is not a real time,
/// so that PostgreSQL never has to refuse it.
pub fn parse_local_timestamp(text: &str) -> Option<String> {
    let t = text.trim();
    let b = t.as_bytes();
    if !t.is_ascii()
        || b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b' ' | b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let s = &t[range];
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let frac = &t[19..];
    if !frac.is_empty() {
        let digits = frac.strip_prefix('.')?;
        if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    if !(1800..=2200).contains(&y)
        || !(1..=12).contains(&mo)
        || d < 1
        || d > days_in_month(y, mo)
        || h > 23
        || mi > 59
        || s > 59
    {
        return None;
    }
    Some(format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{frac}"))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_dates() {
        assert_eq!(
            parse_loose_date("1985-03-12").as_deref(),
            Some("1985-03-12")
        );
        assert_eq!(
            parse_loose_date("03/12/1985").as_deref(),
            Some("1985-03-12")
        );
        assert_eq!(
            parse_loose_date("12.03.1985").as_deref(),
            Some("1985-03-12")
        );
        assert_eq!(
            parse_loose_date("2000-02-29").as_deref(),
            Some("2000-02-29")
        );
        assert_eq!(parse_loose_date("1900-02-29"), None);
        assert_eq!(parse_loose_date("0000-00-00"), None);
        assert_eq!(parse_loose_date("N/A"), None);
        assert_eq!(parse_loose_date(""), None);
    }

    #[test]
    fn local_timestamps() {
        assert_eq!(
            parse_local_timestamp("2019-03-07 14:05:00").as_deref(),
            Some("2019-03-07 14:05:00")
        );
        assert_eq!(
            parse_local_timestamp("2019-03-07T14:05:00.123").as_deref(),
            Some("2019-03-07 14:05:00.123")
        );
        assert_eq!(
            parse_local_timestamp("2020-02-29 23:59:59").as_deref(),
            Some("2020-02-29 23:59:59")
        );
        for bad in [
            "",
            "2019-03-07",
            "2019-02-30 10:00:00",
            "2019-03-07 24:00:00",
            "2019-03-07 14:05:60",
            "2019-03-07 14:05:00.",
            "2019-03-07 14:05:00.1234567",
            "2019-03-07 14:05:00+02",
            "2019-03-07 14:05:0é",
            "0000-00-00 00:00:00",
            "2019/03/07 14:05:00",
            "2019-03-07 14:5:00",
            "2019-03-07 14:05:0x",
        ] {
            assert_eq!(parse_local_timestamp(bad), None, "accepted {bad:?}");
        }
    }

    #[test]
    fn timestamptz_values() {
        use crate::Value;
        let zone = "Europe/Paris";
        assert_eq!(opt_timestamptz(None, zone), Value::Null);
        assert_eq!(
            opt_timestamptz(Some("2019-03-07 14:05:00"), zone),
            Value::Timestamptz("2019-03-07 14:05:00 Europe/Paris".into())
        );
        assert_eq!(
            opt_timestamptz(Some("infinity"), zone),
            Value::Timestamptz("infinity".into())
        );
    }
}
