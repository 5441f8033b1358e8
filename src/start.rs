//! Starting a load, before any row is read: take the lock that keeps a second run of the
//! same load out, read the load's checkpoint, look at the table, and decide what this
//! run does (resume, skip inputs already loaded, load again, refuse), with one plain
//! line for each decision. The database is contacted here, first: a wrong URL or a
//! server that is down is reported before the inputs are scanned. Then, with the plan
//! built, the decision is applied to it, the sink's writers are opened (preparing the
//! table) and the runtime gets its parts.

use std::sync::Arc;

use crate::checkpoint::{Decision, DoneInput, Identity, InputState};
use crate::config::WriteMode;
use crate::error::{Error, Result};
use crate::plan::{LoadSpec, Plan};
use crate::runtime::Stage;
use crate::sink::LoadLock;
use crate::source::{Input, Source};
use crate::transform::Transform;

/// A load that has started: its lock is held, its decision taken.
pub struct Started {
    /// The load.
    pub load: LoadSpec,
    /// The current inputs as the checkpoint records them.
    pub states: Vec<InputState>,
    /// What this run does.
    pub decision: Decision,
    /// Held until the run ends.
    pub lock: Option<LoadLock>,
    /// The runs whose checkpoint rows the load had at the start.
    pub known_runs: Vec<String>,
}

impl Started {
    /// The inputs this run reads, in order (all of them for a skip).
    pub fn run_inputs(&self) -> Vec<Input> {
        match &self.decision {
            Decision::Load(l) => l
                .inputs
                .iter()
                .map(|&i| self.load.inputs[i].clone())
                .collect(),
            Decision::Skip(_) => self.load.inputs.clone(),
        }
    }

    /// This run's inputs as its records hold them.
    pub fn run_states(&self) -> Vec<InputState> {
        match &self.decision {
            Decision::Load(l) => l.inputs.iter().map(|&i| self.states[i].clone()).collect(),
            Decision::Skip(_) => self.states.clone(),
        }
    }
}

/// Start `load`: lock it (waiting for another run of it with `wait`, else refusing),
/// read its checkpoint and decide. `note` hears about waiting.
pub fn start(
    load: LoadSpec,
    restart: bool,
    wait: bool,
    note: &mut dyn FnMut(&str),
) -> Result<Started> {
    start_until(
        load,
        restart,
        wait,
        note,
        &std::sync::atomic::AtomicBool::new(false),
    )
}

/// [`start`], giving up a wait for another run once `stop` is set.
pub fn start_until(
    load: LoadSpec,
    restart: bool,
    wait: bool,
    note: &mut dyn FnMut(&str),
    stop: &std::sync::atomic::AtomicBool,
) -> Result<Started> {
    let mut waited = None;
    let fence = load.chunk.as_ref().and_then(|c| c.fence.clone());
    let lock = match &fence {
        // A chunk of a distributed load: claimed, not locked (see sink::chunks).
        Some(f) => {
            if let crate::sink::chunks::Claim::Stale(owner) =
                crate::sink::claim_chunk(&load.target, &load.table, f)?
            {
                return Err(crate::sink::chunks::fenced(
                    &load.target.display(),
                    f,
                    &owner,
                ));
            }
            None
        }
        None => Some(LoadLock::acquire_until(
            &load.target,
            &load.identity.run_lock_name(),
            &load.describe(),
            wait,
            &mut |n: &str| {
                note(n);
                waited = Some(n.to_string());
            },
            stop,
        )?),
    };
    // The inputs are looked at once the lock is held (a wait may have been long).
    let states = input_states(&load.inputs)?;
    let (mut decision, known_runs) = decide(&load, &states, restart)?;
    refuse_blocked_replace(&load, &decision)?;
    // The wait is one of the decisions the report lists.
    if let (Some(w), Decision::Load(l)) = (waited, &mut decision) {
        l.notes.insert(0, w);
    }
    Ok(Started {
        load,
        states,
        decision,
        lock,
        known_runs,
    })
}

/// What a run of `load` would do now (for `rowflow check`): no lock, nothing changed.
pub fn preview(load: LoadSpec, restart: bool) -> Result<Started> {
    let states = input_states(&load.inputs)?;
    let (decision, known_runs) = decide(&load, &states, restart)?;
    Ok(Started {
        load,
        states,
        decision,
        lock: None,
        known_runs,
    })
}

/// A `replace` that the database would refuse (objects depend on the table) is refused
/// now, before any row is read, rather than after the inference scan.
fn refuse_blocked_replace(load: &LoadSpec, decision: &Decision) -> Result<()> {
    let replaces = match decision {
        Decision::Load(l) => load.mode == WriteMode::Replace && l.resume.is_none(),
        Decision::Skip(_) => false,
    };
    if replaces && let Some(why) = crate::sink::replace_blockers(&load.target, &load.table)? {
        return Err(crate::sink::sink_err(&load.target.display(), why));
    }
    Ok(())
}

