//! Connection strings in both forms PostgreSQL accepts: `postgres://user:password@host:port/db?k=v`
//! URLs and `key=value` strings. ONE reader serves three purposes, so they always agree:
//! - the TLS settings libpq users know (`sslmode` with `verify-ca` / `verify-full`, `sslrootcert`,
//!   `sslcert`, `sslkey`, defaults from `PGSSLMODE` & co.) are taken out, because tokio-postgres
//!   only knows disable / prefer / require;
//! - the rest is handed to tokio-postgres as a key=value string;
//! - [`mask`] hides exactly the values the driver would take as passwords. [`mask_text`] does the
//!   same for free text (plan files, TOML errors) where a string may be broken or half-quoted.
//!
//! URLs are read the way tokio-postgres reads them: the credentials end at the FIRST `@`, so a
//! password may hold a raw `/`, `?`, `#` or `:`; an `@` in a password must be written `%40`.

use std::ops::Range;

/// Keys whose values are secrets.
const SECRET_KEYS: &[&str] = &["password", "sslpassword"];

/// What replaces a secret.
const HIDDEN: &str = "***";

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain only.
    Disable,
    /// Plain first; TLS when the server refuses plain.
    Allow,
    /// TLS when the server offers it, plain otherwise (libpq's default).
    Prefer,
    /// TLS; the certificate is checked only when a root certificate is given (as libpq).
    Require,
    /// TLS; the chain must lead to the root certificate; any host name.
    VerifyCa,
    /// TLS; chain and host name.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// The TLS settings of one connection string (after the PG* defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    /// `sslrootcert` as written: a PEM file of CA certificates, or `system`.
    pub rootcert: Option<String>,
    /// `sslcert` / `sslkey`: the client certificate and its key (PEM).
    pub cert: Option<String>,
    pub key: Option<String>,
}

/// A connection string, read.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// Every setting but the TLS ones, decoded, in order (a later one wins, as in libpq).
    settings: Vec<(String, String)>,
    pub tls: TlsSettings,
}

impl ConnInfo {
    /// Reads `s`, taking TLS defaults from the process environment (`PGSSLMODE`, ...).
    pub fn parse(s: &str) -> Result<ConnInfo, String> {
        Self::parse_with_env(s, |name| std::env::var(name).ok())
    }

