//! The run lock of a SQLite database: `flock` on a file beside it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use crate::error::{Error, Result};
use crate::sink::lock::check::LockCheck;
use crate::sink::lock::protocol::{take, whoami};

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
