//! The CSV source: several inputs read in order as one stream of records, all with the
//! same header.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::input::{Input, Part, SharedHasher, open_input, open_input_hashed};
use super::reader::{Dialect, RecordReader};
use super::{Source, SourceRecord};
use crate::error::{Error, Result};
use crate::row::{Position, RawRecord};

/// Everything the CSV source needs, resolved from the pipeline's `[source]`.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Inputs in order.
    pub inputs: Vec<Input>,
    /// Dialect.
    pub dialect: Dialect,
    /// Whether the first record of each input is a header.
    pub has_header: bool,
    /// A larger record is a row error (its fields cut short for the reject file).
    pub max_record: usize,
    /// A larger header is a fatal error.
    pub max_header: usize,
    /// Set, reading stops at once with [`Error::Interrupted`] (Ctrl-C while a long line
    /// is read).
    pub stop: Arc<std::sync::atomic::AtomicBool>,
    /// The inputs' encoding, when it is not UTF-8 (header names are decoded with it;
    /// fields are decoded by the decode stage, so the reject file keeps their bytes).
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// The dialect parts to detect in the first input's first lines before reading it
    /// (see [`super::sniff`]); what is detected replaces `dialect` and `has_header`.
    pub detect: Option<super::Unknowns>,
    /// Field values read as NULL (for detecting the header).
    pub null_values: Vec<String>,
    /// Inputs whose headers differ are read as one table: the union of their columns
    /// (in the order first seen), matched by name, a column an input lacks NULL.
    pub union_by_name: bool,
    /// JSON Lines: each line (one field under [`super::LINE_DIALECT`]) laid out as
    /// these columns, or as the columns found in the first lines.
    pub json: Option<JsonColumns>,
    /// JSON Lines: give each line as it is (one field) and leave laying it out as the
    /// columns to the decode stage (on every core), which rejects a bad line whole.
    pub json_raw: bool,
}

/// The columns of a JSON Lines input.
#[derive(Debug, Clone)]
pub enum JsonColumns {
    /// Found in the first `sample` lines: their keys, the `declared` columns no line
    /// had, then `fields` (name → JSON pointer).
    Discover {
        /// Lines looked at.
        sample: usize,
        /// Columns declared in `[source.schema]`.
        declared: Vec<String>,
        /// `fields`: name → JSON pointer.
        fields: Vec<(String, String)>,
    },
    /// Found by an earlier open of the same load.
    Known(super::JsonLayout),
}

impl CsvOptions {
    /// Options with the default limits.
    pub fn new(inputs: Vec<Input>, dialect: Dialect, has_header: bool) -> Self {
        CsvOptions {
            inputs,
            dialect,
            has_header,
            max_record: super::reader::DEFAULT_MAX_RECORD,
            max_header: DEFAULT_MAX_HEADER,
            stop: Arc::default(),
            encoding: None,
            detect: None,
            null_values: Vec::new(),
            union_by_name: false,
            json: None,
            json_raw: false,
        }
    }
}

/// The default largest header.
pub const DEFAULT_MAX_HEADER: usize = 1 << 20;

type Reader = RecordReader<Box<dyn Read + Send>>;

/// Reads records from every input in turn.
pub struct CsvSource {
    opts: CsvOptions,
    names: Vec<String>,
    /// Header as read from the first input (raw bytes), for comparing later headers.
    header_raw: Option<RawRecord>,
    file: usize,
    reader: Option<Reader>,
    record_no: u64,
    pending: VecDeque<SourceRecord>,
    bytes_read: Arc<AtomicU64>,
    bytes_total: Option<u64>,
    /// The content hash of the input being read, when it is read from its first byte.
    hashing: Option<SharedHasher>,
    /// Content hashes of the inputs read to their end.
    hashes: Vec<Option<String>>,
    /// What reading said besides rows, for the run's notes.
    notes: Vec<String>,
    /// Where the input being read ends, when it is a [`Part`] of one.
    end: Option<u64>,
    /// What was detected of the dialect, when something was.
    detected: Option<super::Sniffed>,
    /// With `union_by_name`: each input's header names, as read when it was planned.
    headers: Vec<Option<Vec<String>>>,
    /// With `union_by_name`, for the input being read when its columns differ from the
    /// union: the input's field for each column of the union, and its field count.
    map: Option<(Vec<Option<usize>>, usize)>,
    /// JSON Lines: the columns each line is laid out as.
    json: Option<super::JsonLayout>,
}

