//! The seam between the runtime and the destinations: what a sink is asked to do
//! ([`SinkOptions`]), what it does ([`Sink`], [`Encode`]) and says ([`Written`],
//! [`TableStatus`]), and the helpers every backend shares (key order, errors). A leaf of
//! `sink`: the backends import it, it imports none of them.

use std::sync::Arc;

use super::lock::check::LockCheck;
use crate::checkpoint::CommitRecord;
use crate::config::WriteMode;
use crate::error::Result;
use crate::row::Batch;
use crate::schema::Schema;

/// What a sink is asked to do.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// Table name (one identifier; quoted as written).
    pub table: String,
    /// The rows' schema.
    pub schema: Schema,
    /// Write mode.
    pub mode: WriteMode,
    /// Key columns (primary key of a created table; upsert conflict target).
    pub key: Vec<String>,
    /// Empty an existing table first.
    pub truncate: bool,
    /// Add the pipeline's columns an existing table lacks, before loading.
    pub alter: bool,
    /// The run resumes an interrupted one: the table is as that run left it.
    pub resuming: bool,
    /// Rows sorted in memory per run spilled to a temporary file (keyed tables of SQLite
    /// and MySQL); `None`: the sink's default.
    pub sort_run_rows: Option<usize>,
    /// The load's lock, checked in every transaction before it commits (shared by the
    /// writers: one that takes the lock over after a server restart tells the others).
    pub lock: SharedLock,
    /// The runs whose checkpoint rows this load had when this run started, and this
    /// run: after taking the lock over (a server restart), a row of any other run means
    /// another run of the load committed meanwhile, and this one must stop.
    pub known_runs: Vec<String>,
    /// A chunk of a distributed load: every commit checks that this worker still owns
    /// it, and writes the transaction's rejects into the rejects table.
    pub fence: Option<super::chunks::ChunkFence>,
}

/// A [`LockCheck`] the writers of a run share.
pub type SharedLock = Arc<std::sync::Mutex<LockCheck>>;

/// Rows written by a call, and rows the database refused (with its message).
#[derive(Debug, Default)]
pub struct Written {
    /// Rows written into the open transaction.
    pub rows: u64,
    /// Rows refused, with the reason.
    pub rejected: Vec<crate::row::Rejected>,
    /// Rows reported written by an earlier call that a replay after a reconnection
    /// refused (they are in `rejected` now).
    pub revoked: u64,
    /// Rows the sink is done with. Freeing rows costs real time (they hold many small
    /// allocations made on other threads); the runtime drops them off the sink thread.
    pub spent: Vec<Vec<crate::row::Row>>,
}

impl Written {
    /// Add another call's result to this one.
    pub fn absorb(&mut self, other: Written) {
        self.rows += other.rows;
        self.rejected.extend(other.rejected);
        self.revoked += other.revoked;
        self.spent.extend(other.spent);
    }
}

/// Prepares rows for a sink on the worker threads, as the run's last CPU step, so that
/// the sink thread (the critical path) does as little as possible: the sink's own
/// encoding goes into [`Batch::encoded`], and failing rows into `batch.rejected`.
pub trait Encode: Send + Sync {
    /// A short description, for plans.
    fn describe(&self) -> String;
    /// Encode the rows of `batch`.
    fn encode(&self, batch: &mut Batch);
}

/// Rows a server sink's encoder packed (PostgreSQL `COPY` tuples, MySQL `LOAD DATA`
/// lines), one per row, with the key values taken out of the rows (the sink sorts by
/// them; the rows keep no values then).
pub(crate) struct Packed {
    /// The encoded rows, back to back.
    pub rows: crate::row::PackedRows,
    /// The rows' key values, in key order, back to back.
    pub keys: Vec<crate::row::Value>,
}

impl Packed {
    /// What `batch`'s encoder packed (nothing when its rows came unencoded).
    pub(crate) fn take(batch: &mut Batch) -> Packed {
        batch
            .encoded
            .take()
            .and_then(crate::row::Encoded::take::<Packed>)
            .unwrap_or(Packed {
                rows: crate::row::PackedRows::default(),
                keys: Vec::new(),
            })
    }
}

