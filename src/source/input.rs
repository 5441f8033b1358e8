//! Opening inputs: paths, globs, standard input, URLs (see `remote`), and gzip/zstd
//! decompression detected from the data's first bytes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::remote::{self, RemoteObject};
use crate::config::StorageSpec;
use crate::error::{Error, Result};

/// One input: a file, standard input, or a remote object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file on disk.
    File(PathBuf),
    /// Standard input (`-`).
    Stdin,
    /// An object in a bucket or behind an HTTP(S) URL.
    Remote(Arc<RemoteObject>),
    /// A byte range of a plain file or object: one chunk of a distributed or sharded
    /// load (see [`crate::source::split`]).
    Part(Arc<Part>),
}

/// A byte range of a plain (uncompressed) file or object that starts and ends on record
/// boundaries, with the line counter where it starts: read, it gives the same records
/// with the same line numbers as the whole input gives between those offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The whole input (a file or an object).
    pub of: Input,
    /// Where the range starts (0, or where a record starts).
    pub start: u64,
    /// Where it ends (where a record starts, or the input's size).
    pub end: u64,
    /// The physical line where the range starts (1 at the start of the input).
    pub line: u64,
}

impl Part {
    /// What a checkpoint records as the content of a range: its file's quick identity
    /// and the range (a range is never hashed whole: that would read its file once per
    /// chunk).
    pub fn content_marker(&self) -> Result<String> {
        let state = self.of.state()?;
        Ok(format!("part:{}:{}-{}", state.ends, self.start, self.end))
    }
}

impl Input {
    /// The name used in messages and the reject file.
    pub fn display(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "<stdin>".to_string(),
            Input::Remote(o) => o.display(),
            Input::Part(p) => p.of.display(),
        }
    }

    /// What the checkpoint records of this input: name, size and a hash of its ends
    /// (see [`crate::checkpoint::InputState`]).
    pub fn state(&self) -> Result<crate::checkpoint::InputState> {
        match self {
            // Named by the file it resolves to, not by how the path was written: the
            // same file reached from another directory is the same input.
            Input::File(p) => {
                let name = std::fs::canonicalize(p)
                    .map(|c| c.display().to_string())
                    .unwrap_or_else(|_| self.display());
                crate::checkpoint::InputState::of_file(&name, p).map_err(|e| Error::io(p, e))
            }
            Input::Stdin => Ok(crate::checkpoint::InputState::stdin()),
            Input::Remote(o) => Ok(crate::checkpoint::InputState::of_remote(
                &o.display(),
                o.size,
                &o.fingerprint(),
                o.etag.is_some() || o.version.is_some(),
            )),
            Input::Part(p) => {
                let mut state = p.of.state()?;
                state.name = format!("{} [bytes {}..{}]", state.name, p.start, p.end);
                state.ends = format!("{}:{}-{}", state.ends, p.start, p.end);
                Ok(state)
            }
        }
    }

    /// Size on disk (compressed size for compressed files); `None` for stdin.
    pub fn size(&self) -> Option<u64> {
        match self {
            Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Input::Stdin => None,
            Input::Remote(o) => o.size,
            Input::Part(p) => Some(p.end - p.start),
        }
    }

    /// Whether the input can be read more than once (a file or an object, not standard
    /// input).
    pub fn rereadable(&self) -> bool {
        !matches!(self, Input::Stdin)
    }
}

/// Expand paths and globs, in order. A glob must match at least one file; a plain path
/// must exist.
#[cfg(test)]
pub fn resolve_inputs(patterns: &[String]) -> Result<Vec<Input>> {
    resolve_inputs_except(patterns, None, &StorageSpec::default())
}

