//! The transaction protocol of the server sinks (PostgreSQL, MySQL/MariaDB), written
//! once: a [`Driver`] says how its database does each step, [`ServerSink`] owns the
//! order of the steps and what is kept between them.
//!
//! - **Held rows.** The open transaction's rows stay in the sink ([`Held`]) until it
//!   commits, so that they can be sent again after a lost connection.
//! - **Commit with checkpoint.** `commit` checks that the run still holds the load's
//!   lock (taking it over when its session is gone, unless another run committed
//!   meanwhile), writes the checkpoint row in the same transaction, then `COMMIT`s.
//! - **Commit in doubt.** A connection lost during `COMMIT` leaves its outcome unknown:
//!   `reconnect` ends the lost server session (it may still be committing) and waits
//!   for it, then reads this writer's checkpoint row: the transaction landed if the row
//!   holds its run and number.
//! - **Reconnect and replay.** Otherwise the open transaction is sent again from the
//!   held rows; what an unfinished replay found is kept across attempts.
//!
//! How rows travel (`COPY`, `LOAD DATA`, `INSERT`s, key order, spilling) stays with each
//! driver, as sqlx keeps `COPY` out of its generic traits.

pub(crate) mod held;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use held::{Chunk, Held, encoded_rows, held_key_order, take_keys};

use super::chunks::{ChunkFence, RejectRow};
use super::lock::check::LockCheck;
use super::seam::{Encode, Packed, Sink, SinkOptions, Written};
use crate::checkpoint::CommitRecord;
use crate::error::{Error, Result};
use crate::row::{Batch, Row};

/// How long a lost session may take to end (it may be finishing its `COMMIT`).
const SESSION_END_WAIT: Duration = Duration::from_secs(30);

/// What a driver found when it checked the load's lock before a commit.
pub(crate) enum Hold {
    /// Still held by this run's lock session (or no lock to check).
    Held,
    /// The lock's session was gone; this connection holds the lock now.
    TakenOver,
    /// Another session holds it.
    Lost,
}

/// One server database's side of the protocol: its connection, statements and
/// checkpoint rows, and how it sends held rows.
pub(crate) trait Driver: Send + Sized {
    /// A server session, named so that a lost one can be ended from another
    /// connection (and only that one).
    type Session: Clone + Send;
    /// The statement that opens a transaction.
    const BEGIN: &'static str;

    /// The destination, redacted, for messages.
    fn target(&self) -> &str;
    /// What the sink was asked to do.
    fn opts(&self) -> &SinkOptions;
    /// Prepares rows on the worker threads.
    fn encoder(&self) -> Arc<dyn Encode>;
    /// What opening the sink did that the run should say (see [`Sink::take_notes`]).
    fn take_notes(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// See [`Sink::prepares_first`].
    fn prepares_first(&self) -> bool {
        false
    }
    /// See [`Sink::settle`]; called in an open transaction.
    fn settle(&mut self) -> Result<()> {
        Ok(())
    }
    /// The key columns' indexes in a row.
    fn key_idx(&self) -> &[usize];
    /// A row's encoded form, for rows that did not go through the encoder (none in a
    /// planned run); an error rejects the row.
    fn encode_row(&self, row: &mut Row) -> std::result::Result<Vec<u8>, String>;

    /// Run one plain statement (`sql` names it in an error).
    fn execute(&mut self, sql: &str) -> Result<()>;
    /// What follows `BEGIN` in every transaction (table preparation, staging tables).
    fn prologue(&mut self) -> Result<()> {
        Ok(())
    }
    /// Open a new connection in place of the lost one.
    fn reconnect(&mut self) -> Result<()>;
    /// The current connection's server session.
    fn session(&mut self) -> Option<Self::Session>;
    /// Whether the session `old` is gone.
    fn session_gone(&mut self, old: &Self::Session) -> Result<bool>;
    /// Ask the server to end the session `old` (best effort; [`Driver::session_gone`]
    /// says when it has).
    fn end_session(&mut self, old: &Self::Session);
    /// The session, for messages ("backend 4711").
    fn session_name(old: &Self::Session) -> String;

    /// Whether this run still holds the load's lock described by `check`, taking it
    /// over on this connection when its session is gone.
    fn hold_lock(&mut self, check: &mut LockCheck) -> Result<Hold>;
    /// The runs that left checkpoint rows for this load.
    fn checkpoint_runs(&mut self) -> Result<Vec<String>>;
    /// Delete the checkpoint rows other runs left for this load.
    fn clear_older(&mut self, record: &CommitRecord) -> Result<()>;
    /// In the commit's transaction, for a chunk of a distributed load: who owns the
    /// chunk now, unless this worker does (the owner's row stays locked until the
    /// transaction ends).
    fn check_fence(&mut self, _f: &ChunkFence) -> Result<Option<String>> {
        Ok(None)
    }
    /// In the commit's transaction: a chunk's rejected rows (after deleting an earlier
    /// attempt's, with `clear`).
    fn write_rejects(&mut self, _f: &ChunkFence, _clear: bool, _rows: &[RejectRow]) -> Result<()> {
        Ok(())
    }
    /// Write this writer's checkpoint row.
    fn write_checkpoint(&mut self, record: &CommitRecord) -> Result<()>;
    /// This writer's checkpoint row: its run and transaction number.
    fn own_checkpoint(&mut self) -> Result<Option<(String, i64)>>;

    /// A transaction committed (also one found committed after its connection was lost).
    fn committed(&mut self) -> Result<()> {
        Ok(())
    }
    /// The open transaction's rows are given up (before its `ROLLBACK`).
    fn discard(&mut self) {}
    /// The open transaction was rolled back.
    fn rolled_back(&mut self) {}

    /// Chunk `c` of `tx.held` was just taken in: send it now, or keep it for later.
    fn take(&mut self, tx: &mut Tx<Self>, c: usize, out: &mut Written) -> Result<()>;
    /// Send everything held back.
    fn flush(&mut self, tx: &mut Tx<Self>, out: &mut Written) -> Result<()>;
    /// Send every live row of the open transaction again, on a new connection, in an
    /// open transaction.
    fn replay(&mut self, tx: &mut Tx<Self>, out: &mut Written) -> Result<()>;
}

/// The open transaction: its rows and whether it is open.
pub(crate) struct Tx<D: Driver> {
    /// The open transaction's rows.
    pub held: Held,
    in_tx: bool,
    /// A `COMMIT` whose outcome is unknown (connection lost): its run and transaction
    /// number, and the server session that sent it (which may still be running it).
    in_doubt: Option<(String, u64, Option<D::Session>)>,
    /// The server session of the current connection.
    session: Option<D::Session>,
}

impl<D: Driver> Tx<D> {
    /// Open the transaction (`BEGIN` and the driver's prologue) unless it is open.
    pub fn begin(&mut self, d: &mut D) -> Result<()> {
        if self.in_tx {
            return Ok(());
        }
        d.execute(D::BEGIN)?;
        self.in_tx = true;
        d.prologue()
    }
}

/// A server sink: a [`Driver`] run by the protocol.
pub(crate) struct ServerSink<D: Driver> {
    d: D,
    tx: Tx<D>,
    /// What an unfinished replay found so far (kept across attempts), and what calls
    /// that failed had found before (reported by the replay that follows).
    replayed: Written,
}

impl<D: Driver> ServerSink<D> {
    /// Run `d`, whose connection is open and outside any transaction.
    pub fn new(mut d: D) -> Self {
        let session = d.session();
        ServerSink {
            d,
            tx: Tx {
                held: Held::default(),
                in_tx: false,
                in_doubt: None,
                session,
            },
            replayed: Written::default(),
        }
    }

