//! What the lab's legacy database means by its values, shared by the lab's plugins: the
//! zone its clocks ran in, how it marks a deleted row, its codes. Lab knowledge lives here,
//! not in the generic `migrate-sdk`.

use migrate_sdk::read::{Bool, Text};
use migrate_sdk::{Fate, Value};

/// The lab's legacy timestamps are wall-clock times in this zone (they carry no zone).
pub const LOCAL_TIME_ZONE: &str = "America/Chicago";

/// A legacy local timestamp as `timestamptz` input text in the lab's zone.
pub fn local_to_timestamptz(local: &str) -> String {
    migrate_sdk::time::local_to_timestamptz(local, LOCAL_TIME_ZONE)
}

/// A legacy timestamp column (NULL stays NULL) as a `timestamptz` value in the lab's zone.
pub fn opt_timestamptz(local: Option<&str>) -> Value {
    migrate_sdk::time::opt_timestamptz(local, LOCAL_TIME_ZONE)
}

/// Skips a row the legacy application deleted with an `is_deleted` flag (NULL is kept):
/// "soft-deleted {what} (is_deleted)".
pub fn skip_if_flagged_deleted(is_deleted: &Bool, what: &str) -> Result<(), Fate> {
    if is_deleted.is_true() {
        return Err(Fate::skip(format!(
            "soft-deleted {what} ({})",
            is_deleted.column()
        )));
    }
    Ok(())
}

/// Skips a row the legacy application deleted by setting a `deleted_at` time:
/// "soft-deleted {what} (deleted_at is set)".
pub fn skip_if_deleted_at(deleted_at: &Text, what: &str) -> Result<(), Fate> {
    if !deleted_at.is_null() {
        return Err(Fate::skip(format!(
            "soft-deleted {what} ({} is set)",
            deleted_at.column()
        )));
    }
    Ok(())
}

/// The read state of a message from the two legacy columns that disagree on some rows:
/// read when marked read or when a read time exists. Returns the flag and, when the legacy
/// flag said unread next to a read time, the raw flag to keep.
pub fn read_state(is_read: Option<bool>, has_read_at: bool) -> (bool, Option<bool>) {
    let read = is_read == Some(true) || has_read_at;
    let kept = (is_read == Some(false) && has_read_at).then_some(false);
    (read, kept)
}

/// Whether `n` is an FDI tooth number: permanent (quadrants 1-4, teeth 1-8) or primary
/// (quadrants 5-8, teeth 1-5).
pub fn is_fdi(n: i64) -> bool {
    let (quadrant, tooth) = (n / 10, n % 10);
    ((1..=4).contains(&quadrant) && (1..=8).contains(&tooth))
        || ((5..=8).contains(&quadrant) && (1..=5).contains(&tooth))
}

/// Legacy case state code (cases.current_state, case_states) -> `case_status` label.
pub fn case_status(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "intake",
        2 => "records",
        3 => "diagnosis",
        4 => "planning",
        5 => "active_treatment",
        6 => "retention",
        7 => "closed",
        8 => "transferred_out",
        _ => return None,
    })
}

/// A three-letter currency code, upper-cased: Ok(None) for blank or NULL, Err(raw text)
/// for anything else.
pub fn currency(raw: Option<&str>) -> Result<Option<String>, String> {
    let Some(text) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if text.len() == 3 && text.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(Some(text.to_ascii_uppercase()))
    } else {
        Err(raw.unwrap_or_default().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::read::Decode;

    #[test]
    fn times_are_in_the_lab_zone() {
        assert_eq!(
            opt_timestamptz(Some("2019-03-07 14:05:00")),
            Value::Timestamptz("2019-03-07 14:05:00 America/Chicago".into())
        );
        assert_eq!(opt_timestamptz(None), Value::Null);
    }

    #[test]
    fn soft_deletes() {
        let flag = |v: Value| Bool::decode("is_deleted", v);
        assert_eq!(
            skip_if_flagged_deleted(&flag(Value::Boolean(true)), "office"),
            Err(Fate::skip("soft-deleted office (is_deleted)"))
        );
        assert_eq!(
            skip_if_flagged_deleted(&flag(Value::Boolean(false)), "office"),
            Ok(())
        );
        assert_eq!(
            skip_if_flagged_deleted(&flag(Value::Null), "office"),
            Ok(())
        );
        let at = |v: Value| Text::decode("deleted_at", v);
        assert_eq!(
            skip_if_deleted_at(
                &at(Value::Timestamp("2020-01-01 00:00:00".into())),
                "doctor"
            ),
            Err(Fate::skip("soft-deleted doctor (deleted_at is set)"))
        );
        assert_eq!(skip_if_deleted_at(&at(Value::Null), "doctor"), Ok(()));
    }

    #[test]
    fn codes() {
        assert_eq!(read_state(Some(false), true), (true, Some(false)));
        assert_eq!(read_state(None, false), (false, None));
        assert!(is_fdi(11) && is_fdi(85) && !is_fdi(19) && !is_fdi(86));
        assert_eq!(case_status(5), Some("active_treatment"));
        assert_eq!(case_status(9), None);
        assert_eq!(currency(Some(" usd ")), Ok(Some("USD".into())));
        assert_eq!(currency(Some("  ")), Ok(None));
        assert_eq!(currency(Some("US$")), Err("US$".into()));
    }
}
