//! How a run starts, from what the checkpoint says, what the inputs and the pipeline are
//! now, and what the table looks like. Every decision comes with the sentence that
//! explains it; none loses or doubles rows silently:
//!
//! - standard input is never "already loaded": each stdin run is a new load (and an
//!   interrupted one cannot be resumed: it is refused unless `--restart`);
//! - an interrupted run is resumed, whatever the mode, when its inputs (size and ends)
//!   and the pipeline's shape are the same; a changed input is refused, and a changed
//!   pipeline is refused in `append`/`upsert` (rows would be loaded with two pipelines)
//!   and starts over in the modes that rebuild the table;
//! - after a complete run, an input whose whole content and shape are those of a
//!   completed one is skipped, a changed or new input is loaded, and the same input
//!   under a changed pipeline is refused in `append`/`upsert`; the modes that rebuild the
//!   table load everything again;
//! - whatever the checkpoint says, a table that is gone, was created again or emptied
//!   holds none of it: the load starts over.

use super::{CommitState, DoneInput, InputState, Range, Resume, Shape, Stored, generation};
use crate::format::thousands;

/// What the destination table looks like now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableState {
    /// Its name, for messages.
    pub name: String,
    /// It exists.
    pub exists: bool,
    /// Its identity where the database has a cheap one (PostgreSQL: its oid).
    pub id: Option<String>,
    /// Whether it holds any row (`None`: could not tell, e.g. no SELECT privilege).
    pub has_rows: Option<bool>,
}

/// What a run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Load these inputs.
    Load(LoadPlan),
    /// Nothing to load: every input was loaded completely before.
    Skip(Skip),
}

/// A run that loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadPlan {
    /// Indexes into the current inputs, in the order this run reads them.
    pub inputs: Vec<usize>,
    /// Where an interrupted run stopped (positions index `inputs`).
    pub resume: Option<Resume>,
    /// Inputs completed by earlier runs, still in the table: carried into this run's
    /// records.
    pub carry: Vec<DoneInput>,
    /// Rows those earlier runs wrote.
    pub written_before: u64,
    /// The earlier records no longer describe the table (restarted, rebuilt, or the
    /// table is gone): this run starts the load's record anew (its first commit replaces
    /// them).
    pub clear_first: bool,
    /// The generation this run's records belong to (see `CommitState::generation`).
    pub generation: u64,
    /// One plain line per decision taken.
    pub notes: Vec<String>,
    /// The dialect the interrupted run detected, when this run resumes one (read the
    /// same way, whatever detection would say now).
    pub detected: Option<String>,
}

/// A run with nothing to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// Why, in one sentence.
    pub reason: String,
    /// Records the earlier run committed.
    pub committed: u64,
    /// Its totals: written, filtered, rejected.
    pub totals: [u64; 3],
}

/// How a run over the `current` inputs starts, given the checkpoint rows `stored` of
/// its load, its pipeline's `shape`, `--restart`, `reload` (the reason the mode loads
/// everything again after a complete load, e.g. `mode "replace" rebuilds the table`),
/// the `table` as it is, and `content_of(i)`: the hash of current input `i`'s whole
/// content (read only for an input that looks like one already loaded).
#[allow(clippy::too_many_arguments)]
pub fn decide(
    stored: &[Stored],
    current: &[InputState],
    shape: &Shape,
    restart: bool,
    reload: Option<&str>,
    table: &TableState,
    others: &[DoneInput],
    content_of: &mut dyn FnMut(usize, Option<u64>) -> Result<String, String>,
) -> Result<Decision, String> {
    let run = Run {
        current,
        shape,
        reload,
        table,
        all: (0..current.len()).collect(),
        // A run that starts the load anew opens a new generation.
        next_generation: stored.iter().map(generation).max().unwrap_or(0) + 1,
    };
    if restart {
        let note = "--restart: starting over (the earlier checkpoint of this load is cleared)";
        let notes = if stored.is_empty() {
            Vec::new()
        } else {
            vec![note.to_string()]
        };
        return Ok(run.fresh(notes, true));
    }
    if stored.is_empty() {
        return run.new_load(others, content_of);
    }
    let last = Last::read(stored)?;
    if let Some(why) = table_gone(
        table,
        last.table_id.as_deref(),
        last.first.written_before + last.written,
    ) {
        return Ok(run.fresh(
            vec![format!(
                "{why}, so it no longer holds what the checkpoint of this load records: loading {} \
                 from the beginning",
                names(current, &run.all)
            )],
            true,
        ));
    }
    if last.complete {
        run.after_complete(&last, content_of)
    } else {
        run.resume_interrupted(&last, content_of)
    }
}

/// What a run starts with, besides the checkpoint.
struct Run<'a> {
    current: &'a [InputState],
    shape: &'a Shape,
    reload: Option<&'a str>,
    table: &'a TableState,
    /// Every current input, in order.
    all: Vec<usize>,
    /// The generation a run that starts the load anew opens.
    next_generation: u64,
}