    pub fn parse_with_env(
        s: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ConnInfo, String> {
        let lexed = lex(s);
        if let Some(error) = lexed.error {
            return Err(error.message);
        }
        let mut settings = Vec::new();
        let (mut mode, mut rootcert, mut cert, mut key) = (None, None, None, None);
        for setting in lexed.settings {
            let value = setting.value;
            match setting.key.as_str() {
                "sslmode" => {
                    mode =
                        Some(SslMode::parse(&value).ok_or_else(|| bad_sslmode("sslmode", &value))?)
                }
                "sslrootcert" => rootcert = Some(value),
                "sslcert" => cert = Some(value),
                "sslkey" => key = Some(value),
                _ => settings.push((setting.key, value)),
            }
        }
        let mode = match mode {
            Some(mode) => mode,
            None => match env("PGSSLMODE").filter(|v| !v.is_empty()) {
                Some(v) => SslMode::parse(&v).ok_or_else(|| bad_sslmode("PGSSLMODE", &v))?,
                None => SslMode::Prefer,
            },
        };
        let from_env = |name: &str| env(name).filter(|v| !v.is_empty());
        Ok(ConnInfo {
            settings,
            tls: TlsSettings {
                mode,
                rootcert: rootcert.or_else(|| from_env("PGSSLROOTCERT")),
                cert: cert.or_else(|| from_env("PGSSLCERT")),
                key: key.or_else(|| from_env("PGSSLKEY")),
            },
        })
    }

    /// The driver's configuration for everything but TLS (the caller sets the driver's own
    /// `ssl_mode` from [`TlsSettings::mode`]).
    pub fn driver_config(&self) -> Result<tokio_postgres::Config, String> {
        let text = self
            .settings
            .iter()
            .map(|(k, v)| format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'")))
            .collect::<Vec<_>>()
            .join(" ");
        // The driver's messages name keys, never values, so they cannot carry a password.
        text.parse()
            .map_err(|e: tokio_postgres::Error| e.to_string())
    }
}

fn bad_sslmode(key: &str, value: &str) -> String {
    format!(
        "{key}={value} is not an sslmode: use disable, allow, prefer, require, verify-ca or verify-full"
    )
}

/// One setting as written: its key, its decoded value, and where the raw value sits.
#[derive(Debug)]
struct Setting {
    key: String,
    value: String,
    raw: Range<usize>,
}

#[derive(Debug)]
struct LexError {
    /// Where the text stops making sense: a mask hides everything from here on.
    at: usize,
    message: String,
}

#[derive(Debug, Default)]
struct Lexed {
    settings: Vec<Setting>,
    error: Option<LexError>,
}

fn lex(s: &str) -> Lexed {
    for prefix in ["postgres://", "postgresql://"] {
        if s.starts_with(prefix) {
            return lex_url(s, prefix.len());
        }
    }
    lex_key_values(s)
}

/// A URL, read like tokio-postgres reads it: credentials, hosts and ports, the database, the
/// query. What was read before an error is kept (the mask must still hide a password).
fn lex_url(s: &str, start: usize) -> Lexed {
    let mut out = Lexed::default();
    if let Err(error) = lex_url_parts(s, start, &mut out.settings) {
        out.error = Some(error);
    }
    out
}

fn lex_url_parts(s: &str, start: usize, settings: &mut Vec<Setting>) -> Result<(), LexError> {
    let mut pos = start;
    // Credentials: up to the first `@`, anywhere.
    if let Some(at) = s[pos..].find('@').map(|i| pos + i) {
        lex_credentials(s, pos..at, settings)?;
        pos = at + 1;
    }
    pos = lex_hosts(s, start, pos, settings)?;
    pos = lex_database(s, pos, settings)?;
    lex_query(s, pos, settings)
}

/// `%XX` sequences of `s[raw]` decoded, or an error at `at` naming `what`.
fn decode_at(s: &str, raw: Range<usize>, at: usize, what: &str) -> Result<String, LexError> {
    percent_decode(&s[raw]).map_err(|e| LexError {
        at,
        message: format!("{what} {e}"),
    })
}

/// `user[:password]`.
fn lex_credentials(
    s: &str,
    creds: Range<usize>,
    settings: &mut Vec<Setting>,
) -> Result<(), LexError> {
    let (user, password) = match s[creds.clone()].find(':') {
        Some(c) => (
            creds.start..creds.start + c,
            Some(creds.start + c + 1..creds.end),
        ),
        None => (creds, None),
    };
    // The password first: a decoding error must not leave it out of the mask.
    if let Some(password) = password {
        let value = decode_at(s, password.clone(), password.start, "the password")?;
        settings.push(Setting {
            key: "password".into(),
            value,
            raw: password,
        });
    }
    let value = decode_at(s, user.clone(), user.start, "the user name")?;
    settings.push(Setting {
        key: "user".into(),
        value,
        raw: user,
    });
    Ok(())
}

/// `host[:port][,host[:port]...]` up to the path or the query (IPv6 addresses in brackets),
/// as one `host` and one `port` setting; returns where it ends.
fn lex_hosts(
    s: &str,
    start: usize,
    pos: usize,
    settings: &mut Vec<Setting>,
) -> Result<usize, LexError> {
    let host_end = s[pos..].find(['/', '?']).map_or(s.len(), |i| pos + i);
    let hostspec = &s[pos..host_end];
    if hostspec.is_empty() {
        return Ok(host_end);
    }
    if hostspec.contains('@') {
        // The password held a raw `@`: hide from the credentials on.
        return Err(LexError {
            at: start,
            message:
                "the host part holds an `@`: write an `@` inside the user name or password as %40"
                    .into(),
        });
    }
    let fail = |message: String| LexError {
        at: host_end,
        message,
    };
    let (mut hosts, mut ports) = (Vec::new(), Vec::new());
    for chunk in hostspec.split(',') {
        let (host, port) = split_host_port(chunk)
            .ok_or_else(|| fail(format!("the host `{chunk}` is not a valid [IPv6]:port")))?;
        match (percent_decode(host), percent_decode(port.unwrap_or("5432"))) {
            (Ok(h), Ok(p)) => {
                hosts.push(h);
                ports.push(p);
            }
            (Err(e), _) | (_, Err(e)) => return Err(fail(format!("the host `{chunk}` {e}"))),
        }
    }
    settings.push(Setting {
        key: "host".into(),
        value: hosts.join(","),
        raw: pos..host_end,
    });
    settings.push(Setting {
        key: "port".into(),
        value: ports.join(","),
        raw: pos..host_end,
    });
    Ok(host_end)
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; None for a bracket not closed right.
fn split_host_port(chunk: &str) -> Option<(&str, Option<&str>)> {
    if let Some(inner) = chunk.strip_prefix('[') {
        return match inner.split_once(']') {
            Some((host, "")) => Some((host, None)),
            Some((host, rest)) if rest.starts_with(':') => Some((host, Some(&rest[1..]))),
            _ => None,
        };
    }
    Some(match chunk.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (chunk, None),
    })
}

/// `/database`, up to the query; returns where it ends.
fn lex_database(s: &str, pos: usize, settings: &mut Vec<Setting>) -> Result<usize, LexError> {
    if !s[pos..].starts_with('/') {
        return Ok(pos);
    }
    let pos = pos + 1;
    let end = s[pos..].find('?').map_or(s.len(), |i| pos + i);
    if end > pos {
        let value = decode_at(s, pos..end, pos, "the database name")?;
        settings.push(Setting {
            key: "dbname".into(),
            value,
            raw: pos..end,
        });
    }
    Ok(end)
}

/// `?key=value&key=value...`.
fn lex_query(s: &str, pos: usize, settings: &mut Vec<Setting>) -> Result<(), LexError> {
    if !s[pos..].starts_with('?') {
        return Ok(());
    }
    let mut pos = pos + 1;
    while pos < s.len() {
        let end = s[pos..].find('&').map_or(s.len(), |i| pos + i);
        let pair = &s[pos..end];
        let Some(eq) = pair.find('=') else {
            return Err(LexError {
                at: pos,
                message: format!("the parameter `{pair}` has no value: write it as key=value"),
            });
        };
        let value_raw = pos + eq + 1..end;
        let key = decode_at(s, pos..pos + eq, pos, "a parameter")?;
        let value = decode_at(s, value_raw.clone(), pos, "a parameter")?;
        settings.push(Setting {
            key,
            value,
            raw: value_raw,
        });
        pos = end + 1;
    }
    Ok(())
}

/// `%XX` sequences decoded (others left as they are, like the driver); the result must be UTF-8.
fn percent_decode(s: &str) -> Result<String, &'static str> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "is not UTF-8 once its %XX escapes are decoded")
}

/// A key=value string, read like libpq and tokio-postgres read it: `key = value` with optional
/// spaces around `=`, values single-quoted when they hold spaces, `\` escaping the next character.
fn lex_key_values(s: &str) -> Lexed {
    let mut out = Lexed::default();
    let mut cursor = Cursor::new(s);
    loop {
        cursor.skip_whitespace();
        if cursor.at_end() {
            return out;
        }
        match lex_setting(&mut cursor) {
            Ok(setting) => out.settings.push(setting),
            Err(error) => {
                out.error = Some(error);
                return out;
            }
        }
    }
}

/// A position in a key=value string, by character.
struct Cursor<'a> {
    s: &'a str,
    chars: Vec<(usize, char)>,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor {
            s,
            chars: s.char_indices().collect(),
            i: 0,
        }
    }

    /// The byte offset of character `i` (the end of the string past the last one).
    fn offset(&self, i: usize) -> usize {
        self.chars.get(i).map_or(self.s.len(), |c| c.0)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).map(|c| c.1)
    }

    fn at_end(&self) -> bool {
        self.i >= self.chars.len()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }

    /// The character after a `\` (nothing at the end), stepping over both.
    fn escaped(&mut self) -> Option<char> {
        let c = self.chars.get(self.i + 1).map(|c| c.1);
        self.i += 2;
        c
    }
}