impl CsvSource {
    /// Open the first input and read its header (or peek at the first record to count
    /// the columns when there is no header).
    pub fn open(opts: CsvOptions) -> Result<Self> {
        let bytes_total = opts
            .inputs
            .iter()
            .map(Input::size)
            .try_fold(0u64, |acc, s| s.map(|s| acc + s));
        for i in &opts.inputs {
            if let Input::Remote(o) = i {
                o.watch(opts.stop.clone());
            }
        }
        let mut src = CsvSource {
            names: Vec::new(),
            header_raw: None,
            file: 0,
            reader: None,
            record_no: 0,
            pending: VecDeque::new(),
            bytes_read: Arc::new(AtomicU64::new(0)),
            bytes_total,
            hashing: None,
            hashes: vec![None; opts.inputs.len()],
            notes: Vec::new(),
            end: None,
            detected: None,
            headers: Vec::new(),
            map: None,
            json: None,
            opts,
        };
        src.headers = vec![None; src.opts.inputs.len()];
        if src.opts.union_by_name
            && let Some(i) = src.opts.inputs.iter().position(|i| !i.rereadable())
        {
            return Err(Error::Input {
                file: src.input_name(i),
                message: "union_by_name reads every header before loading, and standard input \
                          cannot be read twice: give the inputs as files"
                    .into(),
            });
        }
        src.open_file(0)?;
        if src.opts.has_header {
            // Every other file's header is checked now, before anything is written, not
            // when the reader reaches it (standard input is checked when it is read).
            for i in 1..src.opts.inputs.len() {
                if src.opts.inputs[i].rereadable() {
                    let (rdr, _) = open_input(&src.opts.inputs[i], Arc::new(AtomicU64::new(0)))?;
                    let mut reader = src.reader_over(rdr);
                    let header = src.read_header(i, &mut reader)?;
                    src.check_header(i, header)?;
                }
            }
            // Every header is in: the first input's place in the union is known now.
            if src.opts.union_by_name {
                src.map = src.union_map(0);
            }
        }
        if !src.opts.has_header {
            // Column count from the first record (kept for reading).
            let n = match src.next_record()? {
                Some(r) => {
                    let n = r.raw.len();
                    src.pending.push_back(r);
                    n
                }
                None => 0,
            };
            src.names = (1..=n).map(|i| format!("column_{i}")).collect();
        }
        if let Some(cols) = src.opts.json.clone() {
            let layout = match cols {
                JsonColumns::Known(l) => l,
                JsonColumns::Discover {
                    sample,
                    declared,
                    fields,
                } => {
                    let lines = src.peek(sample)?;
                    let layout = super::JsonLayout::discover(
                        lines.iter().filter_map(|r| r.get(0)),
                        &declared,
                        &fields,
                        format!("the first {} lines", lines.len()),
                    );
                    src.opts.json = Some(JsonColumns::Known(layout.clone()));
                    layout
                }
            };
            src.names = layout.names.clone();
            src.json = Some(layout);
        }
        Ok(src)
    }

    /// The same source over other inputs (with the same header), read from the start.
    pub fn with_inputs(&self, inputs: Vec<Input>) -> Result<CsvSource> {
        CsvSource::open(CsvOptions {
            inputs,
            ..self.opts.clone()
        })
    }

    /// What was detected of the dialect in the first input, when something was.
    pub(crate) fn detected(&self) -> Option<&super::Sniffed> {
        self.detected.as_ref()
    }

    /// The options the source reads with (the detected dialect included).
    pub fn options(&self) -> &CsvOptions {
        &self.opts
    }

