//! Loads past one process: the load's inputs cut into chunks ([`crate::source`]'s
//! split), each chunk loaded as a load of its own with its own checkpoint, by
//!
//! - `rowflow run --shard I/N` ([`shard`]): a deterministic 1/N of the chunks, for
//!   orchestrators that already run N copies; no broker;
//! - workers of a distributed load over NATS JetStream ([`submit`], [`worker`],
//!   [`status`]): `submit` plans the load once and publishes one message per chunk to
//!   a work-queue stream of its own; workers on any machine pull chunks, load them and
//!   acknowledge them; `status` and `wait` read what the workers record.
//!
//! The target database stays the source of truth: a chunk's rows, its checkpoint and
//! its rejects commit together, fenced by the chunk's claim (see
//! [`crate::sink::chunks`]), so a chunk delivered twice (a worker killed, a late ack)
//! is still loaded exactly once. NATS only says which chunk to do next.

mod broker;
mod rate;
pub mod shard;
pub mod status;
pub mod submit;
pub mod worker;

use serde::{Deserialize, Serialize};

use crate::checkpoint::Identity;
use crate::config::{PipelineSpec, WriteMode};
use crate::error::{Error, Result};
use crate::report::{Outcome, Report};
use crate::source::Input;

pub use broker::DEFAULT_NATS;

/// The default chunk size: 256 MiB.
pub const DEFAULT_CHUNK_BYTES: u64 = 256 << 20;

/// Parse a size such as `256MiB`, `64MB`, `1GiB`, `4096` (bytes).
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| Error::Config(format!("invalid size {s:?} (write e.g. 256MiB or 64MB)")))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        u => {
            return Err(Error::Config(format!(
                "invalid size {s:?}: unknown unit {u:?} (B, KB, KiB, MB, MiB, GB, GiB)"
            )));
        }
    };
    let v = (n * mult).round();
    if !(1.0..=1e15).contains(&v) {
        return Err(Error::Config(format!("invalid size {s:?}: out of range")));
    }
    Ok(v as u64)
}

/// One chunk as a message of a distributed load carries it (and as a shard computes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkMsg {
    /// The load's id.
    pub load: String,
    /// The chunk's index, from 0.
    pub chunk: u32,
    /// The input: an absolute path or a URL.
    pub input: String,
    /// For a range of a plain file: start byte, end byte, line at the start.
    pub range: Option<[u64; 3]>,
    /// The input's quick identity when the load was submitted (a changed file is
    /// refused: its ranges were cut for other bytes).
    pub ends: String,
    /// How many times the chunk was requeued by `rowflow retry`.
    #[serde(default)]
    pub epoch: u32,
    /// Its size in bytes.
    #[serde(default)]
    pub size: u64,
    /// For a range of a file: a hash of the range's own first and last 64 KiB, so that a
    /// change inside the file (not only at its ends) is seen too.
    #[serde(default)]
    pub range_ends: Option<String>,
}

/// A hash of the first and last 64 KiB of bytes `start..end` of file `path`.
fn range_ends(path: &std::path::Path, start: u64, end: u64) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    const SPAN: u64 = 64 * 1024;
    let mut f = std::fs::File::open(path)?;
    let mut h = twox_hash::XxHash3_128::new();
    let mut buf = Vec::new();
    for from in [start, end.saturating_sub(SPAN).max(start)] {
        f.seek(SeekFrom::Start(from))?;
        buf.clear();
        (&mut f).take(SPAN.min(end - from)).read_to_end(&mut buf)?;
        h.write(&buf);
    }
    Ok(format!("{:032x}", h.finish_128()))
}

impl ChunkMsg {
    /// The chunk `chunk` of `load`: `input` whole or a range of it.
    pub(crate) fn of(load: &str, chunk: u32, input: &Input) -> Result<ChunkMsg> {
        let (whole, range) = match input {
            Input::Part(p) => (&p.of, Some([p.start, p.end, p.line])),
            other => (other, None),
        };
        let name = match whole {
            Input::File(p) => std::fs::canonicalize(p)
                .map_err(|e| Error::io(p, e))?
                .display()
                .to_string(),
            Input::Remote(o) => o.url().to_string(),
            Input::Stdin | Input::Part(_) => {
                return Err(Error::Config(
                    "standard input cannot be read by other processes: give files or URLs".into(),
                ));
            }
        };
        Ok(ChunkMsg {
            load: load.to_string(),
            chunk,
            input: name,
            range,
            ends: whole.state()?.ends,
            epoch: 0,
            size: input.size().unwrap_or(0),
            range_ends: match (whole, range) {
                (Input::File(p), Some([s, e, _])) => {
                    Some(range_ends(p, s, e).map_err(|err| Error::io(p, err))?)
                }
                _ => None,
            },
        })
    }

