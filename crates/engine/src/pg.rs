//! PostgreSQL plumbing shared by every command: connecting, quoting, reading the catalog.

use std::collections::BTreeMap;

use anyhow::Context;
use tokio_postgres::config::SslMode as DriverSslMode;
use tokio_postgres::Client;

use crate::conninfo::{self, ConnInfo, SslMode};
use crate::tls;

/// Which side of the migration a connection talks to, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Target => "target",
        })
    }
}

/// [`connect`], a failure typed as [`crate::Error`] of kind Connect (exit 4).
pub async fn connect_typed(url: &str, side: Side) -> Result<Client, crate::Error> {
    connect(url, side)
        .await
        .map_err(|e| crate::Error::connect(format!("{e:#}")))
}

/// Connects (TLS as the connection string's `sslmode` says), drives the connection on a
/// background task and sets up the session every command relies on.
pub async fn connect(url: &str, side: Side) -> anyhow::Result<Client> {
    let client = open(url, side).await?;
    // Text output the transforms can rely on whatever the server's settings are.
    client
        .batch_execute("SET DateStyle = ISO; SET IntervalStyle = iso_8601; SET TimeZone = 'UTC'; SET extra_float_digits = 3; SET client_encoding = 'UTF8'; SET client_min_messages = warning; SET standard_conforming_strings = on")
        .await
        .with_context(|| format!("configuring the {side} session"))?;
    // A SQL_ASCII database stores any bytes, and the server refuses to hand text that is not
    // UTF-8 to a UTF8 client, failing the whole read: take the bytes as they are instead, so
    // the runner can quarantine just the rows that do not decode.
    if side == Side::Source {
        let encoding: String = client
            .query_one("SELECT current_setting('server_encoding')", &[])
            .await
            .context("reading the source's encoding")?
            .get(0);
        if encoding == "SQL_ASCII" {
            client
                .batch_execute("SET client_encoding = 'SQL_ASCII'")
                .await
                .context("configuring the source session")?;
        }
    }
    Ok(client)
}

/// The one way to open a connection: reads the connection string (URL or key=value) with
/// its TLS settings, connects with libpq's `sslmode` semantics, and drives the connection on a
/// background task. Errors show the string with its password masked and say what to do.
pub async fn open(url: &str, side: Side) -> anyhow::Result<Client> {
    let shown = conninfo::mask(url);
    let invalid = |e: String| {
        anyhow::anyhow!(
            "the {side} URL {shown} is not a valid PostgreSQL URL or connection string: {e}\n  hint: write it as postgres://user:password@host:port/database (or host=... dbname=... user=...)"
        )
    };
    let info = ConnInfo::parse(url).map_err(invalid)?;
    let mut config = info.driver_config().map_err(invalid)?;
    config.application_name(format!("host-{side}"));
    let tls = tls::connector(&info.tls)
        .map_err(|e| anyhow::anyhow!("cannot connect to the {side} database {shown}: {e}"))?;
    let mode = info.tls.mode;
    let first = match mode {
        SslMode::Disable | SslMode::Allow => DriverSslMode::Disable,
        SslMode::Prefer => DriverSslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => DriverSslMode::Require,
    };
    let mut result = connect_with(&mut config, first, &tls).await;
    // libpq's second tries: `allow` turns to TLS when the server refuses plain, `prefer` to
    // plain when the TLS handshake fails (the driver itself only falls back when the server
    // does not offer TLS at all).
    let retry = match (&result, mode) {
        (Err(e), SslMode::Allow) if tls::refuses_plain(e) => Some(DriverSslMode::Require),
        (Err(e), SslMode::Prefer) if tls::rustls_error(e).is_some() => {
            tracing::warn!(
                "TLS to the {side} database failed ({e}); sslmode=prefer tries without encryption"
            );
            Some(DriverSslMode::Disable)
        }
        _ => None,
    };
    if let Some(second) = retry {
        if let Ok(client) = connect_with(&mut config, second, &tls).await {
            result = Ok(client);
        }
    }
    result.map_err(|e| {
        let hint = tls::hint(&e, &info.tls, tls.roots.as_deref())
            .unwrap_or_else(|| connect_hint(&e).to_string());
        anyhow::anyhow!(
            "cannot connect to the {side} database {shown}: {}\n  hint: {hint} \
             Override the plan's URL with --{side} or MIGRATE_{}_URL",
            error_text_only(&e),
            side.to_string().to_uppercase()
        )
    })
}