    /// Detect what `opts.detect` asks for from the first lines `reader` (at the start of
    /// input `i`) gives, and read with it from now on.
    fn detect_dialect(&mut self, i: usize, reader: &mut Reader) -> Result<()> {
        let Some(want) = self.opts.detect.take() else {
            return Ok(());
        };
        let found = {
            let (head, complete) = reader.peek_head(super::sniff::SAMPLE_BYTES).map_err(|e| {
                if super::reader::is_stopped(&e) {
                    Error::Interrupted(format!("reading {} stopped", self.input_name(i)))
                } else {
                    read_error(&self.input_name(i), e)
                }
            })?;
            super::sniff::sniff(
                head,
                complete,
                self.opts.dialect,
                &want,
                &self.opts.null_values,
            )
        };
        reader.set_dialect(found.dialect);
        self.opts.dialect = found.dialect;
        self.opts.has_header = found.has_header;
        self.detected = Some(found);
        Ok(())
    }

    /// With `union_by_name`: which columns some inputs lack, in one line (`None` when
    /// every header is the same).
    pub(crate) fn union_note(&self) -> Option<String> {
        if !self.opts.union_by_name {
            return None;
        }
        let mut partial = Vec::new();
        for n in &self.names {
            let lacking: Vec<String> = self
                .headers
                .iter()
                .enumerate()
                .filter(|(_, h)| h.as_ref().is_some_and(|h| !h.contains(n)))
                .map(|(i, _)| self.input_name(i))
                .collect();
            if !lacking.is_empty() {
                let more = if lacking.len() > 1 {
                    format!(" and {} more", lacking.len() - 1)
                } else {
                    String::new()
                };
                partial.push(format!("{n:?} (NULL in {}{more})", lacking[0]));
            }
        }
        (!partial.is_empty()).then(|| {
            format!(
                "union_by_name: {} columns from {} inputs; not in every input: {}",
                self.names.len(),
                self.opts.inputs.len(),
                partial.join(", ")
            )
        })
    }

    /// With `union_by_name`: where input `i`'s fields go in the union of the headers,
    /// when its header is not the union itself.
    fn union_map(&self, i: usize) -> Option<(Vec<Option<usize>>, usize)> {
        let own = self.headers.get(i)?.as_ref()?;
        if *own == self.names {
            return None;
        }
        Some((
            self.names
                .iter()
                .map(|n| own.iter().position(|o| o == n))
                .collect(),
            own.len(),
        ))
    }

    /// The inputs, in order.
    pub fn input_list(&self) -> &[Input] {
        &self.opts.inputs
    }

    /// The display name of input `i`.
    pub fn input_name(&self, i: usize) -> String {
        self.opts
            .inputs
            .get(i)
            .map(Input::display)
            .unwrap_or_default()
    }

    fn open_file(&mut self, i: usize) -> Result<()> {
        let input = self.opts.inputs[i].clone();
        self.end = None;
        if let Input::Part(p) = &input
            && p.start > 0
        {
            return self.open_part(i, p);
        }
        let hasher = input.rereadable().then(SharedHasher::default);
        self.hashing = hasher.clone();
        let (rdr, _) = open_input_hashed(&input, self.bytes_read.clone(), hasher)?;
        let mut reader = self.reader_over(rdr);
        self.detect_dialect(i, &mut reader)?;
        self.file = i;
        self.record_no = 0;
        if self.opts.has_header {
            let header = self.read_header(i, &mut reader)?;
            self.check_header(i, header)?;
        }
        self.map = self.union_map(i);
        self.reader = Some(reader);
        if let Input::Part(p) = &input {
            self.hashing = None;
            self.end = Some(p.end);
        }
        Ok(())
    }

    /// Open input `i`, the range `p` of a file starting after its first record: the
    /// header is read (and checked) from the file's start, then reading continues at the
    /// range's start with the line counter the split found there.
    fn open_part(&mut self, i: usize, p: &Part) -> Result<()> {
        self.hashing = None;
        self.file = i;
        self.record_no = 0;
        if self.opts.detect.is_some() {
            let (rdr, _) = open_input(&p.of, Arc::new(AtomicU64::new(0)))?;
            let mut reader = self.reader_over(rdr);
            self.detect_dialect(i, &mut reader)?;
        }
        if self.opts.has_header {
            let (rdr, _) = open_input(&p.of, Arc::new(AtomicU64::new(0)))?;
            let mut reader = self.reader_over(rdr);
            let header = self.read_header(i, &mut reader)?;
            self.check_header(i, header)?;
        }
        self.map = self.union_map(i);
        self.reader = Some(self.reader_at(p, p.start, p.line)?);
        Ok(())
    }

