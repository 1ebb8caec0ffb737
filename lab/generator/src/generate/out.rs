//! COPY text-format output: rows written field by field into a byte buffer, handed on in chunks
//! of about 1 MB.

use bytes::Bytes;
use std::fmt;

/// What the generator hands to the loader, in order: `Begin` a table, its `Chunk`s, `End`.
#[derive(Debug)]
pub enum Msg {
    Begin {
        table: &'static str,
        columns: &'static [&'static str],
    },
    Chunk(Bytes),
    End {
        table: &'static str,
        rows: u64,
    },
}

/// Size of the chunks handed to `COPY ... FROM STDIN`.
pub const CHUNK_BYTES: usize = 1 << 20;

pub type Emit<'a> = dyn FnMut(Msg) -> anyhow::Result<()> + 'a;

/// Seconds since 2015-01-01 00:00:00 (the generator's fixed base date, lab local time).
pub type Secs = i64;

/// Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm).
pub const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day count since 1970-01-01.
pub const fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const BASE_DAYS: i64 = days_from_civil(2015, 1, 1);

/// Seconds since the base of midnight on a civil date.
pub const fn at(y: i64, m: i64, d: i64) -> Secs {
    (days_from_civil(y, m, d) - BASE_DAYS) * 86_400
}

/// (year, month, day) of a generator timestamp.
pub fn date_of(t: Secs) -> (i64, u32, u32) {
    civil_from_days(BASE_DAYS + t.div_euclid(86_400))
}

pub fn year_of(t: Secs) -> i64 {
    date_of(t).0
}

#[inline]
fn push_2(buf: &mut Vec<u8>, v: u32) {
    buf.push(b'0' + (v / 10 % 10) as u8);
    buf.push(b'0' + (v % 10) as u8);
}

#[inline]
pub fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

#[inline]
pub fn push_i64(buf: &mut Vec<u8>, v: i64) {
    if v < 0 {
        buf.push(b'-');
    }
    push_u64(buf, v.unsigned_abs());
}

/// 'YYYY-MM-DD HH:MM:SS'.
pub fn push_ts(buf: &mut Vec<u8>, t: Secs) {
    let (y, m, d) = date_of(t);
    let s = t.rem_euclid(86_400) as u32;
    push_2(buf, (y / 100) as u32);
    push_2(buf, (y % 100) as u32);
    buf.push(b'-');
    push_2(buf, m);
    buf.push(b'-');
    push_2(buf, d);
    buf.push(b' ');
    push_2(buf, s / 3600);
    buf.push(b':');
    push_2(buf, s / 60 % 60);
    buf.push(b':');
    push_2(buf, s % 60);
}

/// A decimal `units / 10^scale`, written with exactly `scale` fraction digits.
pub fn push_decimal(buf: &mut Vec<u8>, units: i64, scale: u32) {
    if units < 0 {
        buf.push(b'-');
    }
    let u = units.unsigned_abs();
    let p = 10u64.pow(scale);
    push_u64(buf, u / p);
    if scale > 0 {
        buf.push(b'.');
        let frac = u % p;
        let mut digits = [b'0'; 20];
        let mut f = frac;
        for i in (0..scale as usize).rev() {
            digits[i] = b'0' + (f % 10) as u8;
            f /= 10;
        }
        buf.extend_from_slice(&digits[..scale as usize]);
    }
}

/// Appends text escaped for COPY text format (backslash, tab, newline, carriage return).
#[inline]
pub fn push_escaped(buf: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = match b {
            b'\\' => b'\\',
            b'\t' => b't',
            b'\n' => b'n',
            b'\r' => b'r',
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        buf.push(b'\\');
        buf.push(esc);
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
}

/// `fmt::Write` adapter that escapes as it writes, so `write!` can build a field in place.
pub struct Escaped<'a>(pub &'a mut Vec<u8>);

impl fmt::Write for Escaped<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        push_escaped(self.0, s);
        Ok(())
    }
}

/// One table's COPY stream: fields are appended with a trailing tab; `end_row` turns the last
/// tab into a newline and hands a chunk on when the buffer is full.
pub struct Out<'a, 'e> {
    table: &'static str,
    buf: Vec<u8>,
    rows: u64,
    emit: &'a mut Emit<'e>,
}

