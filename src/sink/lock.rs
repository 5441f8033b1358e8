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

use super::SinkTarget;
use crate::error::{Error, Result};

/// A held lock; dropping it releases it.
pub struct LoadLock {
    held: Option<Held>,
}

impl Drop for LoadLock {
    fn drop(&mut self) {
        // The database drivers close their connections with a runtime of their own,
        // which may not start inside the caller's: release on a thread of its own.
        if let Some(held) = self.held.take() {
            let _ = std::thread::spawn(move || drop(held)).join();
        }
    }
}

/// What keeps the lock: dropping it releases it.
enum Held {
    Sqlite { _file: File },
    Postgres { _client: Box<postgres::Client> },
    Mysql { _conn: Box<mysql::Conn> },
}

/// Who this process is, for the other run's message: `pid 123 on host, started ...`.
pub(crate) fn whoami() -> String {
    format!(
        "pid {} on {}, started {}",
        std::process::id(),
        hostname(),
        crate::checkpoint::now_rfc3339()
    )
}

pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer it is given.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return "an unknown host".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The refusal when another run holds the lock.
pub(crate) fn busy(what: &str, holder: &str) -> Error {
    Error::Busy(format!(
        "another run of {what} is in progress ({holder}); it was not started twice. Wait for that \
         run to end, or run with --wait to wait for it"
    ))
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
        let held = match target {
            SinkTarget::Sqlite { path } => Held::Sqlite {
                _file: sqlite_lock(path, what, wait, waiting)?,
            },
            SinkTarget::Postgres { url } => Held::Postgres {
                _client: Box::new(super::postgres::lock(url, name, what, wait, waiting)?),
            },
            SinkTarget::Mysql { url } => Held::Mysql {
                _conn: Box::new(super::mysql::lock(url, name, what, wait, waiting)?),
            },
        };
        Ok(LoadLock { held: Some(held) })
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

fn sqlite_lock(db: &Path, what: &str, wait: bool, waiting: &mut dyn FnMut(&str)) -> Result<File> {
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
    // SAFETY: flock on a descriptor this function owns; no memory is involved.
    let got = unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if !got {
        let mut holder = String::new();
        let _ = (&f).take(512).read_to_string(&mut holder);
        let holder = holder.trim();
        let holder = if holder.is_empty() {
            "another rowflow run".to_string()
        } else {
            holder.to_string()
        };
        if !wait {
            return Err(busy(
                &format!("a load into {} ({what} or another)", db.display()),
                &holder,
            ));
        }
        waiting(&format!(
            "waiting for the run that is loading into {} to end ({holder})",
            db.display()
        ));
        loop {
            // SAFETY: as above; blocking until the holder's descriptor is closed.
            if unsafe { libc::flock(fd, libc::LOCK_EX) } == 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::io(&path, e));
            }
        }
    }
    // Say who holds it, for the next one.
    let me = format!("{what}: {}", whoami());
    let _ = f.set_len(0);
    let _ = f.rewind();
    let _ = f.write_all(me.as_bytes());
    let _ = f.flush();
    Ok(f)
}
