//! The engine's typed failure: what went wrong, and of which kind. The kind decides the exit
//! code a command-line front end returns (the engine itself never exits).

/// The family a failure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A bad command line or plan: nothing was started.
    Plan,
    /// The plan does not fit the databases or the plugins (`host check` problems).
    Check,
    /// A database could not be reached, or another command holds the target.
    Connect,
    /// A table did not finish; what it committed stays.
    TableFailed,
    /// The migrated data does not pass validation.
    Validate,
}

impl ErrorKind {
    /// The exit code a command-line front end returns for this kind (`host --help` lists
    /// them; 1 is left for failures of no kind).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Plan => 2,
            ErrorKind::Check => 3,
            ErrorKind::Connect => 4,
            ErrorKind::TableFailed => 5,
            ErrorKind::Validate => 6,
        }
    }
}

/// A failure with its kind and a message that says what to do next.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn plan(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Plan, message)
    }
    pub fn check(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Check, message)
    }
    pub fn connect(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Connect, message)
    }
    pub fn table_failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TableFailed, message)
    }
    pub fn validate(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Validate, message)
    }

    /// The kind of `err` when it is (or wraps) an engine [`Error`].
    pub fn kind_of(err: &anyhow::Error) -> Option<ErrorKind> {
        err.downcast_ref::<Error>().map(|e| e.kind)
    }
}