/// A destination for rows.
///
/// A sink may write rows at once or hold some back (e.g. to sort them by key); every
/// row taken by `write` is written or refused by the time `flush` returns. The runtime
/// calls `flush`, looks at what was refused (the error policy may roll back), then
/// `commit`, which writes the [`CommitRecord`] in the same transaction.
///
/// Connections that fail: when `write`, `flush` or `commit` returns
/// [`Error::Connection`](crate::error::Error::Connection), the sink has kept everything
/// its open transaction needs, including the batch given to the failed `write`. The
/// runtime then calls `reconnect` (with backoff) until it succeeds, and retries a
/// failed `commit`.
pub trait Sink: Send {
    /// What prepares rows for this sink on the worker threads (see [`Encode`]).
    fn encoder(&self) -> Option<Arc<dyn Encode>> {
        None
    }
    /// What opening the sink did that the run should say in its notes (columns added
    /// with `alter`), once.
    fn take_notes(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// Whether this sink prepares the table (creates, replaces or empties it) in its
    /// first transaction, so that a run failing before that commit leaves the table as
    /// it was: the other writers of the run get no rows until it has committed.
    fn prepares_first(&self) -> bool {
        false
    }
    /// Prepare the table now, in a transaction of its own, when `prepares_first` (a
    /// distributed load prepares it once before any chunk loads).
    fn prepare(&mut self) -> Result<()> {
        Ok(())
    }
    /// Take the rows of `batch` into the open transaction (opening one if needed).
    fn write(&mut self, batch: &mut Batch) -> Result<Written>;
    /// Write everything held back.
    fn flush(&mut self) -> Result<Written>;
    /// Before the commit (after `flush`): run the checks the database would leave to
    /// `COMMIT` (deferred constraints), so that a check that waits for another writer's
    /// open transaction waits here, not during the commit, which writers take turns at.
    fn settle(&mut self) -> Result<()> {
        Ok(())
    }
    /// Commit the open transaction, if any (after `flush`), with `record` written in
    /// the same transaction.
    fn commit(&mut self, record: &CommitRecord) -> Result<()>;
    /// Roll back the open transaction, if any.
    fn rollback(&mut self) -> Result<()>;
    /// Give up the open transaction in the database (releasing its locks) but keep its
    /// rows, to be replayed by `reconnect`. Returns false when there is nothing to give
    /// up (no open transaction, a commit in doubt, or a sink that cannot replay).
    fn release(&mut self) -> Result<bool> {
        Ok(false)
    }
    /// After a connection error: connect again, find out whether an interrupted
    /// `commit` took effect, and otherwise replay the open transaction. Returns what
    /// the replay wrote or refused: rows of an interrupted `write` count as written
    /// now; rows reported before that are refused now are `revoked`.
    fn reconnect(&mut self) -> Result<Written> {
        Err(crate::error::Error::Stage {
            stage: "sink".into(),
            message: "this sink cannot reconnect".into(),
        })
    }
}

/// What `check` learns about the destination without writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableStatus {
    /// The table does not exist and will be created.
    Missing,
    /// The table exists and is compatible.
    Compatible,
    /// The table exists and will be dropped and recreated (`replace`).
    WillReplace,
    /// The table exists and takes the rows once these columns are added (`alter`).
    WillAddColumns(Vec<String>),
}