    /// A reader of the range `p` from `byte` (a record boundary) on, where the line
    /// counter is `line`; progress counts from the range's start.
    fn reader_at(&mut self, p: &Part, byte: u64, line: u64) -> Result<Reader> {
        let before = self.bytes_read.load(Ordering::Relaxed);
        let rdr = super::input::open_input_at(&p.of, self.bytes_read.clone(), byte)?;
        self.bytes_read
            .store(before + byte.saturating_sub(p.start), Ordering::Relaxed);
        let mut reader = RecordReader::resume(rdr, self.opts.dialect, line, byte);
        reader.set_max_record(self.opts.max_record, true);
        reader.set_stop(self.opts.stop.clone());
        self.end = Some(p.end);
        Ok(reader)
    }

    /// A record reader over `rdr` with this source's dialect, limit and stop flag.
    fn reader_over(&self, rdr: Box<dyn Read + Send>) -> Reader {
        let mut reader = RecordReader::new(rdr, self.opts.dialect);
        reader.set_max_record(self.opts.max_record, true);
        reader.set_stop(self.opts.stop.clone());
        reader
    }

    /// Read input `i`'s header: a record no larger than `max_header`, read as a record
    /// (an unterminated quote or an oversized header is an error).
    fn read_header(&self, i: usize, reader: &mut Reader) -> Result<Option<RawRecord>> {
        let file = self.input_name(i);
        reader.set_max_record(self.opts.max_header, false);
        let header = reader.read().map_err(|e| {
            if e.get_ref()
                .is_some_and(|x| x.is::<super::reader::TooLarge>())
            {
                Error::Input {
                    file: file.clone(),
                    message: format!(
                        "line 1: the header is longer than source.max_header_bytes = {} bytes (or \
                         has more than {} fields; no end of line was found within it): is this a \
                         CSV file, with this delimiter and quote? (raise max_header_bytes for a \
                         header that long)",
                        self.opts.max_header,
                        self.opts.max_header / 8
                    ),
                }
            } else {
                read_error(&file, e)
            }
        })?;
        reader.set_max_record(self.opts.max_record, true);
        match header {
            Some(h) => match h.problem {
                Some(p) => Err(Error::Input {
                    file,
                    message: format!("line {}: the header cannot be read: {p}", h.start.line),
                }),
                None => Ok(Some(h.raw)),
            },
            None => Ok(None),
        }
    }

    /// Take the first input's header, or check that input `i` has the same one.
    fn check_header(&mut self, i: usize, header: Option<RawRecord>) -> Result<()> {
        let file = self.input_name(i);
        if self.opts.union_by_name
            && let Some(h) = &header
        {
            let got = header_names(h, &file, self.opts.encoding)?;
            for (k, n) in got.iter().enumerate() {
                if got[..k].contains(n) {
                    return Err(Error::Input {
                        file,
                        message: format!(
                            "line 1: the header names {n:?} twice: union_by_name matches columns \
                             by name"
                        ),
                    });
                }
            }
            match &self.headers[i] {
                // Read again when the reader reaches it: it must not have changed.
                Some(planned) if *planned != got => {
                    return Err(Error::Input {
                        file,
                        message: "the header changed since the load was planned".into(),
                    });
                }
                Some(_) => {}
                None => {
                    for n in &got {
                        if !self.names.contains(n) {
                            self.names.push(n.clone());
                        }
                    }
                    if self.header_raw.is_none() {
                        self.header_raw = Some(h.clone());
                    }
                    self.headers[i] = Some(got);
                }
            }
            return Ok(());
        }
        match (&self.header_raw, header) {
            (None, None) => Err(Error::Input {
                file,
                message: "the file is empty: no header line (set has_header = false \
                          for headerless files)"
                    .into(),
            }),
            (None, Some(h)) => {
                self.names = header_names(&h, &file, self.opts.encoding)?;
                self.header_raw = Some(h);
                Ok(())
            }
            (Some(first), Some(h)) if *first != h => {
                let got = header_names(&h, &file, self.opts.encoding)?;
                Err(Error::Input {
                    message: header_diff(&self.names, &got, &self.input_name(0)),
                    file,
                })
            }
            (Some(_), Some(_)) => Ok(()),
            (Some(_), None) => Err(Error::Input {
                message: format!(
                    "the file is empty, but it should start with the same header as {}",
                    self.input_name(0)
                ),
                file,
            }),
        }
    }

