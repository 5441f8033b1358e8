//! What an input is, for the bookkeeping between runs: its name, size and a quick hash of
//! its ends (enough to tell that a file changed before resuming it), and the hash of its
//! whole content (what a load that completed records, and what must match before a
//! later run skips the file as already loaded).
//!
//! The content is the bytes on disk (compressed bytes for a compressed file); the
//! modification time plays no part, so a touched file with the same bytes is the same
//! input. Hashes are XXH3-128: non-cryptographic, several GB/s.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Bytes of each end hashed by the quick identity.
const END_BYTES: u64 = 64 * 1024;

/// An input as a run saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputState {
    /// As displayed (a path, or `<stdin>`).
    pub name: String,
    /// Size in bytes (`None`: standard input).
    pub size: Option<u64>,
    /// Hash of the size and of the first and last 64 KiB (empty for standard input).
    pub ends: String,
    /// Hash of the whole content, once the run has read it to its end.
    #[serde(default)]
    pub content: Option<String>,
}

impl InputState {
    /// Standard input: no size, no hash; never the same input twice.
    pub fn stdin() -> Self {
        InputState {
            name: STDIN.to_string(),
            size: None,
            ends: String::new(),
            content: None,
        }
    }

    /// The quick identity of the file at `path`, shown as `name`.
    pub fn of_file(name: &str, path: &Path) -> std::io::Result<Self> {
        let mut f = File::open(path)?;
        let size = f.metadata()?.len();
        let mut h = twox_hash::XxHash3_128::new();
        h.write(&size.to_le_bytes());
        let mut buf = vec![0u8; END_BYTES as usize];
        let n = read_up_to(&mut f, &mut buf)?;
        h.write(&buf[..n]);
        if size > END_BYTES {
            f.seek(SeekFrom::Start(
                size.saturating_sub(END_BYTES).max(END_BYTES),
            ))?;
            let n = read_up_to(&mut f, &mut buf)?;
            h.write(&buf[..n]);
        }
        Ok(InputState {
            name: name.to_string(),
            size: Some(size),
            ends: hex128(h.finish_128()),
            content: None,
        })
    }

    /// The quick identity of a remote object, shown as `name`: its size, ETag and
    /// version (or Last-Modified date) as `fingerprint` gives them (equal ETag and
    /// size: the same object). An object whose server gives neither an ETag nor a date
    /// (`pinned` false) cannot be told from a changed one: like standard input, it is
    /// never the same input twice, and an interrupted load of it starts over.
    pub fn of_remote(name: &str, size: Option<u64>, fingerprint: &str, pinned: bool) -> Self {
        let known = pinned;
        let mut h = twox_hash::XxHash3_128::new();
        h.write(b"remote;");
        h.write(fingerprint.as_bytes());
        InputState {
            name: name.to_string(),
            size: known.then(|| size.unwrap_or(0)),
            ends: if known {
                format!("{REMOTE_ENDS}{}", hex128(h.finish_128()))
            } else {
                String::new()
            },
            content: None,
        }
    }

    /// Standard input.
    pub fn is_stdin(&self) -> bool {
        self.size.is_none()
    }

    /// The same file by its quick identity (name, size, ends).
    pub fn same_as(&self, other: &InputState) -> bool {
        !self.is_stdin()
            && self.name == other.name
            && self.size == other.size
            && self.ends == other.ends
    }
}

/// The display name of standard input.
pub const STDIN: &str = "<stdin>";

/// An input a completed run loaded, still accounted for in the table: a later run of
/// the same load skips it when its content is the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoneInput {
    /// As displayed.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Hash of the whole content.
    pub content: String,
    /// The shape of the pipeline that loaded it ([`super::Shape::hash`]).
    pub shape: String,
    /// When the run that loaded it started (RFC 3339, UTC).
    pub at: String,
    /// A remote object's quick identity (size, ETag, version) when it was loaded:
    /// equal, the object is the same without reading it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends: Option<String>,
}

