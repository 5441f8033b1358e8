//! The run lock on MySQL/MariaDB: `GET_LOCK` (see [`crate::sink::lock`]).

use mysql::Conn;
use mysql::prelude::Queryable;

use super::MyConnect;
use crate::error::Result;

/// `GET_LOCK` names are at most 64 characters: a hash of the lock's name.
fn lock_key(name: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(name.as_bytes());
    let hex: String = h.iter().take(24).map(|b| format!("{b:02x}")).collect();
    format!("rowflow:{hex}")
}

/// Take the lock `name` on a connection of its own, kept for the run.
pub(crate) fn lock(
    url: &str,
    name: &str,
    what: &str,
    wait: bool,
    waiting: &mut dyn FnMut(&str),
    stop: &std::sync::atomic::AtomicBool,
) -> Result<(Conn, String, u64)> {
    let connect = MyConnect::parse(url)?;
    let mut conn = connect.connect()?;
    let key = lock_key(name);
    let err = |e: mysql::Error| connect.error(&e, "taking the lock of this load");
    // The connection idles for the whole run: the server must not close it (and release
    // the lock) after wait_timeout. A year is the most MySQL and MariaDB take.
    conn.query_drop("SET SESSION wait_timeout = 31536000")
        .map_err(err)?;
    let id: u64 = conn
        .query_first("SELECT CONNECTION_ID()")
        .map_err(err)?
        .unwrap_or_default();
    let conn = std::cell::RefCell::new(conn);
    let try_once = || -> Result<bool> {
        let got: Option<Option<i64>> = conn
            .borrow_mut()
            .exec_first("SELECT GET_LOCK(?, 0)", (key.clone(),))
            .map_err(err)?;
        Ok(got.flatten() == Some(1))
    };
    let holder = || -> Result<String> {
        let holder: Option<(u64, String, u64)> = conn
            .borrow_mut()
            .exec_first(
                "SELECT ID, HOST, TIME FROM information_schema.PROCESSLIST WHERE ID = IS_USED_LOCK(?)",
                (key.clone(),),
            )
            .map_err(err)?;
        Ok(holder.map_or_else(
            || "another rowflow run".to_string(),
            |(id, host, idle)| format!("server connection {id} from {host}, idle for {idle} s"),
        ))
    };
    crate::sink::lock::protocol::take(try_once, holder, what, wait, waiting, stop)?;
    Ok((conn.into_inner(), key, id))
}