/// What the newest generation's checkpoint rows say about the last run. Its records
/// carry what earlier generations completed; rows of an older one are left over until
/// the newest one's first commit.
struct Last<'a> {
    /// The newest generation.
    generation: u64,
    rows: Vec<&'a Stored>,
    /// The first writer's record.
    first: &'a CommitState,
    /// Some writer's record marks the load complete.
    complete: bool,
    /// The last run's inputs, with the content any writer recorded.
    inputs: Vec<InputState>,
    /// Rows the last run wrote.
    written: u64,
    /// The table the last run wrote to, as the database identifies it.
    table_id: Option<String>,
}

impl<'a> Last<'a> {
    fn read(stored: &'a [Stored]) -> Result<Last<'a>, String> {
        let newest = stored.iter().map(generation).max().unwrap_or(0);
        let rows: Vec<&Stored> = stored.iter().filter(|s| generation(s) == newest).collect();
        let states: Vec<&CommitState> = rows.iter().filter_map(|s| s.state.as_ref()).collect();
        if states.len() < rows.len() || states.iter().any(|s| s.inputs.is_empty()) {
            return Err(
                "the checkpoint in the database was written by another version of rowflow and cannot \
                 be read; run with --restart to start over"
                    .into(),
            );
        }
        let first = states[0];
        let mut inputs = first.inputs.clone();
        for s in &states {
            for (l, i) in inputs.iter_mut().zip(&s.inputs) {
                if l.content.is_none() {
                    l.content = i.content.clone();
                }
            }
        }
        Ok(Last {
            generation: newest,
            first,
            complete: states.iter().any(|s| s.complete),
            inputs,
            written: states.iter().map(|s| s.written).sum(),
            table_id: states.iter().find_map(|s| s.table_id.clone()),
            rows,
        })
    }
}

impl Run<'_> {
    /// Load every input from the beginning.
    fn fresh(&self, notes: Vec<String>, clear_first: bool) -> Decision {
        Decision::Load(LoadPlan {
            inputs: self.all.clone(),
            resume: None,
            carry: Vec::new(),
            written_before: 0,
            clear_first,
            generation: self.next_generation,
            notes,
            detected: None,
        })
    }

    /// A new load; but another load into the same table (the same files named another
    /// way, a shell-expanded glob that gained a file) may have loaded some of its inputs
    /// already: those, with the same content and pipeline, are skipped.
    fn new_load(
        &self,
        others: &[DoneInput],
        content_of: &mut dyn FnMut(usize, Option<u64>) -> Result<String, String>,
    ) -> Result<Decision, String> {
        if self.reload.is_some() || others.is_empty() {
            return Ok(self.fresh(Vec::new(), false));
        }
        let (load, notes, matched) = known_elsewhere(self.current, others, self.shape, content_of)?;
        if load.is_empty() {
            return Ok(Decision::Skip(Skip {
                reason: self.already_loaded("by another load"),
                committed: 0,
                totals: [0; 3],
            }));
        }
        Ok(Decision::Load(LoadPlan {
            inputs: load,
            resume: None,
            carry: matched,
            written_before: 0,
            clear_first: false,
            generation: self.next_generation,
            notes,
            detected: None,
        }))
    }

    /// Why nothing is to do: the inputs were loaded `by` an earlier run or load.
    fn already_loaded(&self, by: &str) -> String {
        format!(
            "{} {} already loaded completely into {} {by}, with the same content and \
             pipeline; nothing to do (use --restart to load again)",
            names(self.current, &self.all),
            if self.current.len() == 1 {
                "was"
            } else {
                "were"
            },
            self.table.name
        )
    }

    /// The last run was interrupted: resume it where its commits end, over the same
    /// inputs unchanged and the same pipeline (inputs added since are loaded after).
    fn resume_interrupted(
        &self,
        last: &Last,
        content_of: &mut dyn FnMut(usize, Option<u64>) -> Result<String, String>,
    ) -> Result<Decision, String> {
        if last.inputs.iter().any(InputState::is_stdin) {
            return Err(
                "an interrupted load from standard input cannot be resumed (standard input cannot \
                 be read again); run with --restart to load it anew"
                    .into(),
            );
        }
        let mut order = Vec::with_capacity(self.current.len());
        for old in &last.inputs {
            match self.current.iter().position(|c| c.name == old.name) {
                Some(i) if self.current[i].same_as(old) => order.push(i),
                Some(_) => {
                    return Err(format!(
                        "{} changed since the interrupted run that this checkpoint records (its size \
                         or its first or last bytes differ; for a remote object, its size, ETag or \
                         version), so resuming would mix two versions of it; run with --restart to \
                         load it from the beginning",
                        old.name
                    ));
                }
                None => {
                    return Err(format!(
                        "{} was an input of the interrupted run that this checkpoint records and is \
                         not one of this run; run with the same inputs to resume it, or with \
                         --restart to start over",
                        old.name
                    ));
                }
            }
        }
        let changes = self.shape.changes_from(&last.first.shape);
        if !changes.is_empty() {
            if let Some(why) = self.reload {
                return Ok(self.fresh(
                    vec![format!(
                        "the pipeline changed since the interrupted run ({}): starting over ({why})",
                        changes.join("; ")
                    )],
                    true,
                ));
            }
            return Err(format!(
                "the pipeline changed since the interrupted run that this checkpoint records ({}); \
                 resuming would load the rest of the input with another pipeline. Run with --restart \
                 to load it again from the beginning (the rows the interrupted run committed stay in \
                 the table), use mode = \"replace\" to rebuild the table, or undo the change",
                changes.join("; ")
            ));
        }
        let resume = resume_of(&last.rows);
        let mut notes = vec![resume_note(&resume, &last.inputs)];
        let ledger = last.first.done.clone();
        let rest: Vec<usize> = self
            .all
            .iter()
            .copied()
            .filter(|i| !order.contains(i))
            .collect();
        let extra = classify(
            self.current,
            &rest,
            &ledger,
            self.shape,
            &last.first.shape,
            content_of,
        )?;
        notes.extend(extra.notes);
        order.extend(extra.load);
        Ok(Decision::Load(LoadPlan {
            inputs: order,
            resume: Some(resume),
            carry: ledger,
            written_before: last.first.written_before,
            clear_first: false,
            generation: last.generation,
            notes,
            detected: last
                .first
                .shape
                .parts
                .get(super::shape::DETECTED_PART)
                .cloned(),
        }))
    }