    fn next_record(&mut self) -> Result<Option<SourceRecord>> {
        let mut r = match self.pending.pop_front() {
            Some(r) => r,
            None => match self.read_from_files()? {
                Some(r) => r,
                None => return Ok(None),
            },
        };
        // JSON lines are read (and read ahead) as lines, laid out here unless the
        // decode stage does it.
        if let Some(layout) = self.json.as_ref().filter(|_| !self.opts.json_raw) {
            to_columns(layout, &mut r);
        }
        Ok(Some(r))
    }

    /// JSON Lines: from now on give each line as it is, and the layout the decode stage
    /// lays them out with.
    pub(crate) fn leave_json_to_decode(&mut self) -> Option<super::JsonLayout> {
        self.opts.json_raw = true;
        self.json.clone()
    }

    fn read_from_files(&mut self) -> Result<Option<SourceRecord>> {
        loop {
            let Some(reader) = self.reader.as_mut() else {
                return Ok(None);
            };
            // A range ends where the split put the next record's start.
            let next = if self.end.is_some_and(|end| reader.offset() >= end) {
                None
            } else {
                reader
                    .read()
                    .map_err(|e| read_error(&self.opts.inputs[self.file].display(), e))?
            };
            match next {
                Some(super::reader::ReadRecord {
                    start,
                    mut raw,
                    mut problem,
                }) => {
                    self.record_no += 1;
                    if let Some((map, width)) = &self.map
                        && problem.is_none()
                    {
                        if raw.len() == *width {
                            raw = remap(&raw, map);
                        } else {
                            problem = Some(format!(
                                "expected {width} fields (the header of this file), found {}",
                                raw.len()
                            ));
                        }
                    }
                    let (line, byte) = reader.next_position();
                    return Ok(Some(SourceRecord {
                        pos: Position {
                            file: self.file as u32,
                            record: self.record_no,
                            line: start.line,
                            byte: start.byte,
                        },
                        next: Position {
                            file: self.file as u32,
                            record: self.record_no,
                            line,
                            byte,
                        },
                        raw,
                        problem,
                    }));
                }
                None => {
                    self.reader = None;
                    self.finish_hash(self.file);
                    if self.file + 1 < self.opts.inputs.len() {
                        self.open_file(self.file + 1)?;
                    }
                }
            }
        }
    }

    /// Input `i` was read to its end: keep its content hash, if every byte of the file
    /// went through it (a decompressor may stop before trailing bytes; the file is then
    /// hashed whole at the end).
    fn finish_hash(&mut self, i: usize) {
        let Some(h) = self.hashing.take() else {
            return;
        };
        let h = h.lock().unwrap_or_else(|p| p.into_inner());
        let input = self.opts.inputs.get(i);
        let size = input.and_then(Input::size);
        // An object whose server gave no size was read to the end of its stream.
        let unsized_remote = size.is_none() && matches!(input, Some(Input::Remote(_)));
        if size == Some(h.len()) || unsized_remote {
            self.hashes[i] = Some(h.finish());
        }
    }

    /// Read up to `n` records ahead (kept and returned again by `read_batch`), for
    /// sampling types from inputs that can be read only once.
    pub fn peek(&mut self, n: usize) -> Result<Vec<RawRecord>> {
        while self.pending.len() < n {
            match self.read_from_files()? {
                Some(r) => self.pending.push_back(r),
                None => break,
            }
        }
        Ok(self
            .pending
            .iter()
            .take(n)
            .filter_map(|r| {
                let mut r = r.clone();
                if let Some(layout) = &self.json {
                    to_columns(layout, &mut r);
                }
                r.problem.is_none().then_some(r.raw)
            })
            .collect())
    }
}

impl Source for CsvSource {
    fn notes(&self) -> Vec<String> {
        let mut out = self.notes.clone();
        for i in &self.opts.inputs {
            if let Input::Remote(o) = i {
                out.extend(o.take_events());
            }
        }
        out
    }