    /// `out` when `sent` worked; else `out` is kept for the replay that follows a lost
    /// connection, which reports it.
    fn keep_on_error(&mut self, sent: Result<()>, out: Written) -> Result<Written> {
        match sent {
            Ok(()) => Ok(out),
            Err(e) => {
                self.replayed.absorb(out);
                Err(e)
            }
        }
    }

    /// Before a commit: does this run still hold the load's lock? When its session is
    /// gone (a server restart, a closed session), this connection takes the lock over,
    /// unless another run holds it now, or committed to this load while it was free:
    /// then the run stops before it commits.
    fn check_lock(&mut self) -> Result<()> {
        let shared = self.d.opts().lock.clone();
        let mut check = shared.lock().unwrap_or_else(|p| p.into_inner());
        let lost = |d: &D, how: &str| super::lock::check::lost(d.target(), how);
        match self.d.hold_lock(&mut check)? {
            Hold::Held => Ok(()),
            Hold::Lost => Err(lost(&self.d, super::lock::check::SESSION_CLOSED)),
            Hold::TakenOver => {
                let runs = self.d.checkpoint_runs()?;
                let known = &self.d.opts().known_runs;
                if runs.iter().any(|r| !known.contains(r)) {
                    return Err(lost(
                        &self.d,
                        "another run of the load committed while its session was gone",
                    ));
                }
                Ok(())
            }
        }
    }

