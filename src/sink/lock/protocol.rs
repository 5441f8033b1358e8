//! The protocol every database's run lock follows (try; refuse naming the holder, or
//! wait), and who this process is for the other run's message.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// How often a wait for another run looks again (and at the stop flag).
pub(crate) const POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// `Err(Interrupted)` once `stop` is set.
pub(crate) fn stopped(stop: &AtomicBool) -> Result<()> {
    if stop.load(Ordering::Relaxed) {
        return Err(Error::Interrupted(
            "stopped while waiting for the other run".into(),
        ));
    }
    Ok(())
}

/// The protocol every database's lock follows: try once; when another run holds it,
/// refuse naming it (`holder`), or, with `wait`, say so once and try again every
/// [`POLL`] until the lock is got or `stop` is set. `what` names the load in messages.
pub(crate) fn take(
    mut try_once: impl FnMut() -> Result<bool>,
    holder: impl FnOnce() -> Result<String>,
    what: &str,
    wait: bool,
    waiting: &mut dyn FnMut(&str),
    stop: &AtomicBool,
) -> Result<()> {
    if try_once()? {
        return Ok(());
    }
    let holder = holder()?;
    if !wait {
        return Err(busy(what, &holder));
    }
    waiting(&format!(
        "waiting for the other run of {what} to end ({holder})"
    ));
    loop {
        stopped(stop)?;
        std::thread::sleep(POLL);
        if try_once()? {
            return Ok(());
        }
    }
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