async fn connect_with(
    config: &mut tokio_postgres::Config,
    mode: DriverSslMode,
    tls: &tls::Connector,
) -> Result<Client, tokio_postgres::Error> {
    config.ssl_mode(mode);
    let (client, connection) = config.connect(tls.make.clone()).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "connection closed");
        }
    });
    Ok(client)
}

/// What to look at when a connection fails, by why it failed.
fn connect_hint(e: &tokio_postgres::Error) -> &'static str {
    use tokio_postgres::error::SqlState;
    match e.code() {
        Some(c) if *c == SqlState::INVALID_CATALOG_NAME => {
            "the database does not exist on that server: create it (createdb, CREATE DATABASE) or fix its name in the URL."
        }
        Some(c)
            if *c == SqlState::INVALID_PASSWORD
                || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            "the server refused these credentials: check the user name and password in the URL (and the server's pg_hba.conf)."
        }
        Some(c) if *c == SqlState::TOO_MANY_CONNECTIONS => {
            "the server has no free connection slot: wait for other clients to finish or raise max_connections."
        }
        Some(_) => "the server refused the connection; its message above says why.",
        None => "is the server running, and reachable at that host and port (and are the user, password and database right)?",
    }
}

/// Whether an error means the connection is gone (server stopped, backend terminated,
/// network cut) rather than something about the statement.
pub fn is_connection_loss(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || code.starts_with("57P")
        }
        // No server error and not closed: an I/O failure on the socket.
        None => std::error::Error::source(e)
            .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some()),
    }
}

/// Whether an error is worth retrying inside the run: the connection is gone (see
/// [`is_connection_loss`]), or the server gave up on the transaction for reasons that pass
/// (serialization failure, deadlock, a server starting up or out of connection slots).
pub fn is_transient_pg(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    is_connection_loss(e)
        || e.code().is_some_and(|c| {
            *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::TOO_MANY_CONNECTIONS
                || *c == SqlState::CANNOT_CONNECT_NOW
        })
}

/// Whether anything in an error chain is a transient database fault (see [`is_transient_pg`]).
pub fn is_transient(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<tokio_postgres::Error>()
            .or_else(|| e.downcast_ref::<DbError>().map(|d| &d.source))
            .is_some_and(is_transient_pg)
    })
}

/// A database error as people read it (`what: the server's message`), keeping the driver's
/// error so that [`is_transient`] can still tell a lost connection from a refused statement.
#[derive(Debug)]
pub struct DbError {
    what: String,
    text: String,
    source: tokio_postgres::Error,
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.text)
    }
}

impl std::error::Error for DbError {}

/// `what` failed with `e`, as an error that reads well and classifies right.
pub fn db_error(what: impl Into<String>, e: tokio_postgres::Error) -> anyhow::Error {
    anyhow::Error::new(DbError {
        what: what.into(),
        text: error_text(&e),
        source: e,
    })
}

const LOST_HINT: &str = "the connection was lost (server restarted or stopped, backend terminated, network cut); the batch in flight was not committed. \
     When the server is back, run `host run` again: it resumes after the last committed batch";

/// An error chain as one message, with what a lost connection means for the run when the
/// chain holds one and does not say it yet.
pub fn explain(err: &anyhow::Error) -> String {
    let text = format!("{err:#}");
    let lost = err.chain().any(|e| {
        e.downcast_ref::<tokio_postgres::Error>()
            .or_else(|| e.downcast_ref::<DbError>().map(|d| &d.source))
            .is_some_and(is_connection_loss)
    });
    if lost && !text.contains(LOST_HINT) {
        format!("{text}\n  {LOST_HINT}")
    } else {
        text
    }
}

/// The server's own message for an error, with detail and hint when there are any; for a
/// lost connection, what that means for the run.
pub fn error_text(e: &tokio_postgres::Error) -> String {
    let text = error_text_only(e);
    if is_connection_loss(e) {
        format!("{text}\n  {LOST_HINT}")
    } else {
        text
    }
}

fn error_text_only(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = db.message().to_string();
            if let Some(detail) = db.detail() {
                s.push_str(&format!(" ({detail})"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                s.push_str(&format!(": {inner}"));
                source = inner.source();
            }
            s
        }
    }
}

/// `"name"`, with embedded quotes doubled: every identifier from a plan or plugin goes
/// through here, so no name can inject SQL.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."table"`.
pub fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", ident(schema), ident(table))
}