    /// The chunk's input, as this process reaches it, checked against what the load
    /// was submitted with.
    pub(crate) fn resolve(&self, spec: &PipelineSpec) -> Result<Input> {
        let found = crate::source::resolve_inputs_except(
            std::slice::from_ref(&self.input),
            None,
            &spec.source.storage,
        )?;
        let [whole] = found.as_slice() else {
            return Err(Error::Config(format!(
                "{}: names {} inputs here, not one",
                self.input,
                found.len()
            )));
        };
        let now = whole.state()?;
        let range_now = match (whole, self.range) {
            (Input::File(p), Some([s, e, _])) if self.range_ends.is_some() => {
                Some(range_ends(p, s, e).map_err(|err| Error::io(p, err))?)
            }
            _ => None,
        };
        if now.ends != self.ends || range_now != self.range_ends {
            return Err(Error::Input {
                file: self.input.clone(),
                message: "changed since the load was submitted (its size, or the first or last \
                          bytes of the file or of this chunk's range, differ): its chunks were cut \
                          for the old content; submit the load again"
                    .into(),
            });
        }
        Ok(match self.range {
            Some([start, end, line]) => Input::Part(std::sync::Arc::new(crate::source::Part {
                of: whole.clone(),
                start,
                end,
                line,
            })),
            None => whole.clone(),
        })
    }

    /// What the chunk is, for messages: `data.csv [bytes 0..1048576, from line 1]`.
    pub fn describe(&self) -> String {
        match self.range {
            Some([s, e, l]) => format!("{} [bytes {s}..{e}, from line {l}]", self.input),
            None => self.input.clone(),
        }
    }
}

/// Plan `spec` as a whole run would (the header, the types) and cut its inputs into
/// chunks of about `chunk_bytes`. Blocking.
pub(crate) fn plan_chunks(
    spec: &PipelineSpec,
    chunk_bytes: u64,
) -> Result<(crate::plan::Plan, Vec<Input>)> {
    let plan = crate::pipeline::Pipeline::from_spec(spec.clone())
        .plan(&crate::expr::ExprContext::from_clock())?;
    let chunks = crate::source::split::chunk_inputs(
        &plan.load.inputs,
        &crate::source::split::SplitOptions {
            dialect: plan.dialect,
            chunk_bytes,
            max_record: spec.source.max_record_bytes,
            stop: std::sync::Arc::default(),
        },
    )?;
    Ok((plan, chunks))
}

/// The schema every chunk is read with, decided once: each input column and its type.
pub(crate) type FixedSchema = Vec<(String, String)>;

/// The fixed schema of a plan.
pub(crate) fn fixed_schema(plan: &crate::plan::Plan) -> FixedSchema {
    plan.input_schema
        .columns
        .iter()
        .zip(plan.inferred_formats.iter().chain(std::iter::repeat(&None)))
        .map(|(c, f)| match f {
            // A layout found for dates: `date` and the layout (see `chunk_spec`).
            Some(layout) => (c.name.clone(), format!("{}\u{1f}{layout}", c.type_name())),
            None => (c.name.clone(), c.type_name()),
        })
        .collect()
}

/// The spec a chunk runs with: the pipeline, reading the chunk's input with the fixed
/// schema (no inference per chunk), into the table the load prepared once.
pub(crate) fn chunk_spec(spec: &PipelineSpec, schema: &FixedSchema, input: &str) -> PipelineSpec {
    let mut s = spec.clone();
    s.source.path = None;
    s.source.paths = vec![input.to_string()];
    // The fixed types, each with the format the pipeline declared for it.
    let declared = std::mem::take(&mut s.source.schema);
    s.source.schema = schema
        .iter()
        .map(|(n, t)| {
            let ty = match declared.get(n) {
                Some(crate::config::ColumnType::Formatted(f)) => {
                    crate::config::ColumnType::Formatted(f.clone())
                }
                _ => match t.split_once('\u{1f}') {
                    Some((ty, layout)) => {
                        crate::config::ColumnType::Formatted(crate::config::ColumnFormat {
                            type_name: ty.to_string(),
                            format: Some(layout.to_string()),
                            decimal_separator: None,
                            thousands: None,
                            strip: None,
                            null_values: Vec::new(),
                            timezone: None,
                        })
                    }
                    None => crate::config::ColumnType::Name(t.clone()),
                },
            };
            (n.clone(), ty)
        })
        .collect();
    s.sink.truncate = false;
    if matches!(s.sink.mode, WriteMode::Create | WriteMode::Replace) {
        s.sink.mode = WriteMode::Append;
    }
    s
}