/// The prefix of a remote object's quick identity (see [`InputState::of_remote`]).
pub const REMOTE_ENDS: &str = "remote:";

/// The prefix of the content a completed run records for a remote object it did not
/// read whole (it resumed within it): its quick identity stands for its content, so
/// the object is never read a second time to hash it.
pub const PINNED_CONTENT: &str = "pinned:";

impl InputState {
    /// A remote object pinned by its ETag or version.
    pub fn is_pinned_remote(&self) -> bool {
        self.ends.starts_with(REMOTE_ENDS)
    }
}

fn read_up_to(f: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A 128-bit hash as 32 hex digits.
pub fn hex128(h: u128) -> String {
    format!("{h:032x}")
}

/// Hashes bytes as they are read (the reader feeds it the input's bytes in order).
#[derive(Default)]
pub struct ContentHasher(twox_hash::XxHash3_128, u64);

impl ContentHasher {
    /// A hasher with nothing fed yet.
    pub fn new() -> Self {
        ContentHasher(twox_hash::XxHash3_128::new(), 0)
    }
    /// Feed the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
        self.1 += bytes.len() as u64;
    }
    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.1
    }
    /// The hash of everything fed, as [`InputState::content`] holds it.
    pub fn finish(&self) -> String {
        hex128(self.0.finish_128())
    }
}

/// The content hash of the whole file at `path`.
pub fn content_hash(path: &Path) -> std::io::Result<String> {
    content_hash_until(path, None)
}

/// [`content_hash`], giving up with [`std::io::ErrorKind::Interrupted`] once `stop` is
/// set (checked every MiB).
pub fn content_hash_until(
    path: &Path,
    stop: Option<&std::sync::atomic::AtomicBool>,
) -> std::io::Result<String> {
    content_hash_of(path, u64::MAX, stop)
}

/// The content hash of the first `len` bytes of the file at `path` (what its content
/// was, if it only grew since).
pub fn content_hash_prefix(path: &Path, len: u64) -> std::io::Result<String> {
    content_hash_of(path, len, None)
}

fn content_hash_of(
    path: &Path,
    len: u64,
    stop: Option<&std::sync::atomic::AtomicBool>,
) -> std::io::Result<String> {
    content_hash_read(File::open(path)?, len, stop)
}

/// The content hash of the first `len` bytes `r` gives (a remote object's stream).
pub fn content_hash_read(
    r: impl Read,
    len: u64,
    stop: Option<&std::sync::atomic::AtomicBool>,
) -> std::io::Result<String> {
    let mut f = r.take(len);
    let mut h = ContentHasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        if stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed)) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "stopped",
            ));
        }
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touching_keeps_the_identity_and_changing_a_byte_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &body).unwrap();
        let a = InputState::of_file("a.csv", &p).unwrap();
        let ha = content_hash(&p).unwrap();
        // Same bytes written again (a new modification time).
        std::fs::write(&p, &body).unwrap();
        assert_eq!(InputState::of_file("a.csv", &p).unwrap(), a);
        assert_eq!(content_hash(&p).unwrap(), ha);
        // One byte in the middle: the ends are the same, the content is not.
        let mut changed = body.clone();
        changed[150_000] ^= 1;
        std::fs::write(&p, &changed).unwrap();
        assert!(InputState::of_file("a.csv", &p).unwrap().same_as(&a));
        assert_ne!(content_hash(&p).unwrap(), ha);
        // A byte at the end changes the quick identity too.
        let mut tail = body.clone();
        *tail.last_mut().unwrap() ^= 1;
        std::fs::write(&p, &tail).unwrap();
        assert!(!InputState::of_file("a.csv", &p).unwrap().same_as(&a));
        // Streaming and whole-file hashes agree.
        let mut h = ContentHasher::new();
        for chunk in tail.chunks(7_777) {
            h.update(chunk);
        }
        assert_eq!(h.finish(), content_hash(&p).unwrap());
        assert!(!InputState::stdin().same_as(&InputState::stdin()));
    }
}