    /// The last run was complete: load what is new or changed since (everything, when
    /// the mode rebuilds or empties the table), skip what was loaded with the same
    /// content and pipeline.
    fn after_complete(
        &self,
        last: &Last,
        content_of: &mut dyn FnMut(usize, Option<u64>) -> Result<String, String>,
    ) -> Result<Decision, String> {
        if let Some(why) = self.reload {
            return Ok(self.fresh(
                vec![format!(
                    "loading again: {why} (the earlier load of this load was complete)"
                )],
                true,
            ));
        }
        let first = last.first;
        let mut ledger = first.done.clone();
        for inp in last.inputs.iter().filter(|i| !i.is_stdin()) {
            let (Some(size), Some(content)) = (inp.size, inp.content.clone()) else {
                return Err(format!(
                    "the checkpoint of the completed load does not record the content of {}; run \
                     with --restart to load it again",
                    inp.name
                ));
            };
            // Earlier versions of a file stay recorded: their rows are in the table too.
            ledger.retain(|d| !(d.name == inp.name && d.content == content));
            ledger.push(DoneInput {
                name: inp.name.clone(),
                size,
                content,
                shape: first.shape.hash.clone(),
                at: first.started.clone(),
                ends: inp.is_pinned_remote().then(|| inp.ends.clone()),
            });
        }
        let current = self.current;
        let mut c = classify(
            current,
            &self.all,
            &ledger,
            self.shape,
            &first.shape,
            content_of,
        )?;
        if last.inputs.iter().any(InputState::is_stdin) && current.iter().any(InputState::is_stdin)
        {
            c.notes.insert(
                0,
                "standard input is a new load each time (the last one was complete): loading it"
                    .into(),
            );
        }
        if c.load.is_empty() {
            return Ok(Decision::Skip(self.skip_all(last)));
        }
        Ok(Decision::Load(LoadPlan {
            inputs: c.load,
            resume: None,
            carry: ledger,
            written_before: first.written_before + last.written,
            clear_first: false,
            generation: self.next_generation,
            notes: c.notes,
            detected: None,
        }))
    }

    /// Every input was loaded completely by an earlier run: nothing to do.
    fn skip_all(&self, last: &Last) -> Skip {
        let resume = resume_of(&last.rows);
        let same_as_last = self.current.len() == last.inputs.len();
        let counts = if same_as_last {
            let [w, f, r] = resume.sum();
            format!(
                " ({} rows: {} written, {} filtered, {} rejected)",
                thousands(resume.committed_records),
                thousands(w),
                thousands(f),
                thousands(r)
            )
        } else {
            String::new()
        };
        Skip {
            reason: self.already_loaded(&format!("by an earlier run{counts}")),
            committed: if same_as_last {
                resume.committed_records
            } else {
                0
            },
            totals: if same_as_last { resume.sum() } else { [0; 3] },
        }
    }
}

/// Current inputs sorted into those to load and those already loaded (skipped), with a
/// note for each that is not simply new.
struct Classified {
    load: Vec<usize>,
    notes: Vec<String>,
}

