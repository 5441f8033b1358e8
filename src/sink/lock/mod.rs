//! One run per load at a time: a named lock that the database releases by itself when
//! its holder dies (a crash, `kill -9`, a lost connection), held for a whole run.
//!
//! - SQLite: `flock` on a file beside the database (`<database>.rowflow-lock`), for the
//!   whole database: SQLite has one writer at a time, so a second load into the same file
//!   would only wait on the first one's transactions (and fail after its busy timeout).
//! - PostgreSQL: a session advisory lock on the name, on a connection kept for the run;
//!   the holder's `application_name` says who it is.
//! - MySQL/MariaDB: `GET_LOCK` on (a hash of) the name, on a connection kept for the run.
//!
//! Locks are named, so that a distributed load can lock a chunk rather than a load;
//! `rowflow checkpoints clear` takes the same lock as a run.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

pub(crate) mod protocol;

use protocol::{take, whoami};

use super::SinkTarget;
use super::backend::LockHandle;
use crate::error::{Error, Result};

/// A held lock; dropping it releases it.
pub struct LoadLock {
    held: Option<LockHandle>,
    check: LockCheck,
}

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
    super::sink_err(
        target,
        format!(
            "the lock of this load was lost ({how}): this run stopped before its commit, so \
             that another run of the load cannot write the same rows too; run again to resume"
        ),
    )
}

/// How a server's lock goes.
pub(crate) const SESSION_CLOSED: &str =
    "its database session was closed: an idle timeout, a proxy, or an administrator";

impl Drop for LoadLock {
    fn drop(&mut self) {
        // The database drivers close their connections with a runtime of their own,
        // which may not start inside the caller's: release on a thread of its own.
        if let Some(held) = self.held.take() {
            let _ = std::thread::spawn(move || drop(held)).join();
        }
    }
}

impl LoadLock {
    /// Take the lock `name` at `target` for the load described as `what` (for messages).
    /// Without `wait`, a lock another run holds is refused with [`Error::Busy`] naming
    /// that run; with it, `waiting` is told once and the call blocks until the lock is
    /// free.
    pub fn acquire(
        target: &SinkTarget,
        name: &str,
        what: &str,
        wait: bool,
        waiting: &mut dyn FnMut(&str),
    ) -> Result<LoadLock> {
        Self::acquire_until(target, name, what, wait, waiting, &AtomicBool::new(false))
    }

    /// [`LoadLock::acquire`], giving up a wait with [`Error::Interrupted`] once `stop` is
    /// set (Ctrl-C while waiting for another run).
    pub fn acquire_until(
        target: &SinkTarget,
        name: &str,
        what: &str,
        wait: bool,
        waiting: &mut dyn FnMut(&str),
        stop: &AtomicBool,
    ) -> Result<LoadLock> {
        let (held, check) = target.backend().lock(name, what, wait, waiting, stop)?;
        Ok(LoadLock {
            held: Some(held),
            check,
        })
    }

    /// How a sink checks that this lock is still held.
    pub fn check(&self) -> LockCheck {
        self.check.clone()
    }
}

/// The lock file of a SQLite database (beside the file itself: a database reached
/// through a link or another spelling of its path has the same lock).
pub fn sqlite_lock_path(db: &Path) -> PathBuf {
    let db = std::fs::canonicalize(db).unwrap_or_else(|_| db.to_path_buf());
    let mut p = db.as_os_str().to_owned();
    p.push(".rowflow-lock");
    PathBuf::from(p)
}

/// Whether the SQLite lock file is still the one locked (see [`LockCheck::Sqlite`]).
pub(crate) fn sqlite_lock_held(path: &Path, id: (u64, u64)) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == id)
}

pub(crate) fn sqlite_lock(
    db: &Path,
    what: &str,
    wait: bool,
    waiting: &mut dyn FnMut(&str),
    stop: &AtomicBool,
) -> Result<(File, LockCheck)> {
    use std::io::{Read, Seek, Write};
    use std::os::unix::io::AsRawFd;
    let path = sqlite_lock_path(db);
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let fd = f.as_raw_fd();
    let try_once = || {
        // SAFETY: flock on a descriptor this function owns; no memory is involved.
        if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted => Ok(false),
            _ => Err(Error::io(&path, e)),
        }
    };
    let holder = || {
        let mut holder = String::new();
        let _ = (&f).take(512).read_to_string(&mut holder);
        let holder = holder.trim();
        Ok(if holder.is_empty() {
            "another rowflow run".to_string()
        } else {
            holder.to_string()
        })
    };
    // The lock is the whole database's: the message names it so.
    let whole = format!("a load into {} ({what} or another)", db.display());
    take(try_once, holder, &whole, wait, waiting, stop)?;
    // Say who holds it, for the next one.
    let me = format!("{what}: {}", whoami());
    let _ = f.set_len(0);
    let _ = f.rewind();
    let _ = f.write_all(me.as_bytes());
    let _ = f.flush();
    let meta = f.metadata().map_err(|e| Error::io(&path, e))?;
    let check = {
        use std::os::unix::fs::MetadataExt;
        LockCheck::Sqlite {
            path: path.clone(),
            id: (meta.dev(), meta.ino()),
        }
    };
    Ok((f, check))
}