/// The stable order of `n` rows by their key columns (`values(i)` gives row `i`'s
/// values): the row indexes, sorted. Among equal keys the input order stays (with a
/// primary key the first occurrence is inserted, with upsert the last wins). A single
/// integer key (the common case) sorts as plain integers, several times faster than
/// comparing values.
pub(crate) fn key_order<'a>(
    n: usize,
    values: impl Fn(usize) -> &'a [crate::row::Value],
    key_idx: &[usize],
) -> Vec<usize> {
    if let &[k] = key_idx {
        let ints: Option<Vec<(i64, usize)>> = (0..n)
            .map(|i| match values(i).get(k) {
                Some(crate::row::Value::Int(x)) => Some((*x, i)),
                _ => None,
            })
            .collect();
        if let Some(mut ints) = ints {
            // (key, index) pairs are all distinct, so an unstable sort keeps equal keys
            // in input order.
            ints.sort_unstable();
            return ints.into_iter().map(|(_, i)| i).collect();
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| key_cmp(values(a), values(b), key_idx));
    order
}

/// Order two rows by their key columns (values of one column have one type; NULL
/// first, floats by their total order).
pub(crate) fn key_cmp(
    a: &[crate::row::Value],
    b: &[crate::row::Value],
    key_idx: &[usize],
) -> std::cmp::Ordering {
    use crate::row::Value as V;
    use std::cmp::Ordering;
    for &k in key_idx {
        let o = match (a.get(k), b.get(k)) {
            (Some(V::Int(x)), Some(V::Int(y))) => x.cmp(y),
            (Some(V::Text(x)), Some(V::Text(y))) => x.cmp(y),
            (Some(V::Float(x)), Some(V::Float(y))) => x.total_cmp(y),
            (Some(V::Decimal(x)), Some(V::Decimal(y))) => x.cmp(y),
            (Some(V::Date(x)), Some(V::Date(y))) => x.cmp(y),
            (Some(V::Timestamp(x)), Some(V::Timestamp(y))) => x.cmp(y),
            (Some(V::Bool(x)), Some(V::Bool(y))) => x.cmp(y),
            (Some(V::Null) | None, Some(V::Null) | None) => Ordering::Equal,
            (Some(V::Null) | None, _) => Ordering::Less,
            (_, Some(V::Null) | None) => Ordering::Greater,
            // Different types never meet in one column.
            _ => Ordering::Equal,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

/// A fatal error of the destination `target` (shown redacted).
pub(crate) fn sink_err(target: &str, message: impl std::fmt::Display) -> crate::error::Error {
    crate::error::Error::Sink {
        target: target.to_string(),
        message: message.to_string(),
    }
}

/// A destination's error, with the password scrubbed from the message: a connection
/// problem (the runtime reconnects and retries) or a fatal one.
pub(crate) fn destination_error(
    target: &str,
    secrets: &[String],
    message: String,
    connection: bool,
) -> crate::error::Error {
    let message = crate::redact::scrub(&message, secrets);
    let target = target.to_string();
    if connection {
        crate::error::Error::Connection { target, message }
    } else {
        crate::error::Error::Sink { target, message }
    }
}

#[cfg(test)]
mod tests {
    use super::key_order;
    use crate::row::Value;

    #[test]
    fn key_order_is_stable_for_int_and_other_keys() {
        // (key, tag): equal keys must come out in input order.
        let ints: Vec<Vec<Value>> = [3, 1, 3, 2, 1, 3]
            .iter()
            .enumerate()
            .map(|(i, &k)| vec![Value::Int(k), Value::Int(i as i64)])
            .collect();
        assert_eq!(
            key_order(ints.len(), |i| &ints[i], &[0]),
            [1, 4, 3, 0, 2, 5]
        );
        // Text keys, a NULL key (first) and a two-column key take the general path.
        let t = |s: &str| Value::Text(s.into());
        let rows = [
            vec![t("b"), Value::Int(2)],
            vec![t("a"), Value::Int(9)],
            vec![Value::Null, Value::Int(0)],
            vec![t("b"), Value::Int(1)],
            vec![t("a"), Value::Int(9)],
        ];
        assert_eq!(key_order(rows.len(), |i| &rows[i], &[0]), [2, 1, 4, 0, 3]);
        assert_eq!(
            key_order(rows.len(), |i| &rows[i], &[0, 1]),
            [2, 1, 4, 3, 0]
        );
        // A single int key with a NULL among the values falls back too.
        let mixed = [vec![Value::Int(2)], vec![Value::Null], vec![Value::Int(1)]];
        assert_eq!(key_order(mixed.len(), |i| &mixed[i], &[0]), [1, 2, 0]);
    }
}
