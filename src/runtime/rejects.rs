//! The reject file: original fields + `_line` + `_error` (and `_file` for several inputs);
//! the extra fields of a record that has too many follow `_error`.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::row::Rejected;

/// Where rejects go and what the header looks like.
#[derive(Debug, Clone)]
pub struct RejectTarget {
    /// The reject file.
    pub path: PathBuf,
    /// Original column names.
    pub header: Vec<String>,
    /// Input names, for the `_file` column when there are several.
    pub inputs: Vec<String>,
}

/// Whether `path` may be used as the reject file, before anything is written: it must
/// not be one of the `inputs`, the SQLite database `db` (or its journal, WAL, shared
/// memory or rowflow's lock file), a directory, or an existing file that is not a
/// reject file (a non-empty file whose first line does not end with `_line,_error`).
/// An earlier run's reject file is replaced; anything else would be destroyed.
pub fn check_reject_path(
    path: &Path,
    inputs: &[&Path],
    db: Option<&Path>,
) -> std::result::Result<(), String> {
    let shown = path.display();
    for i in inputs {
        if same_file(path, i) {
            return Err(format!(
                "{shown} is an input of this pipeline: writing rejects there would destroy it"
            ));
        }
    }
    if let Some(db) = db {
        let mut files = vec![db.to_path_buf(), crate::sink::sqlite_lock_path(db)];
        for suffix in ["-journal", "-wal", "-shm"] {
            let mut p = db.as_os_str().to_owned();
            p.push(suffix);
            files.push(PathBuf::from(p));
        }
        if files.iter().any(|f| same_file(path, f)) {
            return Err(format!(
                "{shown} is the SQLite database (or one of its files) this pipeline writes to: \
                 writing rejects there would destroy it"
            ));
        }
    }
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{shown}: {e}")),
    };
    if !meta.is_file() {
        return Err(format!("{shown} exists and is not a file"));
    }
    if meta.len() == 0 {
        return Ok(());
    }
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 1 << 20), &mut head))
        .map_err(|e| format!("{shown}: {e}"))?;
    let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    if !first.ends_with(b"_line,_error") {
        return Err(format!(
            "{shown} exists and is not a reject file (its first line does not end with \
             `_line,_error`): rowflow replaces only reject files; choose another reject_file or \
             move that file away"
        ));
    }
    Ok(())
}

/// Whether two paths name the same file (the same device and inode when both exist;
/// otherwise the same absolute path).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    absolute(a) == absolute(b)
}

/// `p` made absolute, its directory resolved when it exists.
fn absolute(p: &Path) -> PathBuf {
    let name = p.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::canonicalize(&dir).unwrap_or(dir).join(name)
}

/// Writes rejected rows, creating the file at the first one.
pub struct RejectWriter {
    target: RejectTarget,
    writer: Option<csv::Writer<BufWriter<File>>>,
    /// Whether rows carry a `_file` column: several inputs, or (a resumed run) what the
    /// file's header says, so that appended rows line up with it.
    multi: bool,
}