/// A column as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The type's OID (for decoding and encoding values).
    pub type_oid: u32,
    /// Base type name without modifiers, e.g. `varchar`, `numeric`, `order_status`.
    pub type_name: String,
    /// `varchar(n)` / `char(n)` length limit.
    pub max_chars: Option<i32>,
    /// `numeric(precision, scale)`; None for an unconstrained numeric (and other types).
    pub numeric_precision: Option<(i32, i32)>,
    pub not_null: bool,
    pub has_default: bool,
    /// For enum columns, the allowed labels.
    pub enum_labels: Option<Vec<String>>,
    /// The declared type as SQL, modifiers included (`integer`, `character(2)`, `"MyEnum"`,
    /// `other.year_domain`): what a key's text is cast to, to compare with this column (a
    /// cast to bare `character` would cut it to one letter).
    pub sql_type: String,
    /// For an array column (`text[]`, `mood[]`, a domain over `integer[]`...), its element
    /// type as a column of its own (named `<column> element`; a domain element as its base).
    pub element: Option<Box<Column>>,
}

/// The columns of one table, in table order.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub columns: Vec<Column>,
}

impl TableInfo {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Every ordinary table of `schema` with its columns.
pub async fn tables(client: &Client, schema: &str) -> anyhow::Result<BTreeMap<String, TableInfo>> {
    let rows = client
        .query(
            // A domain is read and written as its base type (up to two domains deep; the
            // typmod a domain declares, varchar(n) say, counts as the column's): PostgreSQL
            // checks the domain's own constraints on COPY.
            "WITH col AS (
                SELECT c.relname, a.attname, a.attnum, a.attnotnull, a.atthasdef,
                       format_type(a.atttypid, a.atttypmod) AS sql_type,
                       CASE WHEN d1.typtype = 'd' AND d2.typtype = 'd' THEN d2.typbasetype
                            WHEN d1.typtype = 'd' THEN d1.typbasetype ELSE a.atttypid END AS typid,
                       CASE WHEN d1.typtype = 'd' AND d2.typtype = 'd' THEN d2.typtypmod
                            WHEN d1.typtype = 'd' THEN d1.typtypmod ELSE a.atttypmod END AS typmod
                FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                JOIN pg_type d1 ON d1.oid = a.atttypid
                LEFT JOIN pg_type d2 ON d2.oid = d1.typbasetype
                WHERE n.nspname = $1 AND c.relkind IN ('r', 'p'))
             SELECT col.relname, col.attname, t.oid, t.typname,
                    CASE WHEN t.typname IN ('varchar','bpchar') AND col.typmod > 0 THEN col.typmod - 4 END,
                    col.attnotnull, col.atthasdef,
                    CASE WHEN t.typtype = 'e' THEN
                        (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)
                    END,
                    CASE WHEN t.typname = 'numeric' AND col.typmod > 0 THEN ((col.typmod - 4) >> 16) & 65535 END,
                    CASE WHEN t.typname = 'numeric' AND col.typmod > 0 THEN (((col.typmod - 4) & 2047) # 1024) - 1024 END,
                    col.sql_type,
                    eb.oid, eb.typname,
                    CASE WHEN eb.typname IN ('varchar','bpchar') AND col.typmod > 0 THEN col.typmod - 4 END,
                    CASE WHEN eb.typtype = 'e' THEN
                        (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = eb.oid)
                    END,
                    CASE WHEN eb.typname = 'numeric' AND col.typmod > 0 THEN ((col.typmod - 4) >> 16) & 65535 END,
                    CASE WHEN eb.typname = 'numeric' AND col.typmod > 0 THEN (((col.typmod - 4) & 2047) # 1024) - 1024 END,
                    format_type(eb.oid, col.typmod)
             FROM col JOIN pg_type t ON t.oid = col.typid
             -- An array type's element (int2vector and the like name an element too, but
             -- are not that element's array type), a domain element as its base type.
             LEFT JOIN pg_type et ON et.oid = t.typelem AND et.typarray = t.oid
             LEFT JOIN pg_type eb ON eb.oid = CASE WHEN et.typtype = 'd' THEN et.typbasetype ELSE et.oid END
             ORDER BY col.relname, col.attnum",
            &[&schema],
        )
        .await
        .context("reading the catalog")?;
    let mut out: BTreeMap<String, TableInfo> = BTreeMap::new();
    for r in rows {
        out.entry(r.get(0))
            .or_insert_with(|| TableInfo {
                columns: Vec::new(),
            })
            .columns
            .push(catalog_column(&r));
    }
    Ok(out)
}

/// One column of [`tables`]' catalog query (its element, for an array, from the columns after
/// the column's own).
fn catalog_column(r: &tokio_postgres::Row) -> Column {
    let name: String = r.get(1);
    let element = r.get::<_, Option<u32>>(11).map(|type_oid| {
        Box::new(Column {
            name: format!("{name} element"),
            type_oid,
            type_name: r.get(12),
            max_chars: r.get(13),
            not_null: false,
            has_default: false,
            enum_labels: r.get(14),
            numeric_precision: r.get::<_, Option<i32>>(15).zip(r.get::<_, Option<i32>>(16)),
            sql_type: r.get(17),
            element: None,
        })
    });
    Column {
        name,
        type_oid: r.get(2),
        type_name: r.get(3),
        max_chars: r.get(4),
        not_null: r.get(5),
        has_default: r.get(6),
        enum_labels: r.get(7),
        numeric_precision: r.get::<_, Option<i32>>(8).zip(r.get::<_, Option<i32>>(9)),
        sql_type: r.get(10),
        element,
    }
}

/// The keys of each table of `schema` a run can page by: its primary key first, then its
/// unique indexes whose columns are all NOT NULL (no expressions, no predicate), each as its
/// columns in index order.
pub async fn table_keys(
    client: &Client,
    schema: &str,
) -> anyhow::Result<BTreeMap<String, Vec<Vec<String>>>> {
    let rows = client
        .query(
            "SELECT c.relname::text,
                    ARRAY(SELECT a.attname::text FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY k(n, o)
                          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.n ORDER BY k.o)
             FROM pg_index i
             JOIN pg_class c ON c.oid = i.indrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND i.indisunique AND i.indpred IS NULL
               AND i.indexprs IS NULL
               AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey[0:i.indnkeyatts - 1]) k(n)
                               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.n
                               WHERE NOT a.attnotnull)
             ORDER BY c.relname, i.indisprimary DESC, i.indnkeyatts, i.indexrelid",
            &[&schema],
        )
        .await
        .context("reading the tables' keys")?;
    let mut out: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for r in rows {
        out.entry(r.get(0)).or_default().push(r.get(1));
    }
    Ok(out)
}

