//! What identifies a load (its destination, table, inputs and shape): read from the spec
//! before anything else is planned, so that the database is contacted first.

use crate::checkpoint::{Identity, Shape};
use crate::config::{PipelineSpec, WriteMode};
use crate::error::Result;
use crate::sink::SinkTarget;
use crate::source::{Input, resolve_inputs_except};

/// What identifies a load and what it would write: from the spec, before planning.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The destination.
    pub target: SinkTarget,
    /// The destination table as written.
    pub table: String,
    /// The load's checkpoint key.
    pub identity: Identity,
    /// What shapes the rows.
    pub shape: Shape,
    /// The inputs, resolved (globs expanded), in order.
    pub inputs: Vec<Input>,
    /// Why a complete load is loaded again (the mode rebuilds or empties the table).
    pub reload: Option<String>,
    /// The write mode.
    pub mode: WriteMode,
    /// Set for one chunk of a load split across processes (`run --shard`, a worker of a
    /// distributed load): the chunk has a checkpoint of its own, and other loads into
    /// the table are not looked at.
    pub chunk: Option<ChunkSpec>,
}

/// One chunk of a load split across processes.
#[derive(Debug, Clone)]
pub struct ChunkSpec {
    /// The chunk's checkpoint key.
    pub identity: Identity,
    /// What it reads: a whole input, or a range of one.
    pub input: Input,
    /// For a distributed load: the claim that fences its commits (no run lock is
    /// taken; the claim replaces it).
    pub fence: Option<crate::sink::chunks::ChunkFence>,
}

impl LoadSpec {
    /// This load narrowed to the chunk `c`.
    pub fn for_chunk(mut self, c: ChunkSpec) -> LoadSpec {
        self.identity = c.identity.clone();
        self.inputs = vec![c.input.clone()];
        // The table was prepared (created, replaced, emptied) once for the whole load.
        self.reload = None;
        self.chunk = Some(c);
        self
    }
}

impl LoadSpec {
    /// The load `spec` describes; `library_stages` describe its user functions.
    pub fn of(spec: &PipelineSpec, library_stages: &[String]) -> Result<LoadSpec> {
        let url = if spec.sink.url.is_empty() {
            std::env::var("DATABASE_URL").unwrap_or_default()
        } else {
            spec.sink.url.clone()
        };
        let target = SinkTarget::parse(&url)?;
        let patterns = spec.source.all_paths();
        let inputs = resolve_inputs_except(
            &patterns,
            spec.reject_path().as_deref(),
            &spec.source.storage,
        )?;
        let reload = match spec.sink.mode {
            WriteMode::Replace => Some("mode \"replace\" rebuilds the table".to_string()),
            WriteMode::Create => Some("mode \"create\" creates the table".to_string()),
            _ if spec.sink.truncate => Some("truncate = true empties the table".to_string()),
            _ => None,
        };
        Ok(LoadSpec {
            identity: Identity::new(spec.name.as_deref(), &spec.sink.table, &patterns),
            shape: Shape::of(spec, library_stages),
            table: spec.sink.table.clone(),
            target,
            inputs,
            reload,
            mode: spec.sink.mode,
            chunk: None,
        })
    }

    /// `spec` with the dialect parts `detected` found set.
    pub fn resolve<'a>(
        spec: &'a PipelineSpec,
        detected: Option<&crate::plan::source::Detected>,
    ) -> std::borrow::Cow<'a, PipelineSpec> {
        match detected {
            Some(d) => {
                let mut s = spec.clone();
                d.apply(&mut s.source);
                std::borrow::Cow::Owned(s)
            }
            None => std::borrow::Cow::Borrowed(spec),
        }
    }

    /// The load's name for messages: `load "users" into "t"`.
    pub fn describe(&self) -> String {
        format!("the load {:?} into {}", self.identity.label(), self.table)
    }
}