/// [`resolve_inputs`], leaving out of what globs match the file `except` (the run's own
/// reject file, which `*.csv` beside it would otherwise read as an input).
pub fn resolve_inputs_except(
    patterns: &[String],
    except: Option<&std::path::Path>,
    storage: &StorageSpec,
) -> Result<Vec<Input>> {
    let same = |p: &std::path::Path| {
        except.is_some_and(
            |e| match (std::fs::canonicalize(p), std::fs::canonicalize(e)) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            },
        )
    };
    if patterns.is_empty() {
        return Err(Error::Config(
            "the source has no input: set source.path (a file, a glob or - for stdin)".into(),
        ));
    }
    let mut out = Vec::new();
    for p in patterns {
        // A file:// URL is a local path.
        let p = &match p.get(..7) {
            Some(s) if s.eq_ignore_ascii_case("file://") => p[7..].to_string(),
            _ => p.clone(),
        };
        if p.contains("://") && !remote::is_url(p) {
            let scheme = p.split("://").next().unwrap_or("");
            return Err(Error::Config(format!(
                "{}: the URL scheme {scheme:?} is not supported (inputs are local paths, \
                 s3://, gs://, az://, abfs[s]://, http:// or https:// URLs)",
                crate::redact::object_url(p)
            )));
        }
        if p == "-" {
            out.push(Input::Stdin);
        } else if remote::is_url(p) {
            out.extend(
                remote::resolve(p, storage)?
                    .into_iter()
                    .map(|o| Input::Remote(Arc::new(o))),
            );
        } else if p.contains(['*', '?', '[']) {
            let paths =
                glob::glob(p).map_err(|e| Error::Config(format!("invalid glob {p:?}: {e}")))?;
            let mut matched: Vec<PathBuf> = paths
                .filter_map(|r| r.ok())
                .filter(|p| p.is_file() && !same(p))
                .collect();
            matched.sort();
            if matched.is_empty() {
                return Err(Error::Config(format!("no file matches {p:?}")));
            }
            out.extend(matched.into_iter().map(Input::File));
        } else {
            let path = PathBuf::from(p);
            check_regular_file(&path)?;
            out.push(Input::File(path));
        }
    }
    // A file named twice (by two patterns, or two spellings of its path) is read once.
    let mut seen = std::collections::HashSet::new();
    out.retain(|i| match i {
        Input::File(p) => seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
        Input::Stdin => true,
        Input::Remote(o) => seen.insert(PathBuf::from(o.url())),
        Input::Part(_) => true,
    });
    if out.iter().filter(|i| **i == Input::Stdin).count() > 1 {
        return Err(Error::Config(
            "standard input (-) can be read only once".into(),
        ));
    }
    Ok(out)
}

/// An input path must be a regular file: anything else gets a message that says what
/// it is (a directory, a named pipe, a device) rather than "no such file".
fn check_regular_file(path: &std::path::Path) -> Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::io(
                path,
                io::Error::new(io::ErrorKind::NotFound, "no such file"),
            ));
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    if meta.is_file() {
        return Ok(());
    }
    let what = if meta.is_dir() {
        "is a directory, not a file (give the files in it, or a glob such as dir/*.csv)".to_string()
    } else {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            let t = meta.file_type();
            if t.is_fifo() {
                "is a named pipe (FIFO), which can be read only once: pipe it into standard \
                 input instead (rowflow load - < pipe)"
                    .to_string()
            } else if t.is_char_device() || t.is_block_device() {
                "is a device, not a file".to_string()
            } else if t.is_socket() {
                "is a socket, not a file".to_string()
            } else {
                "is not a regular file".to_string()
            }
        }
        #[cfg(not(unix))]
        {
            "is not a regular file".to_string()
        }
    };
    Err(Error::Input {
        file: path.display().to_string(),
        message: what,
    })
}

/// Counts bytes read from the underlying (compressed) stream, for progress, and feeds
/// them to the content hash when there is one.
struct Counting<R> {
    inner: R,
    counter: Arc<AtomicU64>,
    hasher: Option<SharedHasher>,
}

/// The content hash of an input being read, shared with the source that reads it.
pub type SharedHasher = Arc<std::sync::Mutex<crate::checkpoint::ContentHasher>>;

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(h) = &self.hasher {
            h.lock()
                .unwrap_or_else(|p| p.into_inner())
                .update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Compression detected from the first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain data.
    None,
    /// gzip (`1f 8b`), including multi-member files.
    Gzip,
    /// Zstandard (`28 b5 2f fd`).
    Zstd,
    /// Plain text in UTF-16, recognised by its byte order mark (`ff fe` or `fe ff`, what
    /// Excel's "Unicode text" writes): read as UTF-8, like a decompressed stream.
    Utf16,
}

