//! The run lock on PostgreSQL: a session advisory lock (see [`crate::sink::lock`]).

use postgres::Client;

use super::conn::PgConnect;
use crate::error::Result;

/// The holder of the advisory lock on `name`, as its session describes itself.
const HOLDER_SQL: &str = "SELECT coalesce(a.application_name, 'another session'), \
     coalesce(host(a.client_addr), 'a local socket'), \
     coalesce(to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '?'), \
     a.pid \
     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
       AND l.classid = ((hashtextextended($1, 0) >> 32) & 4294967295)::oid \
       AND l.objid = (hashtextextended($1, 0) & 4294967295)::oid";

/// Take the lock `name` on a connection of its own, kept for the run.
pub(crate) fn lock(
    url: &str,
    name: &str,
    what: &str,
    wait: bool,
    waiting: &mut dyn FnMut(&str),
    stop: &std::sync::atomic::AtomicBool,
) -> Result<(Client, i32)> {
    let connect = PgConnect::parse(url)?;
    let mut client = connect.connect()?;
    let err = |e: postgres::Error| connect.error(&e, "taking the lock of this load");
    // Who holds it, for the other run's message (63 bytes at most are kept).
    let mut me = format!(
        "rowflow pid {} on {}",
        std::process::id(),
        crate::sink::lock::protocol::hostname()
    );
    while me.len() > 63 {
        me.pop();
    }
    client
        .execute("SELECT set_config('application_name', $1, false)", &[&me])
        .map_err(err)?;
    // The connection idles for the whole run: a server that closes idle sessions would
    // release the lock under it (PostgreSQL 14+; older servers have no such timeout).
    for setting in [
        "idle_session_timeout",
        "idle_in_transaction_session_timeout",
    ] {
        let _ = client.execute("SELECT set_config($1, '0', false)", &[&setting]);
    }
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .map_err(err)?
        .get(0);
    let client = std::cell::RefCell::new(client);
    let try_once = || -> Result<bool> {
        Ok(client
            .borrow_mut()
            .query_one(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                &[&name],
            )
            .map_err(err)?
            .get(0))
    };
    let holder = || -> Result<String> {
        Ok(client
            .borrow_mut()
            .query_opt(HOLDER_SQL, &[&name])
            .map_err(err)?
            .map(|r| {
                format!(
                    "{} from {}, connected since {} (server process {})",
                    r.get::<_, String>(0),
                    r.get::<_, String>(1),
                    r.get::<_, String>(2),
                    r.get::<_, i32>(3)
                )
            })
            .unwrap_or_else(|| "another rowflow run".into()))
    };
    crate::sink::lock::protocol::take(try_once, holder, what, wait, waiting, stop)?;
    Ok((client.into_inner(), pid))
}

/// Whether session `pid` still holds the advisory lock `name` (checked by a writer in its
/// transaction, before it commits).
pub(crate) const HELD_SQL: &str = "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
     AND granted AND pid = $2 AND objsubid = 1 \
     AND classid = ((hashtextextended($1, 0) >> 32) & 4294967295)::oid \
     AND objid = (hashtextextended($1, 0) & 4294967295)::oid)";