    fn columns(&self) -> &[String] {
        &self.names
    }

    fn inputs(&self) -> Vec<String> {
        self.opts.inputs.iter().map(Input::display).collect()
    }

    fn read_batch(
        &mut self,
        max: usize,
        max_bytes: usize,
        out: &mut Vec<SourceRecord>,
    ) -> Result<()> {
        let mut bytes = 0usize;
        while out.len() < max && bytes < max_bytes {
            match self.next_record()? {
                Some(r) => {
                    bytes += r.raw.heap_size();
                    out.push(r);
                }
                None => break,
            }
        }
        Ok(())
    }

    fn stop_flag(&self) -> Option<Arc<std::sync::atomic::AtomicBool>> {
        Some(self.opts.stop.clone())
    }

    fn bytes_total(&self) -> Option<u64> {
        self.bytes_total
    }

    fn bytes_counter(&self) -> Arc<AtomicU64> {
        self.bytes_read.clone()
    }

    fn content_hashes(&mut self) -> Result<Vec<Option<String>>> {
        self.hashes_now()
    }

    fn seek(&mut self, next: Position) -> Result<()> {
        let i = next.file as usize;
        let Some(input) = self.opts.inputs.get(i).cloned() else {
            return Err(Error::Config(format!(
                "cannot resume at input {} of {}",
                i + 1,
                self.opts.inputs.len()
            )));
        };
        if input == Input::Stdin {
            return Err(Error::Config(
                "standard input cannot be resumed: it cannot be read again".into(),
            ));
        }
        // Progress counts the files before as read.
        let before: u64 = self.opts.inputs[..i].iter().filter_map(Input::size).sum();
        if next.record == 0 {
            // Nothing of this file was read: open it as usual (header, BOM).
            if i == 0 && next.byte == 0 && self.file == 0 {
                return Ok(()); // where a new source already is
            }
            self.pending.clear();
            self.reader = None;
            self.bytes_read.store(before, Ordering::Relaxed);
            return self.open_file(i);
        }
        self.pending.clear();
        self.reader = None;
        self.hashing = None;
        self.bytes_read.store(before, Ordering::Relaxed);
        if let Input::Part(p) = &input {
            self.reader = Some(self.reader_at(p, next.byte, next.line)?);
            self.file = i;
            self.record_no = next.record;
            return Ok(());
        }
        let rdr = super::input::open_input_at(&input, self.bytes_read.clone(), next.byte)?;
        let mut reader = RecordReader::resume(rdr, self.opts.dialect, next.line, next.byte);
        reader.set_max_record(self.opts.max_record, true);
        reader.set_stop(self.opts.stop.clone());
        self.reader = Some(reader);
        self.file = i;
        self.record_no = next.record;
        Ok(())
    }
}

impl CsvSource {
    /// See [`Source::content_hashes`].
    fn hashes_now(&mut self) -> Result<Vec<Option<String>>> {
        for (i, input) in self.opts.inputs.iter().enumerate() {
            if self.hashes[i].is_some() {
                continue;
            }
            let interrupted = |e: std::io::Error, name: String| {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    Error::Interrupted(format!("hashing {name} stopped"))
                } else {
                    Error::io(name, e)
                }
            };
            let h = match input {
                Input::File(p) => crate::checkpoint::content_hash_until(p, Some(&self.opts.stop))
                    .map_err(|e| interrupted(e, p.display().to_string()))?,
                Input::Remote(o) => {
                    let state = input.state()?;
                    if state.is_pinned_remote() {
                        // Its ETag stands for its content: not read a second time.
                        self.notes.push(format!(
                            "{}: recorded as loaded by its ETag and size (this run resumed \
                             within it, so its bytes were not all hashed); a later run skips it \
                             while they are the same",
                            o.display()
                        ));
                        format!("{}{}", crate::checkpoint::PINNED_CONTENT, state.ends)
                    } else {
                        self.notes.push(format!(
                            "{}: read once more from its start to record its content hash (this \
                             run resumed within it{})",
                            o.display(),
                            o.size.map(|s| format!("; {s} bytes")).unwrap_or_default()
                        ));
                        crate::checkpoint::content_hash_read(
                            o.open(0)?,
                            u64::MAX,
                            Some(&self.opts.stop),
                        )
                        .map_err(|e| interrupted(e, o.display()))?
                    }
                }
                Input::Part(p) => p.content_marker()?,
                Input::Stdin => continue,
            };
            self.hashes[i] = Some(h);
        }
        Ok(self.hashes.clone())
    }
}