fn classify(
    current: &[InputState],
    which: &[usize],
    ledger: &[DoneInput],
    shape: &Shape,
    last_shape: &Shape,
    content_of: &mut dyn FnMut(usize, Option<u64>) -> Result<String, String>,
) -> Result<Classified, String> {
    let mut out = Classified {
        load: Vec::new(),
        notes: Vec::new(),
    };
    let mut conflicts = Vec::new();
    let mut skipped = Vec::new();
    let mut grown: Vec<(usize, u64, String)> = Vec::new();
    let mut unknown: Vec<(usize, String)> = Vec::new();
    for &i in which {
        let inp = &current[i];
        if inp.is_stdin() {
            out.load.push(i);
            continue;
        }
        // The content decides, whatever the name (a renamed or rotated file, a path
        // written another way is the same input; a file rewritten is another).
        let candidates: Vec<usize> = (0..ledger.len())
            .filter(|&k| Some(ledger[k].size) == inp.size)
            .collect();
        // A remote object with the ETag and size it had when it was loaded is the same
        // object: it is not read to compare its content.
        let pinned: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&k| inp.is_pinned_remote() && ledger[k].ends.as_deref() == Some(&inp.ends))
            .collect();
        let content = if candidates.is_empty() || !pinned.is_empty() {
            None
        } else {
            Some(content_of(i, None)?)
        };
        let same: Vec<usize> = candidates
            .into_iter()
            .filter(|&k| {
                pinned.contains(&k) || content.as_deref() == Some(ledger[k].content.as_str())
            })
            .collect();
        let loaded = same
            .iter()
            .copied()
            .find(|&k| ledger[k].shape == shape.hash);
        match (loaded, same.first()) {
            (Some(k), _) => {
                let d = &ledger[k];
                skipped.push(if d.name == inp.name {
                    format!(
                        "skipping {}: loaded completely by an earlier run ({}), same content",
                        inp.name,
                        when(&d.at)
                    )
                } else {
                    format!(
                        "skipping {}: the same content as {}, loaded completely by an earlier \
                         run ({})",
                        inp.name,
                        d.name,
                        when(&d.at)
                    )
                });
            }
            (None, Some(&k)) => conflicts.push((i, ledger[k].shape.clone())),
            (None, None) => {
                if let Some(d) = ledger.iter().rev().find(|d| d.name == inp.name) {
                    // Recorded by its ETag only (its load resumed within it): with another
                    // ETag, whether its bytes changed is unknown; appending could write its
                    // rows a second time.
                    let append =
                        shape.parts.get("sink.mode").map(String::as_str) == Some("=append");
                    if d.content.starts_with(super::inputs::PINNED_CONTENT) && append {
                        unknown.push((i, d.at.clone()));
                        continue;
                    }
                    // A file that grew (rows appended to it): what was loaded is its start.
                    let grew = inp.size.is_some_and(|n| n > d.size)
                        && content_of(i, Some(d.size))? == d.content;
                    if grew && shape.parts.get("sink.mode").map(String::as_str) == Some("=append") {
                        grown.push((i, d.size, d.at.clone()));
                        continue;
                    }
                    out.notes.push(format!(
                        "{} {} since it was loaded completely ({}): loading it again{}",
                        inp.name,
                        if grew { "grew" } else { "changed" },
                        when(&d.at),
                        if grew {
                            " (its first rows are updated again, as the mode upserts)"
                        } else {
                            ""
                        }
                    ));
                }
                out.load.push(i);
            }
        }
    }
    if let Some((i, at)) = unknown.first() {
        return Err(format!(
            "{} has another ETag than when it was loaded completely ({}), and that load \
             resumed within it, so its content was recorded by its ETag alone: whether its \
             bytes changed cannot be told, and appending it again could write its rows a \
             second time (mode \"append\"). Run with --restart to load it again anyway, or use \
             mode = \"upsert\" with a key",
            current[*i].name,
            when(at)
        ));
    }
    if let Some((i, size, at)) = grown.first() {
        return Err(format!(
            "{} grew since it was loaded completely ({}): its first {size} bytes are the ones \
             loaded then, so loading it again would write their rows a second time (mode \
             \"append\"). Give the new rows a file of their own, use mode = \"upsert\" with a \
             key, or run with --restart to load all of it again",
            current[*i].name,
            when(at)
        ));
    }
    if !conflicts.is_empty() {
        let files: Vec<usize> = conflicts.iter().map(|(i, _)| *i).collect();
        let what = if conflicts.iter().all(|(_, s)| *s == last_shape.hash) {
            shape.changes_from(last_shape).join("; ")
        } else {
            "it differs from the pipeline that loaded them".into()
        };
        return Err(format!(
            "{} {} loaded completely by an earlier run of this load, and the pipeline changed since \
             ({what}): loading again would write the same rows a second time, with another \
             pipeline. Run with --restart to load again anyway (the rows already in the table \
             stay), use mode = \"replace\" to rebuild the table, or undo the change",
            names(current, &files),
            if files.len() == 1 { "was" } else { "were" },
        ));
    }
    out.notes.extend(skipped);
    Ok(out)
}

/// What [`known_elsewhere`] finds: the inputs to load, the notes, the records of the
/// skipped ones.
type Known = (Vec<usize>, Vec<String>, Vec<DoneInput>);