/// For a load with no record yet: refuse when an earlier version of rowflow recorded it
/// (under its own key, in a format this one cannot read: taking it for a new load would
/// load its inputs again), and otherwise return what other loads into the same table
/// completed (the same files may have come in another way).
fn look_around(load: &LoadSpec) -> Result<Vec<DoneInput>> {
    let rows = crate::sink::list_checkpoints(&load.target, Some(&load.table)).unwrap_or_default();
    let names: Vec<String> = load.inputs.iter().map(Input::display).collect();
    let legacy_id = Identity::legacy_input_id(&names);
    let legacy = rows.iter().any(|r| {
        let old_format = r.stored.state.as_ref().is_none_or(|s| s.inputs.is_empty());
        let same_load = if load.identity.pipeline.is_empty() {
            r.identity.pipeline.starts_with("spec-")
        } else {
            r.identity.pipeline == load.identity.pipeline
        };
        old_format && same_load && r.identity.input_id == legacy_id
    });
    if legacy {
        return Err(Error::Config(format!(
            "{} was recorded by an earlier version of rowflow, in a checkpoint this version cannot \
             read, so whether it completed is unknown; run with --restart to load it again from \
             the beginning, or `rowflow checkpoints clear {} --table {}` to forget that record",
            load.describe(),
            load.target.display(),
            load.table
        )));
    }
    let mut keys: Vec<&Identity> = Vec::new();
    for r in &rows {
        if r.identity != load.identity && !keys.contains(&&r.identity) {
            keys.push(&r.identity);
        }
    }
    Ok(keys
        .into_iter()
        .flat_map(|k| {
            let mine: Vec<&crate::checkpoint::Stored> = rows
                .iter()
                .filter(|r| &r.identity == k)
                .map(|r| &r.stored)
                .collect();
            crate::checkpoint::completed_inputs(&mine)
        })
        .collect())
}

fn input_states(inputs: &[Input]) -> Result<Vec<InputState>> {
    inputs.iter().map(Input::state).collect()
}

fn decide(
    load: &LoadSpec,
    states: &[InputState],
    restart: bool,
) -> Result<(Decision, Vec<String>)> {
    let stored = crate::sink::read_checkpoints(&load.target, &load.table, &load.identity)?;
    let mut known_runs: Vec<String> = stored.iter().map(|s| s.run_id.clone()).collect();
    known_runs.dedup();
    let mut others = if stored.is_empty() && !restart && load.chunk.is_none() {
        look_around(load)?
    } else {
        Vec::new()
    };
    if !others.is_empty() {
        // What other loads wrote counts only while the table still holds rows.
        let t = crate::sink::table_state(&load.target, &load.table)?;
        if !t.exists || t.has_rows == Some(false) {
            others.clear();
        }
    }
    let table = if stored.is_empty() || restart {
        crate::checkpoint::TableState {
            name: load.table.clone(),
            exists: true,
            id: None,
            has_rows: None,
        }
    } else {
        crate::sink::table_state(&load.target, &load.table)?
    };
    crate::checkpoint::decide(
        &stored,
        states,
        &load.shape,
        restart,
        load.reload.as_deref(),
        &table,
        &others,
        &mut |i, prefix| match &load.inputs[i] {
            Input::File(p) => match prefix {
                None => crate::checkpoint::content_hash(p),
                Some(n) => crate::checkpoint::content_hash_prefix(p, n),
            }
            .map_err(|e| format!("{}: {e}", p.display())),
            Input::Stdin => Ok(String::new()),
            Input::Part(p) => p.content_marker().map_err(|e| e.to_string()),
            Input::Remote(o) => crate::source::remote_content_hash(o, prefix)
                .map_err(|e| format!("{}: {e}", o.display())),
        },
    )
    .map(|d| (d, known_runs))
    .map_err(|e| {
        Error::Config(format!(
            "checkpoint of {} in {}: {e}",
            load.describe(),
            load.target.display()
        ))
    })
}

/// A plan ready to run, or a load that is already done.
pub(crate) enum Prepared {
    /// Run these parts; say these notes first.
    Run(Box<crate::runtime::RunParts>, Vec<String>),
    /// Every input was loaded completely before: this is the report.
    Done(Box<crate::report::Report>),
}

/// Start the load `plan` runs (lock, checkpoint, decision) and get it ready to run.
pub(crate) fn start_and_prepare(plan: Plan, note: &mut dyn FnMut(&str)) -> Result<Prepared> {
    let started = start(plan.load.clone(), plan.restart, plan.wait, note)?;
    prepare(plan, started)
}

impl Started {
    /// The report of a load with nothing to do.
    pub(crate) fn skipped(&self) -> Option<crate::report::Report> {
        let started = self;
        let Decision::Skip(s) = &started.decision else {
            return None;
        };
        Some(crate::report::Report {
            already_committed: s.committed,
            totals_before: s.totals,
            note: Some(s.reason.clone()),
            notes: vec![s.reason.clone()],
            outcome: crate::report::Outcome::Skipped(s.reason.clone()),
            ..crate::report::Report::empty(
                started.run_inputs().iter().map(Input::display).collect(),
                started.load.target.display(),
                started.load.table.clone(),
            )
        })
    }
}