impl RejectWriter {
    /// A writer that creates `target.path` lazily. A stale file from an earlier run is
    /// removed now, so the file exists after the run only when this run rejected rows.
    pub fn new(target: RejectTarget) -> Result<Self> {
        match std::fs::remove_file(&target.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&target.path, e)),
        }
        Ok(RejectWriter {
            multi: target.inputs.len() > 1,
            target,
            writer: None,
        })
    }

    /// For a resumed run: keep the first `committed` bytes of the reject file (the
    /// rejects of committed transactions; anything after them belongs to a transaction
    /// that never committed, and its rows will be read again) and append after them.
    pub fn resume(target: RejectTarget, committed: u64) -> Result<Self> {
        if committed == 0 {
            return Self::new(target);
        }
        let path = target.path.clone();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::Input {
                    file: path.display().to_string(),
                    message: format!(
                        "the reject file, which held the {committed} bytes of rejects the \
                         interrupted run committed, is gone: put it back to resume, or run with \
                         --restart to load the input from the beginning"
                    ),
                },
                _ => Error::io(&path, e),
            })?;
        let len = f.metadata().map_err(|e| Error::io(&path, e))?.len();
        if len < committed {
            return Err(Error::Input {
                file: path.display().to_string(),
                message: format!(
                    "the reject file is shorter ({len} bytes) than the checkpoint says it was ({committed}); \
                     it was changed since the interrupted run: run with --restart"
                ),
            });
        }
        // The header the interrupted run wrote decides the columns (a resumed run may
        // read more inputs than it did).
        let mut head = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(&f, committed.min(1 << 20)),
            &mut head,
        )
        .map_err(|e| Error::io(&path, e))?;
        let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
        let multi = first
            .strip_suffix(b"\r")
            .unwrap_or(first)
            .ends_with(b",_file,_line,_error");
        f.set_len(committed).map_err(|e| Error::io(&path, e))?;
        let mut f = f;
        std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0)).map_err(|e| Error::io(&path, e))?;
        let w = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(BufWriter::new(f));
        Ok(RejectWriter {
            target,
            writer: Some(w),
            multi,
        })
    }

    /// Flush to disk, durably, and return the file's length (0 when nothing was
    /// written): what a commit record says the committed rejects are.
    pub fn committed_len(&mut self) -> Result<u64> {
        let Some(w) = self.writer.as_mut() else {
            return Ok(0);
        };
        let path = &self.target.path;
        w.flush().map_err(|e| Error::io(path, e))?;
        let f = w.get_ref().get_ref();
        f.sync_data().map_err(|e| Error::io(path, e))?;
        Ok(f.metadata().map_err(|e| Error::io(path, e))?.len())
    }

    /// The file's length now (flushed, not synced): where a transaction's rejects start.
    pub fn len_now(&mut self) -> Result<u64> {
        let Some(w) = self.writer.as_mut() else {
            return Ok(0);
        };
        let path = &self.target.path;
        w.flush().map_err(|e| Error::io(path, e))?;
        Ok(w.get_ref()
            .get_ref()
            .metadata()
            .map_err(|e| Error::io(path, e))?
            .len())
    }

    /// Drop what was written after `len` (the rejects of a transaction that did not
    /// commit). At 0 the file goes away: it only exists when committed rows were rejected.
    pub fn truncate(&mut self, len: u64) -> Result<()> {
        let path = self.target.path.clone();
        if len == 0 {
            if self.writer.take().is_some() {
                std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            }
            return Ok(());
        }
        let Some(w) = self.writer.as_mut() else {
            return Ok(());
        };
        w.flush().map_err(|e| Error::io(&path, e))?;
        // Flushed: the buffer is empty, so the file's own position is the writer's.
        let mut f: &File = w.get_ref().get_ref();
        f.set_len(len).map_err(|e| Error::io(&path, e))?;
        std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0)).map_err(|e| Error::io(&path, e))?;
        Ok(())
    }

    fn multi(&self) -> bool {
        self.multi
    }

    /// Append one rejected row.
    pub fn write(&mut self, r: &Rejected) -> Result<()> {
        let path = self.target.path.clone();
        let io = |e: csv::Error| Error::io(&path, std::io::Error::other(e.to_string()));
        if self.writer.is_none() {
            if let Some(dir) = path.parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            let f = File::create(&path).map_err(|e| Error::io(&path, e))?;
            let mut w = csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(BufWriter::new(f));
            let mut header: Vec<&str> = self.target.header.iter().map(String::as_str).collect();
            if self.multi() {
                header.push("_file");
            }
            header.push("_line");
            header.push("_error");
            w.write_record(&header).map_err(io)?;
            self.writer = Some(w);
        }
        let multi = self.multi();
        let file_name = self
            .target
            .inputs
            .get(r.pos.file as usize)
            .cloned()
            .unwrap_or_default();
        let n = self.target.header.len();
        // The `if` above ensures the writer exists.
        let Some(w) = self.writer.as_mut() else {
            return Ok(());
        };
        // The original fields under their header, then `_line` and `_error` always in
        // the same columns: a short record is padded with empty fields, and the extra
        // fields of a long one follow `_error`.
        let mut fields: Vec<&[u8]> = r.raw.iter().take(n).collect();
        while fields.len() < n {
            fields.push(b"");
        }
        let line = r.pos.line.to_string();
        if multi {
            fields.push(file_name.as_bytes());
        }
        fields.push(line.as_bytes());
        fields.push(r.reason.as_bytes());
        fields.extend(r.raw.iter().skip(n));
        w.write_record(&fields).map_err(io)?;
        Ok(())
    }

    /// The path, if anything was written.
    pub fn written_path(&self) -> Option<PathBuf> {
        self.writer.as_ref().map(|_| self.target.path.clone())
    }
}