/// One `key = value` (the cursor on the key's first character).
fn lex_setting(cursor: &mut Cursor) -> Result<Setting, LexError> {
    let key_start = cursor.i;
    while cursor
        .peek()
        .is_some_and(|c| !c.is_whitespace() && c != '=')
    {
        cursor.i += 1;
    }
    let key_at = cursor.offset(key_start);
    let key = cursor.s[key_at..cursor.offset(cursor.i)].to_string();
    let fail = |message: String| LexError {
        at: key_at,
        message,
    };
    if key.is_empty() {
        return Err(fail(
            "a `=` without a key before it: write key=value".into(),
        ));
    }
    cursor.skip_whitespace();
    if cursor.peek() != Some('=') {
        return Err(fail(format!(
            "`{key}` has no `=`: write settings as key=value, or a URL as postgres://user:password@host:port/database"
        )));
    }
    cursor.i += 1;
    cursor.skip_whitespace();
    let (value, raw) = if cursor.peek() == Some('\'') {
        cursor.i += 1;
        quoted_value(cursor)
            .ok_or_else(|| fail(format!("the quoted value of `{key}` has no closing `'`")))?
    } else {
        let (value, raw) = bare_value(cursor);
        if value.is_empty() {
            return Err(fail(format!("`{key}` has an empty value: quote it ('')")));
        }
        (value, raw)
    };
    Ok(Setting { key, value, raw })
}