/// Apply how the load starts (`started`: resuming an interrupted run from its
/// checkpoint, or from the beginning, over the inputs it decided on), open the
/// sink's writers (preparing the table), and hand everything to the runtime. The
/// sink's encoder joins the last CPU stage, so rows reach the sink thread ready to
/// write.
pub(crate) fn prepare(mut plan: Plan, started: Started) -> Result<Prepared> {
    if let Some(report) = started.skipped() {
        return Ok(Prepared::Done(Box::new(report)));
    }
    let run_inputs = started.run_inputs();
    let run_states = started.run_states();
    if started.load.chunk.is_some() {
        // One chunk of a load: its own checkpoint, one writer, into the table the load
        // prepared once (created, replaced or emptied before any chunk ran).
        plan.run.identity = started.load.identity.clone();
        plan.load = started.load.clone();
        plan.writers = 1;
        plan.sink.truncate = false;
        if matches!(
            plan.sink.mode,
            crate::config::WriteMode::Create | crate::config::WriteMode::Replace
        ) {
            plan.sink.mode = crate::config::WriteMode::Append;
        }
    }
    if let Some(fence) = started.load.chunk.as_ref().and_then(|c| c.fence.clone()) {
        // A distributed load's rejects go into the target database with each commit.
        plan.sink.fence = Some(fence);
        plan.run.reject_table = plan.run.rejects.take().is_some();
    }
    let Started {
        decision,
        lock,
        mut known_runs,
        ..
    } = started;
    known_runs.push(plan.run.run_id.clone());
    plan.sink.known_runs = known_runs;
    // Every commit checks that this run still holds the load's lock.
    plan.sink.lock = std::sync::Arc::new(std::sync::Mutex::new(
        lock.as_ref().map(|l| l.check()).unwrap_or_default(),
    ));
    let Decision::Load(l) = decision else {
        return Err(Error::Config(
            "internal: a skipped load has no parts".into(),
        ));
    };
    if run_inputs.as_slice() != plan.source.input_list() {
        if plan.source.input_list().contains(&Input::Stdin) {
            return Err(Error::Config(
                "standard input was read to plan this pipeline and cannot be read again for \
                 another set of inputs; plan it again"
                    .into(),
            ));
        }
        plan.source = plan.source.with_inputs(run_inputs.clone())?;
        plan.inputs = run_inputs.iter().map(Input::display).collect();
        plan.run.inputs = plan.inputs.clone();
        if let Some(r) = plan.run.rejects.as_mut() {
            r.inputs = plan.inputs.clone();
        }
    }
    // The earlier records of the load are not cleared here: this run's first commit
    // replaces them, in the same transaction (a run that fails or is killed before
    // it leaves them as they were). A table changed before that commit (MySQL's DDL, a
    // distributed load's table prepared at submit) is recognised by the next run: dropped,
    // recreated (PostgreSQL's oid) or empty.
    let mut notes = l.notes;
    plan.run.input_states = run_states;
    plan.run.carry = l.carry;
    plan.run.written_before = l.written_before;
    plan.run.generation = l.generation;
    if let Some(r) = l.resume {
        // The table is there already, as the interrupted run left it.
        plan.sink.mode = match plan.sink.mode {
            crate::config::WriteMode::Upsert => crate::config::WriteMode::Upsert,
            _ => crate::config::WriteMode::Append,
        };
        // A load whose earlier runs already failed more rows than allowed would
        // commit one batch and stop again, each time.
        if let Some(max) = plan.run.max_errors
            && r.sum()[2] > max
        {
            return Err(Error::Config(format!(
                "this load already has {} failed rows, more than max_errors = {max} (the \
                 earlier run stopped there; they are in the reject file): raise max_errors to \
                 go on with the rest of the input, or run with --restart to load it again",
                r.sum()[2]
            )));
        }
        plan.sink.truncate = false;
        plan.sink.resuming = true;
        plan.source.seek(r.start.into())?;
        plan.run.resume = Some(r);
    }
    let writers = plan.writers.max(1) as u32;
    let mut sinks = Vec::with_capacity(writers as usize);
    // Writer 0 first: it prepares the table the others write to.
    for w in 0..writers {
        sinks.push(crate::sink::open_sink(
            &plan.target,
            &plan.sink,
            &plan.run.identity,
            w,
        )?);
    }
    for s in &mut sinks {
        notes.extend(s.take_notes());
    }
    let mut stages = plan.stages;
    if let Some(enc) = sinks.first().and_then(|s| s.encoder()) {
        let step: Arc<dyn Transform> = Arc::new(crate::runtime::EncodeStep(enc));
        match stages.last_mut() {
            Some(Stage::Cpu(ts)) => ts.push(step),
            _ => stages.push(Stage::Cpu(vec![step])),
        }
    }
    Ok(Prepared::Run(
        Box::new(crate::runtime::RunParts {
            source: Box::new(plan.source),
            stages,
            sinks,
            opts: plan.run,
            target: plan.target.display(),
            table: plan.sink.table,
            http: plan.http,
            lock,
        }),
        notes,
    ))
}
