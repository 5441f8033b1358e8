//! Fatal errors. Per-row problems are not errors here: they are [`crate::row::Rejected`]
//! values that go to the error policy (reject file, skip, fail).

use std::path::PathBuf;

/// Result alias for fatal errors.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A fatal error: the run cannot start or cannot go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The pipeline file or the options are invalid.
    #[error("{0}")]
    Config(String),
    /// The plan failed validation; every problem found is listed.
    #[error("the pipeline is not valid:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Plan(Vec<String>),
    /// An input could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An input is not a readable CSV (e.g. headers differ between files).
    #[error("{file}: {message}")]
    Input {
        /// The file involved.
        file: String,
        /// What is wrong, with line numbers where known.
        message: String,
    },
    /// The destination failed (connection, DDL, commit). URLs are redacted.
    #[error("sink {target}: {message}")]
    Sink {
        /// The redacted destination.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// The connection to the destination failed (lost, refused, server restarting).
    /// The runtime reconnects and retries; this is fatal only once that has failed for
    /// the sink's `reconnect_timeout`.
    #[error("sink {target}: connection failed: {message}")]
    Connection {
        /// The redacted destination.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// A row error under `on_error = "fail"`, or more than `max_errors` rejected rows.
    #[error("{0}")]
    Aborted(String),
    /// Another run of the same load holds its lock (the message names it).
    #[error("{0}")]
    Busy(String),
    /// Interrupted by Ctrl-C / SIGTERM after committing what was in flight.
    #[error("interrupted: {0}")]
    Interrupted(String),
    /// A user stage (library API) failed in a way that is not a row error.
    #[error("stage {stage}: {message}")]
    Stage {
        /// The stage's name.
        stage: String,
        /// What went wrong.
        message: String,
    },
}

/// What kind of failure an [`Error`] is: for callers that branch on it without caring
/// about the fields (a Python binding maps it to an exception class, a scheduler decides
/// whether to retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::Config`]: fix the pipeline file or the options.
    Config,
    /// [`Error::Plan`]: the plan failed validation.
    Plan,
    /// [`Error::Io`]: an input could not be opened or read.
    Io,
    /// [`Error::Input`]: an input is not a readable CSV.
    Input,
    /// [`Error::Sink`]: the destination refused (DDL, constraint, permissions).
    Sink,
    /// [`Error::Connection`]: the destination could not be reached for long enough.
    Connection,
    /// [`Error::Aborted`]: the error policy stopped the run.
    Aborted,
    /// [`Error::Busy`]: another run of the same load holds its lock.
    Busy,
    /// [`Error::Interrupted`]: Ctrl-C or SIGTERM, after committing what was in flight.
    Interrupted,
    /// [`Error::Stage`]: a user stage failed outside a row.
    Stage,
}

impl ErrorKind {
    /// True when running the same load again later may succeed without changing
    /// anything (the server was away, another run held the lock, the run was
    /// interrupted): what was committed is kept and the rerun resumes.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Connection | ErrorKind::Busy | ErrorKind::Interrupted
        )
    }
}

impl Error {
    /// The kind of failure.
    ///
    /// ```
    /// use rowflow::{Error, ErrorKind};
    /// let e = Error::Busy("another run of the load holds its lock".into());
    /// assert_eq!(e.kind(), ErrorKind::Busy);
    /// assert!(e.kind().is_transient());
    /// assert!(!Error::Plan(vec!["unknown column".into()]).kind().is_transient());
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) => ErrorKind::Config,
            Error::Plan(_) => ErrorKind::Plan,
            Error::Io { .. } => ErrorKind::Io,
            Error::Input { .. } => ErrorKind::Input,
            Error::Sink { .. } => ErrorKind::Sink,
            Error::Connection { .. } => ErrorKind::Connection,
            Error::Aborted(_) => ErrorKind::Aborted,
            Error::Busy(_) => ErrorKind::Busy,
            Error::Interrupted(_) => ErrorKind::Interrupted,
            Error::Stage { .. } => ErrorKind::Stage,
        }
    }

    /// Shorthand for an I/O error on a path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
