//! What a verifier read from disk (trusted roots, keys, the OSV database), identified by content.
//!
//! Verdicts depend on these files' bytes, so caches key on a digest of what was read, never on a
//! path. [`InputFiles::changed`] tells whether the files on disk still are what was read without
//! reading them again: it compares each file's identity and times (device, inode, size, mtime,
//! ctime) and, for a folder, the list of its files. A file changed within the timestamp
//! granularity of its last read could keep all of those, so a file whose ctime is that close to
//! when its bytes were last confirmed is hashed again (git's "racily clean" rule).

use spell_core::Sha256Digest;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// How close to a confirmed read a change time must be for a file to be hashed again: above the
/// coarse clock of local filesystems (milliseconds) and the 1–2 s of network ones.
const RACY_NS: u64 = 2_000_000_000;

/// Files read to build a verifier, with what each held.
#[derive(Debug, Default)]
pub(crate) struct InputFiles {
    /// What the policy named: a file, or a folder searched for `.json` files.
    sources: Vec<(PathBuf, bool)>,
    files: Vec<Stamp>,
}

#[derive(Debug)]
struct Stamp {
    path: PathBuf,
    stat: Stat,
    digest: Sha256Digest,
    /// When the file last held `digest` for sure (ns since the Unix epoch).
    confirmed_ns: AtomicU64,
}

/// What changes when a file's content is replaced or rewritten.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Stat {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stat {
    #[cfg(unix)]
    fn of(m: &std::fs::Metadata) -> Stat {
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Stat {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        }
    }

    #[cfg(not(unix))]
    fn of(m: &std::fs::Metadata) -> Stat {
        let ns = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        Stat {
            dev: 0,
            ino: 0,
            len: m.len(),
            mtime_ns: ns,
            ctime_ns: ns,
        }
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl InputFiles {
    /// Reads a file the policy names.
    pub(crate) fn read(&mut self, path: &Path) -> io::Result<Vec<u8>> {
        self.sources.push((path.to_path_buf(), false));
        self.read_member(path)
    }

    /// Lists the `.json` files under a folder the policy names (recursively, sorted), to be read
    /// with [`InputFiles::read_member`].
    pub(crate) fn list_dir(&mut self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        self.sources.push((dir.to_path_buf(), true));
        json_files(dir)
    }

    /// Reads a file of a listed folder.
    pub(crate) fn read_member(&mut self, path: &Path) -> io::Result<Vec<u8>> {
        let confirmed_ns = now_ns();
        let mut file = File::open(path)?;
        let stat = Stat::of(&file.metadata()?);
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        self.files.push(Stamp {
            path: path.to_path_buf(),
            stat,
            digest: Sha256Digest::of(&bytes),
            confirmed_ns: AtomicU64::new(confirmed_ns),
        });
        Ok(bytes)
    }

    /// Opens a file the policy names (a zip too large to hold in memory): hashed through, then
    /// rewound.
    pub(crate) fn open(&mut self, path: &Path) -> io::Result<File> {
        use sha2::Digest as _;
        use std::io::Seek as _;
        self.sources.push((path.to_path_buf(), false));
        let confirmed_ns = now_ns();
        let mut file = File::open(path)?;
        let stat = Stat::of(&file.metadata()?);
        let mut hasher = sha2::Sha256::new();
        io::copy(&mut file, &mut hasher)?;
        file.rewind()?;
        self.files.push(Stamp {
            path: path.to_path_buf(),
            stat,
            digest: Sha256Digest(hasher.finalize().into()),
            confirmed_ns: AtomicU64::new(confirmed_ns),
        });
        Ok(file)
    }

    /// A digest of everything read, in order: what the verdicts of this verifier depend on.
    pub(crate) fn digest(&self) -> Sha256Digest {
        let mut bytes = Vec::with_capacity(self.files.len() * 32);
        for f in &self.files {
            bytes.extend_from_slice(&f.digest.0);
        }
        Sha256Digest::of(&bytes)
    }

    /// Whether the files on disk may differ from what was read (a file or folder member added,
    /// removed, replaced or rewritten; any error counts as a change).
    pub(crate) fn changed(&self) -> bool {
        let mut paths = Vec::with_capacity(self.files.len());
        for (path, dir) in &self.sources {
            if *dir {
                match json_files(path) {
                    Ok(files) => paths.extend(files),
                    Err(_) => return true,
                }
            } else {
                paths.push(path.clone());
            }
        }
        paths.len() != self.files.len()
            || paths
                .iter()
                .zip(&self.files)
                .any(|(path, stamp)| *path != stamp.path || stamp.changed())
    }
}

impl Stamp {
    fn changed(&self) -> bool {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return true;
        };
        let stat = Stat::of(&meta);
        if stat != self.stat {
            return true;
        }
        let confirmed = i128::from(self.confirmed_ns.load(Ordering::Relaxed));
        if stat.ctime_ns + i128::from(RACY_NS) < confirmed {
            return false;
        }
        let now = now_ns();
        match std::fs::read(&self.path) {
            Ok(bytes) if Sha256Digest::of(&bytes) == self.digest => {
                self.confirmed_ns.store(now, Ordering::Relaxed);
                false
            }
            _ => true,
        }
    }
}

/// The `.json` files under `dir`, recursively, in a stable order.
fn json_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            out.extend(json_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrite_of_the_same_size_within_one_clock_tick_is_a_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("root.json");
        std::fs::write(&path, b"{\"a\":1}").expect("write");
        let mut inputs = InputFiles::default();
        inputs.read(&path).expect("read");
        assert!(!inputs.changed());
        // Same size, written at once: the times may well not move.
        std::fs::write(&path, b"{\"a\":2}").expect("write");
        assert!(inputs.changed());
    }

    #[test]
    fn folder_members_added_or_removed_are_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("crates")).expect("mkdir");
        std::fs::write(dir.path().join("crates/a.json"), b"{}").expect("write");
        let mut inputs = InputFiles::default();
        for p in inputs.list_dir(dir.path()).expect("list") {
            inputs.read_member(&p).expect("read");
        }
        let digest = inputs.digest();
        assert!(!inputs.changed());
        std::fs::write(dir.path().join("crates/b.txt"), b"not a record").expect("write");
        assert!(!inputs.changed(), "only .json files are read");
        std::fs::write(dir.path().join("crates/b.json"), b"{}").expect("write");
        assert!(inputs.changed());
        std::fs::remove_file(dir.path().join("crates/b.json")).expect("rm");
        assert!(!inputs.changed());
        std::fs::remove_file(dir.path().join("crates/a.json")).expect("rm");
        assert!(inputs.changed());
        assert_ne!(digest, InputFiles::default().digest());
    }
}