/// A value after its opening `'`, up to the closing one (stepped over); None when there is none.
fn quoted_value(cursor: &mut Cursor) -> Option<(String, Range<usize>)> {
    let raw_start = cursor.offset(cursor.i);
    let mut value = String::new();
    loop {
        match cursor.peek()? {
            '\'' => break,
            '\\' => value.extend(cursor.escaped()),
            c => {
                value.push(c);
                cursor.i += 1;
            }
        }
    }
    let raw = raw_start..cursor.offset(cursor.i);
    cursor.i += 1;
    Some((value, raw))
}

/// A value up to the next whitespace.
fn bare_value(cursor: &mut Cursor) -> (String, Range<usize>) {
    let raw_start = cursor.offset(cursor.i);
    let mut value = String::new();
    while let Some(c) = cursor.peek().filter(|c| !c.is_whitespace()) {
        if c == '\\' {
            value.extend(cursor.escaped());
        } else {
            value.push(c);
            cursor.i += 1;
        }
    }
    (value, raw_start..cursor.offset(cursor.i))
}

/// A connection string fit for any output: every password replaced by `***`. A string that
/// cannot be read is hidden from where it stops making sense, unless the rest is plainly
/// harmless (a bare host name, say).
pub fn mask(s: &str) -> String {
    let lexed = lex(s);
    let mut hide: Vec<Range<usize>> = lexed
        .settings
        .iter()
        .filter(|set| SECRET_KEYS.contains(&set.key.as_str()))
        .map(|set| set.raw.clone())
        .collect();
    if let Some(error) = &lexed.error {
        if !looks_harmless(&s[error.at..]) {
            hide.push(error.at..s.len());
        }
    }
    replace_ranges(s, hide)
}

fn looks_harmless(rest: &str) -> bool {
    !rest.contains(['@', ':', '\'', '"', '=', '\\', '%']) && !contains_ci(rest, "pass")
}

fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack.to_ascii_lowercase().contains(needle)
}

/// `s` with each range (merged when they overlap) replaced by `***`.
fn replace_ranges(s: &str, mut ranges: Vec<Range<usize>>) -> String {
    ranges.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(s.len());
    let mut pos = 0;
    for r in ranges {
        if r.start < pos {
            // Inside (or overlapping) a range already hidden.
            pos = pos.max(r.end);
            continue;
        }
        out.push_str(&s[pos..r.start]);
        out.push_str(HIDDEN);
        pos = r.end;
    }
    out.push_str(&s[pos..]);
    out
}

/// Free text (a plan file, an error that quotes one) with every password in it masked. A line
/// `key = "connection string"` is masked precisely; any other line that may hold a secret is
/// masked broadly: a URL's credentials up to the line's last `@`, everything after `password`.
pub fn mask_text(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let (body, newline) = match line.strip_suffix('\n') {
                Some(body) => (body, "\n"),
                None => (line, ""),
            };
            if !may_hold_secret(body) {
                return line.to_string();
            }
            let masked = mask_toml_assignment(body).unwrap_or_else(|| mask_free(body));
            format!("{masked}{newline}")
        })
        .collect()
}