/// The checkpoint key of chunk `chunk` of the load `load` of pipeline `name`.
pub(crate) fn chunk_identity(name: &str, load: &str, chunk: u32, table: &str) -> Identity {
    Identity::new(Some(&format!("{name}@{load}#{chunk}")), table, &[])
}

/// Why a mode cannot be split across processes, if it cannot.
pub(crate) fn refuse_split_mode(spec: &PipelineSpec, chunks: usize) -> Result<()> {
    if spec.sink.mode == WriteMode::Upsert && chunks > 1 {
        return Err(Error::Config(format!(
            "mode = \"upsert\" is refused for a load split into {chunks} chunks: whether a key \
             repeats across chunks cannot be known in advance, and chunks commit in any order, so \
             which row wins would be left to chance (as with parallel writers). Use one chunk \
             (--chunk-size larger than the input) or mode = \"append\""
        )));
    }
    if spec.source.skip_rows > 0 {
        return Err(Error::Config(
            "source.skip_rows is not supported by distributed and sharded loads (a chunk \
             does not know which records start its file): load the file with `rowflow run`"
                .into(),
        ));
    }
    if spec.source.union_by_name {
        return Err(Error::Config(
            "source.union_by_name is not supported by distributed and sharded loads yet (each \
             chunk would see only its own file's header): load the files with `rowflow run`"
                .into(),
        ));
    }
    Ok(())
}

impl Report {
    /// Add the report of another chunk of the same load to this one.
    pub(crate) fn absorb(&mut self, other: Report) {
        self.rows_read += other.rows_read;
        self.rows_written += other.rows_written;
        self.rows_filtered += other.rows_filtered;
        self.rows_rejected += other.rows_rejected;
        self.rows_rolled_back += other.rows_rolled_back;
        self.rows_not_processed += other.rows_not_processed;
        self.reconnects += other.reconnects;
        self.already_committed += other.already_committed;
        self.rejected_before += other.rejected_before;
        for (a, b) in self.totals_before.iter_mut().zip(other.totals_before) {
            *a += b;
        }
        self.bytes_read += other.bytes_read;
        self.notes.extend(other.notes);
        for i in other.inputs {
            if !self.inputs.contains(&i) {
                self.inputs.push(i);
            }
        }
        if self.reject_file.is_none() {
            self.reject_file = other.reject_file;
        }
        for r in other.first_rejects {
            if self.first_rejects.len() < 5 {
                self.first_rejects.push(r);
            }
        }
        for h in other.http {
            match self.http.iter_mut().find(|x| x.name == h.name) {
                Some(x) => {
                    x.requests += h.requests;
                    x.retries += h.retries;
                    x.cache_hits += h.cache_hits;
                    x.status_2xx += h.status_2xx;
                    x.status_3xx += h.status_3xx;
                    x.status_4xx += h.status_4xx;
                    x.status_5xx += h.status_5xx;
                    x.failed += h.failed;
                    x.no_answer += h.no_answer;
                }
                None => self.http.push(h),
            }
        }
        if matches!(self.outcome, Outcome::Completed | Outcome::Skipped(_)) {
            match other.outcome {
                Outcome::Completed => self.outcome = Outcome::Completed,
                Outcome::Skipped(_) => {}
                o => self.outcome = o,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_reads_with_the_fixed_types_and_date_layouts() {
        let spec = PipelineSpec::from_toml(
            "[source]\npath = \"x.csv\"\n[sink]\nurl = \"postgres://h/d\"\ntable = \"t\"\n",
            &[],
        )
        .unwrap();
        let fixed: FixedSchema = vec![
            ("id".into(), "int".into()),
            ("amount".into(), "numeric(5,2)".into()),
            ("d".into(), "date\u{1f}MM/DD/YYYY".into()),
        ];
        let cs = chunk_spec(&spec, &fixed, "/data/x.csv");
        assert_eq!(cs.source.schema["amount"].type_name(), "numeric(5,2)");
        match &cs.source.schema["d"] {
            crate::config::ColumnType::Formatted(f) => {
                assert_eq!(
                    (f.type_name.as_str(), f.format.as_deref()),
                    ("date", Some("MM/DD/YYYY"))
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(cs.source.paths, vec!["/data/x.csv".to_string()]);
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_size("64MB").unwrap(), 64_000_000);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("1.5 GiB").unwrap(), 3 << 29);
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("MiB").is_err());
    }
}