/// True when `head` starts with a UTF-16 byte order mark.
pub(crate) fn utf16_bom(head: &[u8]) -> bool {
    head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff])
}

/// A UTF-16 stream (its byte order mark first) read as UTF-8. A lone surrogate becomes
/// U+FFFD, as every UTF-16 decoder does.
struct Utf16Reader<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<R: Read> Utf16Reader<R> {
    fn new(inner: R) -> Self {
        Utf16Reader {
            inner,
            // BOM sniffing: the byte order mark says which UTF-16 it is, and is removed.
            decoder: encoding_rs::UTF_16LE.new_decoder(),
            input: vec![0; 64 * 1024],
            out: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

impl<R: Read> Read for Utf16Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.pos);
                buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            let n = loop {
                match self.inner.read(&mut self.input) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r?,
                }
            };
            let last = n == 0;
            let cap = self.decoder.max_utf8_buffer_length(n).unwrap_or(n * 3 + 16);
            self.out.resize(cap, 0);
            let (_, read, written, _) =
                self.decoder
                    .decode_to_utf8(&self.input[..n], &mut self.out, last);
            debug_assert_eq!(read, n);
            self.out.truncate(written);
            self.pos = 0;
            self.done = last;
        }
    }
}

/// Open an input for reading, decompressing when its content is gzip or zstd. Bytes read
/// from disk are added to `counter`.
pub fn open_input(
    input: &Input,
    counter: Arc<AtomicU64>,
) -> Result<(Box<dyn Read + Send>, Compression)> {
    open_input_hashed(input, counter, None)
}

/// [`open_input`], feeding every byte read from the input (before decompression) to
/// `hasher`.
pub fn open_input_hashed(
    input: &Input,
    counter: Arc<AtomicU64>,
    hasher: Option<SharedHasher>,
) -> Result<(Box<dyn Read + Send>, Compression)> {
    let name = input.display();
    let raw: Box<dyn Read + Send> = match input {
        Input::File(p) => Box::new(File::open(p).map_err(|e| Error::io(p, e))?),
        Input::Stdin => Box::new(io::stdin()),
        Input::Remote(o) => Box::new(o.open(0)?),
        Input::Part(p) => return open_input_hashed(&p.of, counter, hasher),
    };
    let mut buffered = BufReader::with_capacity(
        256 * 1024,
        Counting {
            inner: raw,
            counter,
            hasher,
        },
    );
    let head = buffered.fill_buf().map_err(|e| {
        if super::reader::is_stopped(&e) {
            Error::Interrupted(format!("reading {name} stopped"))
        } else {
            Error::io(name.clone(), e)
        }
    })?;
    let compression = if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if utf16_bom(head) {
        Compression::Utf16
    } else {
        Compression::None
    };
    let reader: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(buffered),
        Compression::Utf16 => Box::new(Utf16Reader::new(buffered)),
        Compression::Gzip | Compression::Zstd => {
            let inner: Box<dyn Read + Send> = if compression == Compression::Gzip {
                Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
            } else {
                Box::new(
                    zstd::Decoder::with_buffer(buffered).map_err(|e| Error::io(name.clone(), e))?,
                )
            };
            // A compressed UTF-16 file: decompressed, then read as UTF-8.
            let mut decompressed = BufReader::with_capacity(64 * 1024, inner);
            let utf16 = decompressed.fill_buf().map(utf16_bom).unwrap_or(false);
            if utf16 {
                Box::new(Utf16Reader::new(decompressed))
            } else {
                Box::new(decompressed)
            }
        }
    };
    Ok((reader, compression))
}