fn may_hold_secret(line: &str) -> bool {
    line.contains("://") || line.contains('@') || contains_ci(line, "pass")
}

/// `key = "value"` (a TOML line) with the value masked as a connection string when it looks
/// like one, and its comment masked broadly; None for anything else.
fn mask_toml_assignment(line: &str) -> Option<String> {
    let mut doc: toml_edit::DocumentMut = line.parse().ok()?;
    if doc.len() != 1 {
        return None;
    }
    let (_, item) = doc.iter_mut().next()?;
    let value = item.as_value_mut()?;
    let text = value.as_str()?;
    let looks_like_conninfo =
        text.starts_with("postgres://") || text.starts_with("postgresql://") || text.contains('=');
    let masked = if looks_like_conninfo {
        mask(text)
    } else {
        mask_free(text)
    };
    let decor = value.decor().clone();
    let suffix = decor.suffix().and_then(|s| s.as_str()).map(mask_free);
    *value = toml_edit::Value::from(masked);
    *value.decor_mut() = decor;
    if let Some(suffix) = suffix {
        value.decor_mut().set_suffix(suffix);
    }
    Some(doc.to_string().trim_end_matches('\n').to_string())
}

/// Broad masking for text that cannot be read as a connection string.
fn mask_free(line: &str) -> String {
    let mut hide = Vec::new();
    let lower = line.to_ascii_lowercase();
    // URL credentials: from the `:` after the user name to the line's last `@`.
    let mut from = 0;
    while let Some(i) = line[from..].find("://").map(|i| from + i) {
        let auth = i + 3;
        if let Some(at) = line[auth..].rfind('@').map(|j| auth + j) {
            if let Some(colon) = line[auth..at].find(':') {
                hide.push(auth + colon + 1..at);
            }
        }
        from = auth;
    }
    // `password=...`, `password = '...'`, `sslpassword: ...`: everything after the word.
    if let Some(i) = lower.find("password") {
        let mut start = i + "password".len();
        let rest = &line[start..];
        let trimmed = rest.trim_start_matches([' ', '\t', '=', ':']);
        start += rest.len() - trimmed.len();
        if start < line.len() {
            hide.push(start..line.len());
        }
    }
    replace_ranges(line, hide)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn settings(s: &str) -> Vec<(String, String)> {
        ConnInfo::parse_with_env(s, no_env).unwrap().settings
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn urls_read_like_the_driver() {
        assert_eq!(
            settings("postgres://u:p%40ss@h:5433/db?application_name=x&connect_timeout=3"),
            kv(&[
                ("password", "p@ss"),
                ("user", "u"),
                ("host", "h"),
                ("port", "5433"),
                ("dbname", "db"),
                ("application_name", "x"),
                ("connect_timeout", "3"),
            ])
        );
        // Raw `/`, `?`, `#`, `:` in a password: the credentials end at the first `@`.
        assert_eq!(
            settings("postgresql://u:a/b?c#d:e@h/db")[0],
            ("password".to_string(), "a/b?c#d:e".to_string())
        );
        assert_eq!(
            settings("postgres://[::1]:5432,h2/db"),
            kv(&[("host", "::1,h2"), ("port", "5432,5432"), ("dbname", "db")])
        );
        let err = ConnInfo::parse_with_env("postgres://u:a@b@h/db", no_env).unwrap_err();
        assert!(err.contains("%40"), "{err}");
    }

    #[test]
    fn key_values_read_like_libpq() {
        assert_eq!(
            settings("host=h  password = 'a b\\'c'  user=u dbname=d\\ x"),
            kv(&[
                ("host", "h"),
                ("password", "a b'c"),
                ("user", "u"),
                ("dbname", "d x")
            ])
        );
        assert!(ConnInfo::parse_with_env("host=h password='open", no_env).is_err());
        assert!(ConnInfo::parse_with_env("localhost", no_env).is_err());
    }

    #[test]
    fn tls_settings_come_out_and_the_environment_fills_the_gaps() {
        let info = ConnInfo::parse_with_env(
            "postgres://h/db?sslmode=verify-full&sslrootcert=/ca.pem&application_name=a",
            no_env,
        )
        .unwrap();
        assert_eq!(info.tls.mode, SslMode::VerifyFull);
        assert_eq!(info.tls.rootcert.as_deref(), Some("/ca.pem"));
        assert!(info.settings.iter().all(|(k, _)| !k.starts_with("ssl")));
        // The driver takes the rest (it would refuse verify-full).
        let config = info.driver_config().unwrap();
        assert_eq!(config.get_application_name(), Some("a"));

        let env = |name: &str| match name {
            "PGSSLMODE" => Some("verify-ca".to_string()),
            "PGSSLROOTCERT" => Some("/env-ca.pem".to_string()),
            "PGSSLCERT" => Some("/c.pem".to_string()),
            "PGSSLKEY" => Some("/k.pem".to_string()),
            _ => None,
        };
        let info = ConnInfo::parse_with_env("host=h sslmode=require", env).unwrap();
        assert_eq!(info.tls.mode, SslMode::Require, "the string wins");
        assert_eq!(info.tls.rootcert.as_deref(), Some("/env-ca.pem"));
        assert_eq!(info.tls.cert.as_deref(), Some("/c.pem"));
        assert_eq!(info.tls.key.as_deref(), Some("/k.pem"));
        let info = ConnInfo::parse_with_env("host=h", env).unwrap();
        assert_eq!(info.tls.mode, SslMode::VerifyCa);
        assert_eq!(
            ConnInfo::parse_with_env("host=h", no_env).unwrap().tls.mode,
            SslMode::Prefer
        );
        let err = ConnInfo::parse_with_env("host=h sslmode=verify", no_env).unwrap_err();
        assert!(err.contains("verify-full"), "{err}");
    }

    #[test]
    fn driver_config_keeps_quotes_and_backslashes() {
        let info =
            ConnInfo::parse_with_env("host=h user=u password='it\\'s a \\\\ b'", no_env).unwrap();
        let config = info.driver_config().unwrap();
        assert_eq!(config.get_password(), Some("it's a \\ b".as_bytes()));
        let info = ConnInfo::parse_with_env("postgres://u:a%20b'c@h/db", no_env).unwrap();
        assert_eq!(
            info.driver_config().unwrap().get_password(),
            Some("a b'c".as_bytes())
        );
    }

    #[test]
    fn masks_every_form_of_password() {
        for (input, expected) in [
            (
                "postgres://u:secret@h:5432/db",
                "postgres://u:***@h:5432/db",
            ),
            ("postgres://u@h/db", "postgres://u@h/db"),
            (
                "postgres://h/db?password=x&a=b",
                "postgres://h/db?password=***&a=b",
            ),
            ("postgres://u:s/e?c#r:t@h/db", "postgres://u:***@h/db"),
            (
                "postgres://u:p%2Fw@h/db?password=2nd",
                "postgres://u:***@h/db?password=***",
            ),
            ("host=h password=pw user=u", "host=h password=*** user=u"),
            (
                "host=h password = pw user=u",
                "host=h password = *** user=u",
            ),
            (
                "host=h password='a b c' user=u",
                "host=h password='***' user=u",
            ),
            (
                "password=one host=h password=two",
                "password=*** host=h password=***",
            ),
            ("host=h sslpassword=k", "host=h sslpassword=***"),
            // Unreadable strings: hidden from where they stop making sense.
            ("host=h password='a b", "host=h ***"),
            ("postgres://u:a@b@h/db", "postgres://***"),
            ("host=h pass word", "host=h ***"),
            ("localhost", "localhost"),
        ] {
            assert_eq!(mask(input), expected, "{input}");
        }
    }

    #[test]
    fn masks_passwords_in_free_text() {
        let text = "[source]\nurl = \"postgres://u:s3cret@h:5432/db\" # was postgres://v:0ther@h/db\nurl = \"host=h password='p w' user=u\"\nbatch_size = 10\n";
        let out = mask_text(text);
        for secret in ["s3cret", "0ther", "p w"] {
            assert!(!out.contains(secret), "{out}");
        }
        assert!(
            out.contains("url = \"postgres://u:***@h:5432/db\""),
            "{out}"
        );
        assert!(out.contains("user=u"), "{out}");
        assert!(out.ends_with("batch_size = 10\n"), "{out}");
        // Broken lines, as a TOML error quotes them.
        for (line, secret) in [
            ("3 | url = \"postgres://u:p/?x@h/db", "p/?x"),
            ("3 | url = 'host=h password = \"a b c\"", "a b c"),
            ("3 | url = \"host=h PASSWORD=zz", "zz"),
            ("invalid type: string \"postgres://u:q@h\"", "q@"),
        ] {
            let out = mask_text(line);
            assert!(!out.contains(secret), "{line} -> {out}");
        }
        assert_eq!(mask_text("name = \"offices\"\n"), "name = \"offices\"\n");
    }

    /// The error a string stops at: where, and what it says.
    fn lex_error(s: &str) -> (usize, String) {
        let error = lex(s).error.expect("an error");
        (error.at, error.message)
    }

    #[test]
    fn host_chunks_split_into_host_and_port() {
        assert_eq!(split_host_port("h"), Some(("h", None)));
        assert_eq!(split_host_port("h:5433"), Some(("h", Some("5433"))));
        assert_eq!(split_host_port("[::1]"), Some(("::1", None)));
        assert_eq!(split_host_port("[::1]:5433"), Some(("::1", Some("5433"))));
        assert_eq!(split_host_port("[::1"), None);
        assert_eq!(split_host_port("[::1]x"), None);
    }

    #[test]
    fn a_url_stops_where_it_stops_making_sense() {
        let s = "postgres://u:%ff@h/db";
        assert_eq!(
            lex_error(s),
            (
                13,
                "the password is not UTF-8 once its %XX escapes are decoded".into()
            )
        );
        // The password is hidden from where the error is.
        assert_eq!(mask(s), "postgres://u:***");
        assert_eq!(
            lex_error("postgres://%ff@h/db"),
            (
                11,
                "the user name is not UTF-8 once its %XX escapes are decoded".into()
            )
        );
        assert_eq!(
            lex_error("postgres://h,[::1/db"),
            (17, "the host `[::1` is not a valid [IPv6]:port".into())
        );
        assert_eq!(
            lex_error("postgres://h/d%ff"),
            (
                13,
                "the database name is not UTF-8 once its %XX escapes are decoded".into()
            )
        );
        assert_eq!(
            lex_error("postgres://h/db?a=1&verbose"),
            (
                20,
                "the parameter `verbose` has no value: write it as key=value".into()
            )
        );
        assert_eq!(
            lex_error("postgres://h/db?a=%ff"),
            (
                16,
                "a parameter is not UTF-8 once its %XX escapes are decoded".into()
            )
        );
        // No host, no database: the driver's defaults.
        assert!(settings("postgres://").is_empty());
        assert_eq!(settings("postgres:///db"), kv(&[("dbname", "db")]));
    }

    #[test]
    fn key_value_strings_stop_at_the_setting_that_makes_no_sense() {
        assert_eq!(
            lex_error("host=h =x"),
            (7, "a `=` without a key before it: write key=value".into())
        );
        assert_eq!(
            lex_error("host=h port"),
            (7, "`port` has no `=`: write settings as key=value, or a URL as postgres://user:password@host:port/database".into())
        );
        assert_eq!(
            lex_error("host=h password='x"),
            (
                7,
                "the quoted value of `password` has no closing `'`".into()
            )
        );
        assert_eq!(
            lex_error("host=h dbname= "),
            (7, "`dbname` has an empty value: quote it ('')".into())
        );
        // Quoted empty values are values; raw ranges cover the value as written.
        let lexed = lex("password = '' host=h\\ x user='a\\'b'");
        assert!(lexed.error.is_none());
        let raw: Vec<(&str, &str, &str)> = lexed
            .settings
            .iter()
            .map(|set| {
                (
                    set.key.as_str(),
                    set.value.as_str(),
                    &"password = '' host=h\\ x user='a\\'b'"[set.raw.clone()],
                )
            })
            .collect();
        assert_eq!(
            raw,
            [
                ("password", "", ""),
                ("host", "h x", "h\\ x"),
                ("user", "a'b", "a\\'b"),
            ]
        );
    }
}