/// A read error on `file`: [`Error::Interrupted`] when the reader was stopped.
fn read_error(file: &str, e: std::io::Error) -> Error {
    if super::reader::is_stopped(&e) {
        Error::Interrupted(format!("reading {file} stopped"))
    } else {
        Error::io(file, e)
    }
}

/// A JSON line as its columns (or, when it is no object of them, a record with why).
fn to_columns(layout: &super::JsonLayout, r: &mut SourceRecord) {
    if r.problem.is_some() {
        return;
    }
    match layout.fields(&r.raw) {
        Ok(fields) => r.raw = fields,
        Err(e) => r.problem = Some(e),
    }
}

/// `raw` laid out as the union of the headers: `map[u]` is the field of `raw` for column
/// `u`; a column `raw`'s input lacks is an unquoted empty field (NULL).
fn remap(raw: &RawRecord, map: &[Option<usize>]) -> RawRecord {
    let mut buf = Vec::with_capacity(raw.heap_size());
    let mut ends = Vec::with_capacity(map.len());
    let mut quoted_empty = Vec::new();
    for (u, m) in map.iter().enumerate() {
        if let Some(f) = m {
            buf.extend_from_slice(raw.get(*f).unwrap_or_default());
            if raw.is_quoted_empty(*f) {
                quoted_empty.push(u as u32);
            }
        }
        ends.push(buf.len());
    }
    RawRecord::from_slices(&buf, ends.into_iter(), quoted_empty)
}

fn header_names(
    h: &RawRecord,
    file: &str,
    encoding: Option<&'static encoding_rs::Encoding>,
) -> Result<Vec<String>> {
    if h.get(0)
        .is_some_and(|f| f.starts_with(&[0xff, 0xfe]) || f.starts_with(&[0xfe, 0xff]))
    {
        return Err(Error::Input {
            file: file.to_string(),
            message: "the file is UTF-16 (it starts with a UTF-16 byte order mark), which rowflow \
                      does not read yet: convert it first, e.g. `iconv -f UTF-16 -t UTF-8 FILE > \
                      FILE.utf8.csv`"
                .into(),
        });
    }
    if let Some(enc) = encoding {
        return Ok(h
            .iter()
            .map(|f| enc.decode_without_bom_handling(f).0.into_owned())
            .collect());
    }
    h.iter()
        .enumerate()
        .map(|(i, f)| {
            String::from_utf8(f.to_vec()).map_err(|e| Error::Input {
                file: file.to_string(),
                message: format!(
                    "line 1: header field {} is not valid UTF-8 (invalid byte at offset {}): {}",
                    i + 1,
                    e.utf8_error().valid_up_to(),
                    NOT_UTF8_HINT
                ),
            })
        })
        .collect()
}

/// What to do about a file that is not UTF-8.
pub(crate) const NOT_UTF8_HINT: &str = "the file is not UTF-8; if it comes from Excel or an \
     older system it is most likely Windows-1252 (Latin-1): set source.encoding = \
     \"windows-1252\" (rowflow load --encoding windows-1252), or the file's encoding";

fn header_diff(first: &[String], got: &[String], first_name: &str) -> String {
    if first.len() != got.len() {
        return format!(
            "line 1: the header has {} columns but {first_name} has {}; all inputs must have the same header (or set source.union_by_name = true to load files whose columns differ, matched by name)",
            got.len(),
            first.len()
        );
    }
    for (i, (a, b)) in first.iter().zip(got).enumerate() {
        if a != b {
            return format!(
                "line 1: header column {} is {b:?} but {first_name} has {a:?}; all inputs must have the same header (or set source.union_by_name = true to load files whose columns differ, matched by name)",
                i + 1
            );
        }
    }
    "line 1: the header differs from the first input's".into()
}