/// Open an input positioned at `byte` of its (decompressed) stream: a plain file is
/// seeked there; a compressed one is decompressed from the start and the bytes before
/// `byte` are discarded (its compressed size is what progress counts either way).
pub fn open_input_at(
    input: &Input,
    counter: Arc<AtomicU64>,
    byte: u64,
) -> Result<Box<dyn Read + Send>> {
    use std::io::Seek;
    if let Input::Part(p) = input {
        return open_input_at(&p.of, counter, byte);
    }
    let name = input.display();
    if let Input::File(p) = input {
        // Sniff the compression from the first bytes.
        let mut head = [0u8; 4];
        let n = File::open(p)
            .and_then(|mut f| f.read(&mut head))
            .map_err(|e| Error::io(p, e))?;
        let compressed = head[..n].starts_with(&[0x1f, 0x8b])
            || head[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
            || utf16_bom(&head[..n]);
        if !compressed {
            let mut f = File::open(p).map_err(|e| Error::io(p, e))?;
            f.seek(io::SeekFrom::Start(byte))
                .map_err(|e| Error::io(p, e))?;
            counter.fetch_add(byte, Ordering::Relaxed);
            return Ok(Box::new(BufReader::with_capacity(
                256 * 1024,
                Counting {
                    inner: f,
                    counter,
                    hasher: None,
                },
            )));
        }
    }
    if let Input::Remote(o) = input {
        // Sniff the compression from the first bytes; a plain object is read from
        // `byte` on with a ranged request.
        let mut head = [0u8; 4];
        let n = read_up_to(&mut o.open(0)?, &mut head).map_err(|e| Error::io(&name, e))?;
        let compressed = head[..n].starts_with(&[0x1f, 0x8b])
            || head[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
            || utf16_bom(&head[..n]);
        if !compressed {
            counter.fetch_add(byte, Ordering::Relaxed);
            return Ok(Box::new(BufReader::with_capacity(
                256 * 1024,
                Counting {
                    inner: o.open(byte)?,
                    counter,
                    hasher: None,
                },
            )));
        }
    }
    let (mut rdr, _) = open_input(input, counter)?;
    let skipped = io::copy(&mut (&mut rdr).take(byte), &mut io::sink())
        .map_err(|e| Error::io(name.clone(), e))?;
    if skipped < byte {
        return Err(Error::Input {
            file: name,
            message: format!(
                "the input is shorter ({skipped} bytes) than the position to resume at ({byte})"
            ),
        });
    }
    Ok(rdr)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn detects_and_decompresses() {
        let dir = tempfile::tempdir().unwrap();
        let plain = b"a,b\n1,2\n";
        let gz = dir.path().join("x.csv.gz");
        let mut enc = flate2::write::GzEncoder::new(File::create(&gz).unwrap(), Default::default());
        enc.write_all(plain).unwrap();
        enc.finish().unwrap();
        let zst = dir.path().join("x.csv.zst");
        std::fs::write(&zst, zstd::encode_all(&plain[..], 3).unwrap()).unwrap();
        for (p, c) in [(gz, Compression::Gzip), (zst, Compression::Zstd)] {
            let counter = Arc::new(AtomicU64::new(0));
            let (mut r, comp) = open_input(&Input::File(p.clone()), counter.clone()).unwrap();
            assert_eq!(comp, c);
            let mut s = Vec::new();
            r.read_to_end(&mut s).unwrap();
            assert_eq!(s, plain);
            assert_eq!(
                counter.load(Ordering::Relaxed),
                std::fs::metadata(&p).unwrap().len()
            );
        }
    }

    #[test]
    fn globs_sort_and_must_match() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["b.csv", "a.csv"] {
            std::fs::write(dir.path().join(n), "x\n").unwrap();
        }
        let pat = format!("{}/*.csv", dir.path().display());
        let got = resolve_inputs(&[pat]).unwrap();
        assert_eq!(
            got,
            [
                Input::File(dir.path().join("a.csv")),
                Input::File(dir.path().join("b.csv"))
            ]
        );
        let none = format!("{}/*.tsv", dir.path().display());
        assert!(
            resolve_inputs(&[none])
                .unwrap_err()
                .to_string()
                .contains("no file matches")
        );
        assert!(resolve_inputs(&["/no/such.csv".into()]).is_err());
    }
}
