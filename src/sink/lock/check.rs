//! What a sink keeps of the run lock to check it before each commit, and the error when
//! it was lost. A leaf: every backend and the server protocol use it.

use std::path::PathBuf;

use crate::error::Error;

/// What a run lock keeps open (a file, a connection); dropping it releases the lock.
pub(crate) type LockHandle = Box<dyn Send>;

/// How a sink checks, in every transaction before it commits, that its run still holds
/// the load's lock. The lock's session can be closed under a run (an idle timeout, a
/// proxy, an administrator); another run could then start the same load: the first one's
/// next commit fails instead of both loading the same rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LockCheck {
    /// Nothing to check (no lock taken: `check`, library plans run without one).
    #[default]
    None,
    /// The lock file still is the file this run locked.
    Sqlite {
        /// The lock file.
        path: PathBuf,
        /// Its device and inode when locked.
        id: (u64, u64),
    },
    /// The session `pid` still holds the advisory lock `name`.
    Postgres {
        /// The lock's name.
        name: String,
        /// The holding session's server process.
        pid: i32,
    },
    /// The connection `conn` still holds `GET_LOCK(key)`.
    Mysql {
        /// The lock's key.
        key: String,
        /// The holding connection's id.
        conn: u64,
    },
}

/// The error when the check fails; `how` says how the lock went.
pub(crate) fn lost(target: &str, how: &str) -> Error {
    Error::Sink {
        target: target.to_string(),
        message: format!(
            "the lock of this load was lost ({how}): this run stopped before its commit, so \
             that another run of the load cannot write the same rows too; run again to resume"
        ),
    }
}

/// How a server's lock goes.
pub(crate) const SESSION_CLOSED: &str =
    "its database session was closed: an idle timeout, a proxy, or an administrator";