    /// End the lost session `old` and wait until it is gone.
    fn end_lost_session(&mut self, old: &D::Session) -> Result<()> {
        let d = &mut self.d;
        let gone = wait_session_end(
            |d: &mut D| d.session_gone(old),
            |d: &mut D| d.end_session(old),
            d,
            SESSION_END_WAIT,
        )?;
        if gone {
            return Ok(());
        }
        Err(Error::Connection {
            target: d.target().to_string(),
            message: format!(
                "the lost session ({}) is still running its COMMIT",
                D::session_name(old)
            ),
        })
    }
}

/// End a lost session and wait until it is gone: true once `gone` says so, false after
/// `wait`. A session already gone is not ended again.
pub(crate) fn wait_session_end<C>(
    mut gone: impl FnMut(&mut C) -> Result<bool>,
    end: impl FnOnce(&mut C),
    conn: &mut C,
    wait: Duration,
) -> Result<bool> {
    if gone(conn)? {
        return Ok(true);
    }
    end(conn);
    let t0 = Instant::now();
    while !gone(conn)? {
        if t0.elapsed() > wait {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(true)
}

impl<D: Driver> Sink for ServerSink<D> {
    fn encoder(&self) -> Option<Arc<dyn Encode>> {
        Some(self.d.encoder())
    }

    fn take_notes(&mut self) -> Vec<String> {
        self.d.take_notes()
    }

    fn prepares_first(&self) -> bool {
        self.d.prepares_first()
    }

    fn write(&mut self, batch: &mut Batch) -> Result<Written> {
        let mut out = Written {
            spent: self.tx.held.take_spent(),
            ..Written::default()
        };
        // Key values: taken out by the encoder, or (rows encoded just now) here.
        let packed = Packed::take(batch);
        let mut keys = packed.keys;
        if packed.rows.len() != batch.rows.len() {
            keys.clear();
        }
        let d = &self.d;
        let (rows, tuples) = encoded_rows(
            std::mem::take(&mut batch.rows),
            packed.rows,
            &mut out,
            |row| {
                let t = d.encode_row(row)?;
                take_keys(row, d.key_idx(), &mut keys);
                Ok(Some(t))
            },
        );
        if rows.is_empty() {
            return Ok(out);
        }
        let c = self.tx.held.push_keyed(rows, tuples, keys);
        let sent = self.d.take(&mut self.tx, c, &mut out);
        self.keep_on_error(sent, out)
    }

    fn flush(&mut self) -> Result<Written> {
        let mut out = Written {
            spent: self.tx.held.take_spent(),
            ..Written::default()
        };
        let sent = self.d.flush(&mut self.tx, &mut out);
        self.keep_on_error(sent, out)
    }

    fn prepare(&mut self) -> Result<()> {
        if !self.d.prepares_first() {
            return Ok(());
        }
        // The preparation is the first transaction's prologue; nothing else goes in it.
        self.tx.begin(&mut self.d)?;
        self.d.execute("COMMIT")?;
        self.tx.in_tx = false;
        self.d.committed()
    }

    fn settle(&mut self) -> Result<()> {
        if self.tx.in_tx {
            self.d.settle()
        } else {
            Ok(())
        }
    }

    fn commit(&mut self, record: &CommitRecord) -> Result<()> {
        // The record is written even with no rows (the last commit marks the load
        // complete).
        self.tx.begin(&mut self.d)?;
        // First, before this transaction clears older rows: after a lock taken over,
        // another run's rows are the sign that it committed meanwhile.
        self.check_lock()?;
        // A chunk of a distributed load: still this worker's? (Its rejects go with it.)
        if let Some(f) = self.d.opts().fence.clone() {
            if let Some(owner) = self.d.check_fence(&f)? {
                return Err(super::chunks::fenced(self.d.target(), &f, &owner));
            }
            self.d
                .write_rejects(&f, record.clear_older, &record.rejects)?;
        }
        if record.clear_older {
            self.d.clear_older(record)?;
        }
        self.d.write_checkpoint(record)?;
        self.tx.in_doubt = Some((record.run_id.clone(), record.txn, self.tx.session.clone()));
        self.d.execute("COMMIT")?;
        self.tx.in_doubt = None;
        self.tx.in_tx = false;
        self.tx.held.clear();
        self.d.committed()
    }

    fn rollback(&mut self) -> Result<()> {
        self.tx.held.clear();
        self.d.discard();
        if self.tx.in_tx {
            self.tx.in_tx = false;
            self.d.execute("ROLLBACK")?;
        }
        self.d.rolled_back();
        Ok(())
    }

    fn release(&mut self) -> Result<bool> {
        if !self.tx.in_tx || self.tx.in_doubt.is_some() {
            return Ok(false);
        }
        // The rows stay held: `reconnect` sends them again in a new transaction.
        self.tx.in_tx = false;
        self.d.execute("ROLLBACK")?;
        Ok(true)
    }

    fn reconnect(&mut self) -> Result<Written> {
        self.d.reconnect()?;
        self.tx.session = self.d.session();
        self.tx.in_tx = false;
        if let Some((run_id, txn, old)) = self.tx.in_doubt.clone() {
            // The session that sent the COMMIT may still be finishing it (the server has
            // not noticed the connection is gone): end it and wait, so that what the
            // checkpoint says is final. It stays in doubt until then: a failure here
            // leaves that same session to wait for on the next attempt.
            if let Some(old) = &old {
                self.end_lost_session(old)?;
            }
            let own = self.d.own_checkpoint()?;
            if own.is_some_and(|(r, t)| r == run_id && t == txn as i64) {
                // The commit happened before the connection was lost.
                self.tx.held.clear();
                self.d.committed()?;
                self.tx.in_doubt = None;
                return Ok(std::mem::take(&mut self.replayed));
            }
            // Known now: it did not (a failure above keeps it in doubt for the next try).
            self.tx.in_doubt = None;
        }
        self.tx.begin(&mut self.d)?;
        let mut out = std::mem::take(&mut self.replayed);
        let sent = self.d.replay(&mut self.tx, &mut out);
        self.replayed = out;
        sent?;
        Ok(std::mem::take(&mut self.replayed))
    }
}