/// `text` as an SQL string literal (standard_conforming_strings, on since PostgreSQL 9.1:
/// only the quote is doubled), for the places a parameter cannot go (a COPY's query).
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A foreign key between two tables of the target schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub name: String,
    pub table: String,
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    pub deferrable: bool,
}

/// Every foreign key declared in `schema` (pointing into the same schema).
pub async fn foreign_keys(client: &Client, schema: &str) -> anyhow::Result<Vec<ForeignKey>> {
    let rows = client
        .query(
            "SELECT con.conname::text, c.relname::text, r.relname::text, con.condeferrable,
                    ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i),
                    ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i)
             FROM pg_constraint con
             JOIN pg_class c ON c.oid = con.conrelid
             JOIN pg_class r ON r.oid = con.confrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_namespace rn ON rn.oid = r.relnamespace
             WHERE con.contype = 'f' AND n.nspname = $1 AND rn.nspname = $1
             ORDER BY c.relname, con.conname",
            &[&schema],
        )
        .await
        .context("reading the target's foreign keys")?;
    let mut fks: Vec<ForeignKey> = rows
        .into_iter()
        .map(|r| ForeignKey {
            name: r.get(0),
            table: r.get(1),
            ref_table: r.get(2),
            deferrable: r.get(3),
            columns: r.get(4),
            ref_columns: r.get(5),
        })
        .collect();
    // Keys a run set aside while it loads are still the target's keys (those into this schema).
    fks.extend(
        crate::state::deferred_fks(client)
            .await?
            .into_iter()
            .filter(|d| d.ref_schema.as_deref().unwrap_or(schema) == schema)
            .map(|d| ForeignKey {
                name: d.name,
                table: d.table,
                columns: vec![d.column],
                ref_table: d.ref_table,
                ref_columns: vec![d.ref_column],
                deferrable: d.deferrable,
            }),
    );
    Ok(fks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(qualified("public", "t"), "\"public\".\"t\"");
        assert_eq!(literal("it's"), "'it''s'");
    }
}