impl<'a, 'e> Out<'a, 'e> {
    pub fn begin(
        table: &'static str,
        columns: &'static [&'static str],
        emit: &'a mut Emit<'e>,
    ) -> anyhow::Result<Self> {
        emit(Msg::Begin { table, columns })?;
        Ok(Out {
            table,
            buf: Vec::with_capacity(CHUNK_BYTES + 64 * 1024),
            rows: 0,
            emit,
        })
    }

    #[inline]
    fn sep(&mut self) {
        self.buf.push(b'\t');
    }

    #[inline]
    pub fn null(&mut self) {
        self.buf.extend_from_slice(b"\\N\t");
    }

    #[inline]
    pub fn int(&mut self, v: i64) {
        push_i64(&mut self.buf, v);
        self.sep();
    }

    #[inline]
    pub fn id(&mut self, v: usize) {
        push_u64(&mut self.buf, v as u64);
        self.sep();
    }

    #[inline]
    pub fn opt_int(&mut self, v: Option<i64>) {
        match v {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    #[inline]
    pub fn bool(&mut self, v: bool) {
        self.buf.push(if v { b't' } else { b'f' });
        self.sep();
    }

    #[inline]
    pub fn opt_bool(&mut self, v: Option<bool>) {
        match v {
            Some(v) => self.bool(v),
            None => self.null(),
        }
    }

    #[inline]
    pub fn text(&mut self, s: &str) {
        push_escaped(&mut self.buf, s);
        self.sep();
    }

    #[inline]
    pub fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    /// A formatted text field (escaped).
    #[inline]
    pub fn fmt(&mut self, args: fmt::Arguments<'_>) {
        let _ = fmt::Write::write_fmt(&mut Escaped(&mut self.buf), args);
        self.sep();
    }

    #[inline]
    pub fn ts(&mut self, t: Secs) {
        push_ts(&mut self.buf, t);
        self.sep();
    }

    #[inline]
    pub fn opt_ts(&mut self, t: Option<Secs>) {
        match t {
            Some(t) => self.ts(t),
            None => self.null(),
        }
    }

    #[inline]
    pub fn decimal(&mut self, units: i64, scale: u32) {
        push_decimal(&mut self.buf, units, scale);
        self.sep();
    }

    /// Direct access for fields built piecewise; the caller must escape and then call `done_field`.
    #[inline]
    pub fn raw(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    #[inline]
    pub fn done_field(&mut self) {
        self.sep();
    }

    #[inline]
    pub fn end_row(&mut self) -> anyhow::Result<()> {
        if let Some(last) = self.buf.last_mut() {
            debug_assert_eq!(*last, b'\t');
            *last = b'\n';
        }
        self.rows += 1;
        if self.buf.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + 64 * 1024));
        (self.emit)(Msg::Chunk(Bytes::from(full)))
    }

    pub fn finish(mut self) -> anyhow::Result<u64> {
        self.flush()?;
        let rows = self.rows;
        (self.emit)(Msg::End {
            table: self.table,
            rows,
        })?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(at(2015, 1, 1), 0);
        let mut b = Vec::new();
        push_ts(&mut b, at(2019, 3, 7) + 14 * 3600 + 5 * 60 + 9);
        assert_eq!(b, b"2019-03-07 14:05:09");
        for day in [-800i64, 0, 59, 60, 365, 1520, 3834, 40_000] {
            let (y, m, d) = civil_from_days(BASE_DAYS + day);
            assert_eq!(
                days_from_civil(y, i64::from(m), i64::from(d)),
                BASE_DAYS + day
            );
        }
        assert_eq!(date_of(at(2024, 2, 29) + 86_399), (2024, 2, 29));
    }

    #[test]
    fn decimals_and_escapes() {
        let mut b = Vec::new();
        push_decimal(&mut b, 123_405, 2);
        b.push(b' ');
        push_decimal(&mut b, -5, 3);
        b.push(b' ');
        push_decimal(&mut b, 1200, 0);
        assert_eq!(b, b"1234.05 -0.005 1200");
        let mut e = Vec::new();
        push_escaped(&mut e, "a\\b\tc\nd\re");
        assert_eq!(e, b"a\\\\b\\tc\\nd\\re");
    }
}
