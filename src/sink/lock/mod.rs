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

use std::sync::atomic::AtomicBool;

pub(crate) mod check;
pub(crate) mod protocol;

pub use check::LockCheck;
pub(crate) use check::LockHandle;

use super::SinkTarget;
use crate::error::Result;

/// A held lock; dropping it releases it.
pub struct LoadLock {
    held: Option<LockHandle>,
    check: LockCheck,
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
