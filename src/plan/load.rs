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
        })
    }

    /// The load's name for messages: `load "users" into "t"`.
    pub fn describe(&self) -> String {
        format!("the load {:?} into {}", self.identity.label(), self.table)
    }
}