/// The current inputs to load, given what other loads into the table completed
/// (`others`): those with the same content and shape as one of them are skipped, with a
/// note, and their records come back to be carried by this load.
fn known_elsewhere(
    current: &[InputState],
    others: &[DoneInput],
    shape: &Shape,
    content_of: &mut dyn FnMut(usize, Option<u64>) -> Result<String, String>,
) -> Result<Known, String> {
    let mut load = Vec::new();
    let mut notes = Vec::new();
    let mut matched: Vec<DoneInput> = Vec::new();
    for (i, inp) in current.iter().enumerate() {
        let same_size = others
            .iter()
            .any(|d| Some(d.size) == inp.size && d.shape == shape.hash);
        if inp.is_stdin() || !same_size {
            load.push(i);
            continue;
        }
        let content = content_of(i, None)?;
        let known = others
            .iter()
            .find(|d| Some(d.size) == inp.size && d.shape == shape.hash && d.content == content);
        match known {
            Some(d) => {
                notes.push(format!(
                    "skipping {}: its content ({}) was loaded completely into this table by \
                     another load ({}), with the same pipeline",
                    inp.name,
                    d.name,
                    when(&d.at)
                ));
                if !matched.contains(d) {
                    matched.push(d.clone());
                }
            }
            None => load.push(i),
        }
    }
    Ok((load, notes, matched))
}

/// What the checkpoint rows of another load into the same table say was loaded
/// completely (their newest generation's record, and its inputs when it was complete).
pub fn completed_inputs(rows: &[&Stored]) -> Vec<DoneInput> {
    let newest = rows.iter().map(|s| generation(s)).max().unwrap_or(0);
    let states: Vec<&CommitState> = rows
        .iter()
        .filter(|s| generation(s) == newest)
        .filter_map(|s| s.state.as_ref())
        .collect();
    let Some(first) = states.first() else {
        return Vec::new();
    };
    let mut out = first.done.clone();
    if states.iter().any(|s| s.complete) {
        for inp in &first.inputs {
            let content = states.iter().find_map(|s| {
                s.inputs
                    .iter()
                    .find(|i| i.name == inp.name)?
                    .content
                    .clone()
            });
            if let (Some(size), Some(content)) = (inp.size, content) {
                out.push(DoneInput {
                    name: inp.name.clone(),
                    size,
                    content,
                    shape: first.shape.hash.clone(),
                    at: first.started.clone(),
                    ends: inp.is_pinned_remote().then(|| inp.ends.clone()),
                });
            }
        }
    }
    out
}

/// Why the table no longer holds what the checkpoint records, if it does not.
fn table_gone(table: &TableState, recorded_id: Option<&str>, written: u64) -> Option<String> {
    let t = &table.name;
    if !table.exists {
        return Some(format!("table {t} no longer exists"));
    }
    if let (Some(now), Some(then)) = (table.id.as_deref(), recorded_id)
        && now != then
    {
        return Some(format!("table {t} was dropped and created again"));
    }
    if table.has_rows == Some(false) && written > 0 {
        return Some(format!(
            "table {t} is empty, though this load wrote {} rows into it",
            thousands(written)
        ));
    }
    None
}

fn names(current: &[InputState], which: &[usize]) -> String {
    let v: Vec<&str> = which.iter().map(|&i| current[i].name.as_str()).collect();
    match v.len() {
        0 => "nothing".into(),
        1..=3 => v.join(", "),
        n => format!("{}, ... ({n} inputs)", v[..2].join(", ")),
    }
}

fn when(at: &str) -> String {
    if at.is_empty() {
        "by an earlier run".into()
    } else {
        format!("on {at}")
    }
}

/// Where to resume, from the states of the interrupted run's writers: the furthest
/// low-water mark, and every committed range beyond it.
fn resume_of(rows: &[&Stored]) -> Resume {
    let (writers, states): (Vec<u32>, Vec<&CommitState>) = rows
        .iter()
        .filter_map(|r| r.state.as_ref().map(|s| (r.writer, s)))
        .unzip();
    resume_from(&writers, &states)
}

fn resume_from(writers: &[u32], states: &[&CommitState]) -> Resume {
    let best = states
        .iter()
        .max_by_key(|s| (s.lwm_records, s.lwm))
        .copied()
        .unwrap_or(states[0]);
    let start = best.lwm;
    let mut skip: Vec<Range> = states
        .iter()
        .flat_map(|s| s.ranges.iter().copied())
        .filter(|r| r.first >= (start.file, start.record + 1))
        .collect();
    skip.sort_by_key(|r| r.first);
    skip.dedup();
    // Counted from the writers' totals (each row holds its writer's, over the runs of
    // the generation), not from the ranges: two writers' records may describe the same
    // batches merged differently, and overlapping ranges would be counted twice.
    let committed_records = states
        .iter()
        .map(|s| s.written + s.filtered + s.rejected)
        .sum();
    Resume {
        start,
        start_records: best.lwm_records,
        skip,
        committed_records,
        totals: states
            .iter()
            .zip(writers)
            .map(|(s, w)| (*w, [s.written, s.filtered, s.rejected]))
            .collect(),
        reject_bytes: states.iter().map(|s| s.reject_bytes).max().unwrap_or(0),
    }
}

