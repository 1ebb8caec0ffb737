//! PostgreSQL plumbing shared by every command: connecting, quoting, reading the catalog.

use std::collections::BTreeMap;

use anyhow::Context;
use tokio_postgres::{Client, NoTls};

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

/// A URL fit for logs and errors: the password replaced by `***`.
pub fn redact(url: &str) -> String {
    mask_password_param(&redact_authority(url))
}

fn redact_authority(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => {
            format!(
                "{}{}:***{}",
                &url[..scheme_end + 3],
                &authority[..colon],
                &rest[at..]
            )
        }
        _ => url.to_string(),
    }
}

/// `password=...` in a query string or a key=value connection string.
fn mask_password_param(s: &str) -> String {
    let Some(start) = s.find("password=") else {
        return s.to_string();
    };
    let value_start = start + "password=".len();
    let value_end = s[value_start..]
        .find(['&', ' '])
        .map_or(s.len(), |i| value_start + i);
    format!("{}***{}", &s[..value_start], &s[value_end..])
}

/// Connects and drives the connection on a background task.
pub async fn connect(url: &str, side: Side) -> anyhow::Result<Client> {
    let shown = redact(url);
    let config: tokio_postgres::Config = url.parse().map_err(|e| {
        anyhow::anyhow!("the {side} URL {shown} is not a valid PostgreSQL URL: {e}")
    })?;
    let mut config = config;
    config.application_name(format!("host-{side}"));
    let (client, connection) = config.connect(NoTls).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot connect to the {side} database {shown}: {}\n  hint: {} \
             Override the plan's URL with --{side} or MIGRATE_{}_URL",
            error_text_only(&e),
            connect_hint(&e),
            side.to_string().to_uppercase()
        )
    })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "connection closed");
        }
    });
    // Text output the transforms can rely on whatever the server's settings are.
    client
        .batch_execute("SET DateStyle = ISO; SET IntervalStyle = iso_8601; SET TimeZone = 'UTC'; SET extra_float_digits = 3; SET client_encoding = 'UTF8'; SET client_min_messages = warning")
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

const LOST_HINT: &str = "the connection was lost (server restarted or stopped, backend terminated, network cut); the batch in flight was not committed. \
     When the server is back, run `host run` again: it resumes after the last committed batch";

/// An error chain as one message, with what a lost connection means for the run when the
/// chain holds one and does not say it yet.
pub fn explain(err: &anyhow::Error) -> String {
    let text = format!("{err:#}");
    let lost = err.chain().any(|e| {
        e.downcast_ref::<tokio_postgres::Error>()
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
            "SELECT c.relname, a.attname, a.atttypid::oid, t.typname,
                    CASE WHEN t.typname IN ('varchar','bpchar') AND a.atttypmod > 0 THEN a.atttypmod - 4 END,
                    a.attnotnull, a.atthasdef,
                    CASE WHEN t.typtype = 'e' THEN
                        (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)
                    END,
                    CASE WHEN t.typname = 'numeric' AND a.atttypmod > 0 THEN ((a.atttypmod - 4) >> 16) & 65535 END,
                    CASE WHEN t.typname = 'numeric' AND a.atttypmod > 0 THEN (((a.atttypmod - 4) & 2047) # 1024) - 1024 END
             FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             JOIN pg_type t ON t.oid = a.atttypid
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
             ORDER BY c.relname, a.attnum",
            &[&schema],
        )
        .await
        .context("reading the catalog")?;
    let mut out: BTreeMap<String, TableInfo> = BTreeMap::new();
    for r in rows {
        let table: String = r.get(0);
        out.entry(table)
            .or_insert_with(|| TableInfo {
                columns: Vec::new(),
            })
            .columns
            .push(Column {
                name: r.get(1),
                type_oid: r.get(2),
                type_name: r.get(3),
                max_chars: r.get(4),
                not_null: r.get(5),
                has_default: r.get(6),
                enum_labels: r.get(7),
                numeric_precision: r.get::<_, Option<i32>>(8).zip(r.get::<_, Option<i32>>(9)),
            });
    }
    Ok(out)
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
        crate::deferred::deferred_fks(client)
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
    fn passwords_never_show() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("postgres://h/db?password=x&a=b"),
            "postgres://h/db?password=***&a=b"
        );
        assert_eq!(
            redact("host=h password=pw user=u"),
            "host=h password=*** user=u"
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(qualified("public", "t"), "\"public\".\"t\"");
    }
}