fn resume_note(r: &Resume, inputs: &[InputState]) -> String {
    format!(
        "resuming at line {} of {}; {} rows already committed{}",
        thousands(r.start.line.max(1)),
        inputs
            .get(r.start.file as usize)
            .map_or("", |i| i.name.as_str()),
        thousands(r.committed_records),
        if r.skip.is_empty() {
            String::new()
        } else {
            format!(
                " ({} of them further on, skipped when reached)",
                thousands(r.skip.iter().map(|s| s.records).sum())
            )
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::SavedPosition;

    fn input(name: &str, size: u64) -> InputState {
        InputState {
            name: name.into(),
            size: Some(size),
            ends: format!("ends-{name}-{size}"),
            content: None,
        }
    }

    fn shape(h: &str) -> Shape {
        let mut s = Shape {
            hash: h.into(),
            ..Shape::default()
        };
        s.parts
            .insert("transform 1 (compute) column \"e\"".into(), format!("#{h}"));
        s
    }

    fn state(lwm: u64, ranges: Vec<Range>, complete: bool, inputs: Vec<InputState>) -> CommitState {
        CommitState {
            lwm: SavedPosition {
                file: 0,
                record: lwm,
                line: lwm + 1,
                byte: lwm * 10,
            },
            lwm_records: lwm,
            ranges,
            written: lwm,
            filtered: 0,
            rejected: 0,
            reject_bytes: lwm,
            complete,
            inputs,
            shape: shape("s1"),
            done: Vec::new(),
            written_before: 0,
            table_id: None,
            started: "2026-12-01T00:00:00Z".into(),
            generation: 1,
        }
    }

    fn stored(writer: u32, run: &str, s: CommitState) -> Stored {
        Stored {
            writer,
            run_id: run.into(),
            state: Some(s),
        }
    }

    fn range(a: u64, b: u64) -> Range {
        Range {
            first: (0, a),
            last: (0, b),
            records: b - a + 1,
        }
    }

    fn table() -> TableState {
        TableState {
            name: "t".into(),
            exists: true,
            id: None,
            has_rows: Some(true),
        }
    }

    fn hashed(mut i: InputState, c: &str) -> InputState {
        i.content = Some(c.into());
        i
    }

    /// Decide with every current input's content hash equal to `contents[i]`.
    fn run(
        stored: &[Stored],
        current: &[InputState],
        sh: &str,
        reload: Option<&str>,
        t: &TableState,
        contents: &[&str],
    ) -> Result<Decision, String> {
        decide(
            stored,
            current,
            &shape(sh),
            false,
            reload,
            t,
            &[],
            &mut |i, _| Ok(contents[i].to_string()),
        )
    }

    fn load(d: Decision) -> LoadPlan {
        match d {
            Decision::Load(l) => l,
            Decision::Skip(s) => panic!("expected a load, got a skip: {}", s.reason),
        }
    }

    #[test]
    fn a_complete_load_is_skipped_only_for_the_same_content_and_pipeline() {
        let a = input("a.csv", 100);
        let done = [stored(
            0,
            "10-1",
            state(5, vec![], true, vec![hashed(a.clone(), "ca")]),
        )];
        // Same content (a touched file has the same ends and content): skipped.
        let d = run(
            &done,
            std::slice::from_ref(&a),
            "s1",
            None,
            &table(),
            &["ca"],
        )
        .unwrap();
        let Decision::Skip(s) = d else {
            panic!("{d:?}")
        };
        assert!(
            s.reason.contains("already loaded completely into t"),
            "{}",
            s.reason
        );
        assert_eq!(s.committed, 5);
        // Same size and ends, different content: loaded again, and said.
        let l = load(
            run(
                &done,
                std::slice::from_ref(&a),
                "s1",
                None,
                &table(),
                &["other"],
            )
            .unwrap(),
        );
        assert_eq!(l.inputs, [0]);
        assert!(
            l.notes[0].contains("changed since it was loaded"),
            "{:?}",
            l.notes
        );
        assert_eq!(
            l.carry.len(),
            1,
            "the old version stays recorded: its rows are in the table"
        );
        // The same input under a changed pipeline: refused in append, saying what.
        let e = run(
            &done,
            std::slice::from_ref(&a),
            "s2",
            None,
            &table(),
            &["ca"],
        )
        .unwrap_err();
        assert!(
            e.contains("pipeline changed") && e.contains("column \"e\" changed"),
            "{e}"
        );
        assert!(e.contains("--restart") && e.contains("replace"), "{e}");
        // ... and loaded again where the mode rebuilds the table.
        let l = load(
            run(
                &done,
                std::slice::from_ref(&a),
                "s2",
                Some("mode replace"),
                &table(),
                &["ca"],
            )
            .unwrap(),
        );
        assert!(l.clear_first && l.carry.is_empty());
        let l = load(run(&done, &[a], "s1", Some("mode replace"), &table(), &["ca"]).unwrap());
        assert!(l.notes[0].contains("loading again"), "{:?}", l.notes);
    }

    #[test]
    fn a_glob_that_gains_a_file_loads_that_file_only() {
        let a = input("a.csv", 100);
        let b = input("b.csv", 200);
        let c = input("c.csv", 300);
        let done = [stored(
            0,
            "10-1",
            state(
                9,
                vec![],
                true,
                vec![hashed(a.clone(), "ca"), hashed(b.clone(), "cb")],
            ),
        )];
        let l = load(run(&done, &[a, b, c], "s1", None, &table(), &["ca", "cb", "cc"]).unwrap());
        assert_eq!(l.inputs, [2]);
        assert_eq!(l.carry.len(), 2, "a and b stay recorded as loaded");
        assert_eq!(l.written_before, 9);
        assert!(
            l.notes.iter().any(|n| n.contains("skipping a.csv")),
            "{:?}",
            l.notes
        );
        assert!(
            !l.clear_first,
            "the record of a and b must survive until this run commits"
        );
    }

    #[test]
    fn a_renamed_file_with_the_same_content_is_the_same_input() {
        let a = input("app.log.1", 100);
        let done = [stored(
            0,
            "10-1",
            state(5, vec![], true, vec![hashed(a.clone(), "ca")]),
        )];
        let rotated = input("app.log.2", 100);
        let fresh = input("app.log.1", 120);
        let l = load(
            run(
                &done,
                &[fresh, rotated],
                "s1",
                None,
                &table(),
                &["cnew", "ca"],
            )
            .unwrap(),
        );
        assert_eq!(l.inputs, [0], "only the new file");
        assert!(
            l.notes
                .iter()
                .any(|n| n.contains("the same content as app.log.1")),
            "{:?}",
            l.notes
        );
    }

    #[test]
    fn standard_input_is_never_already_loaded_and_never_resumed() {
        let done = [stored(
            0,
            "10-1",
            state(24, vec![], true, vec![InputState::stdin()]),
        )];
        let l = load(run(&done, &[InputState::stdin()], "s1", None, &table(), &[""]).unwrap());
        assert_eq!(l.inputs, [0]);
        assert!(l.notes[0].contains("new load"), "{:?}", l.notes);
        let cut = [stored(
            0,
            "10-1",
            state(24, vec![], false, vec![InputState::stdin()]),
        )];
        let e = run(&cut, &[InputState::stdin()], "s1", None, &table(), &[""]).unwrap_err();
        assert!(
            e.contains("cannot be resumed") && e.contains("--restart"),
            "{e}"
        );
    }

    #[test]
    fn a_table_that_is_gone_or_emptied_holds_nothing_of_the_load() {
        let a = input("a.csv", 100);
        let done = [stored(
            0,
            "10-1",
            state(5, vec![], true, vec![hashed(a.clone(), "ca")]),
        )];
        let gone = TableState {
            exists: false,
            ..table()
        };
        let l = load(run(&done, std::slice::from_ref(&a), "s1", None, &gone, &["ca"]).unwrap());
        assert!(
            l.clear_first && l.notes[0].contains("no longer exists"),
            "{:?}",
            l.notes
        );
        let empty = TableState {
            has_rows: Some(false),
            ..table()
        };
        let l = load(run(&done, std::slice::from_ref(&a), "s1", None, &empty, &["ca"]).unwrap());
        assert!(l.notes[0].contains("is empty"), "{:?}", l.notes);
        // A table recreated since (another oid).
        let mut with_id = state(5, vec![], true, vec![hashed(a.clone(), "ca")]);
        with_id.table_id = Some("111".into());
        let recorded = [stored(0, "10-1", with_id)];
        let other = TableState {
            id: Some("222".into()),
            ..table()
        };
        let l = load(
            run(
                &recorded,
                std::slice::from_ref(&a),
                "s1",
                None,
                &other,
                &["ca"],
            )
            .unwrap(),
        );
        assert!(l.notes[0].contains("created again"), "{:?}", l.notes);
        let same = TableState {
            id: Some("111".into()),
            ..table()
        };
        assert!(matches!(
            run(&recorded, &[a], "s1", None, &same, &["ca"]).unwrap(),
            Decision::Skip(_)
        ));
    }

    #[test]
    fn resume_from_the_furthest_mark_skipping_ranges_beyond_it() {
        let a = input("a.csv", 100);
        // Writer 0 committed up to record 100 and batch 201..300; writer 1 up to 150
        // (it knew 101..150 was done) and 151..200.
        let rows = [
            stored(
                0,
                "10-1",
                state(100, vec![range(201, 300)], false, vec![a.clone()]),
            ),
            stored(
                1,
                "10-1",
                state(
                    150,
                    vec![range(151, 200), range(101, 120)],
                    false,
                    vec![a.clone()],
                ),
            ),
        ];
        let l = load(
            run(
                &rows,
                std::slice::from_ref(&a),
                "s1",
                None,
                &table(),
                &["x"],
            )
            .unwrap(),
        );
        let r = l.resume.unwrap();
        assert_eq!(r.start.record, 150);
        assert_eq!(r.skip, vec![range(151, 200), range(201, 300)]);
        assert_eq!(r.committed_records, 100 + 150, "the writers' totals");
        assert_eq!(r.sum(), [250, 0, 0]);
        assert_eq!(r.reject_bytes, 150);
        assert!(
            l.notes[0].contains("resuming at line 151 of a.csv"),
            "{:?}",
            l.notes
        );
        // Any mode resumes an interrupted run.
        let l = load(
            run(
                &rows,
                std::slice::from_ref(&a),
                "s1",
                Some("mode replace"),
                &table(),
                &["x"],
            )
            .unwrap(),
        );
        assert!(l.resume.is_some());
        // A changed input is refused; so is a changed pipeline in append, while replace
        // starts over.
        let changed = input("a.csv", 101);
        let e = run(&rows, &[changed], "s1", None, &table(), &["x"]).unwrap_err();
        assert!(
            e.contains("changed since the interrupted run") && e.contains("--restart"),
            "{e}"
        );
        let e = run(
            &rows,
            std::slice::from_ref(&a),
            "s2",
            None,
            &table(),
            &["x"],
        )
        .unwrap_err();
        assert!(
            e.contains("pipeline changed since the interrupted run"),
            "{e}"
        );
        let l = load(run(&rows, &[a], "s2", Some("mode replace"), &table(), &["x"]).unwrap());
        assert!(l.resume.is_none() && l.clear_first);
    }

    #[test]
    fn the_newest_generation_counts_and_restart_clears() {
        let a = input("a.csv", 100);
        let b = input("b.csv", 100);
        // An older complete run of a, and a newer run (of b) interrupted before writer
        // 0's first commit removed the older rows.
        let mut newer = state(3, vec![], false, vec![b.clone()]);
        newer.done = vec![DoneInput {
            name: "a.csv".into(),
            size: 100,
            content: "ca".into(),
            shape: "s1".into(),
            at: String::new(),
            ends: None,
        }];
        // The generation decides, not the run ids' clock (the older run's id is later).
        newer.generation = 2;
        let rows = [
            stored(
                0,
                "90-1",
                state(5, vec![], true, vec![hashed(a.clone(), "ca")]),
            ),
            stored(1, "20-2", newer),
        ];
        let l = load(
            run(
                &rows,
                &[a.clone(), b.clone()],
                "s1",
                None,
                &table(),
                &["ca", "x"],
            )
            .unwrap(),
        );
        assert_eq!(l.inputs, [1], "b resumes; a stays skipped");
        assert_eq!(l.resume.unwrap().start.record, 3);
        let d = decide(
            &rows,
            &[a, b],
            &shape("s1"),
            true,
            None,
            &table(),
            &[],
            &mut |_, _| Ok(String::new()),
        )
        .unwrap();
        let l = load(d);
        assert!(l.clear_first && l.resume.is_none() && l.carry.is_empty());
    }

    #[test]
    fn a_remote_object_with_its_etag_unchanged_is_skipped_without_being_read() {
        let mut obj = input("s3://b/k.csv", 100);
        obj.ends = "remote:abc".into();
        let done = |content: &str| DoneInput {
            name: obj.name.clone(),
            size: 100,
            content: content.into(),
            shape: "s1".into(),
            at: String::new(),
            ends: Some("remote:abc".into()),
        };
        let append = {
            let mut s = shape("s1");
            s.parts.insert("sink.mode".into(), "=append".into());
            s
        };
        // The object as it is now, against one ledger entry; `bytes` is what reading it
        // would hash (None: it must not be read).
        let decide = |obj: &InputState, d: DoneInput, s: &Shape, bytes: Option<&str>| {
            let mut read = |_: usize, _: Option<u64>| -> Result<String, String> {
                bytes
                    .map(String::from)
                    .ok_or_else(|| panic!("the object was read to compare its content"))
            };
            classify(std::slice::from_ref(obj), &[0], &[d], s, s, &mut read)
        };
        // The same ETag and size: skipped, not read.
        let c = decide(&obj, done("hash-1"), &append, None).unwrap();
        assert!(c.load.is_empty(), "{:?}", c.notes);
        // Another ETag: the content decides. The same bytes are skipped; others load.
        obj.ends = "remote:def".into();
        let c = decide(&obj, done("hash-1"), &append, Some("hash-1")).unwrap();
        assert!(c.load.is_empty(), "{:?}", c.notes);
        let c = decide(&obj, done("hash-1"), &shape("s1"), Some("hash-2")).unwrap();
        assert_eq!(c.load, [0]);
        // Recorded by its ETag only (its load resumed within it), found under another
        // ETag: refused in append mode, loaded again in the others.
        let Err(e) = decide(&obj, done("pinned:remote:abc"), &append, Some("hash-1")) else {
            panic!("a pinned-only object with another ETag was appended again");
        };
        assert!(e.contains("cannot be told"), "{e}");
        let c = decide(
            &obj,
            done("pinned:remote:abc"),
            &shape("s1"),
            Some("hash-1"),
        )
        .unwrap();
        assert_eq!(c.load, [0]);
    }
}
