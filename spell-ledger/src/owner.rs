//! Which process holds a reservation, and whether it is still alive.
//!
//! Every open [`crate::Ledger`] takes a random owner id and holds an exclusive lock on
//! `<db>.owners/<id>.lock` for as long as it is open. The operating system drops the lock when
//! the process ends, however it ends (SIGKILL included), so at open a reservation whose owner's
//! lock can be taken belongs to a process that is gone, and is released. Process ids are not
//! used: they are reused.

use crate::LedgerError;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// This process's claim on its reservations; released on drop.
pub(crate) struct Owner {
    pub(crate) id: String,
    path: PathBuf,
    _lock: File,
}

fn dir_of(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(".owners");
    PathBuf::from(name)
}

impl Owner {
    pub(crate) fn claim(db: &Path) -> Result<Owner, LedgerError> {
        let dir = dir_of(db);
        std::fs::create_dir_all(&dir)
            .map_err(|e| LedgerError::io(format!("creating {}", dir.display()), e))?;
        let id = format!("{:032x}", rand::random::<u128>());
        let path = dir.join(format!("{id}.lock"));
        let lock = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(|e| LedgerError::io(format!("creating {}", path.display()), e))?;
        lock.lock()
            .map_err(|e| LedgerError::io(format!("locking {}", path.display()), e))?;
        Ok(Owner {
            id,
            path,
            _lock: lock,
        })
    }

    /// Whether the owner `id` is gone: its lock file is missing or nobody holds its lock. A
    /// gone owner's lock file is removed.
    pub(crate) fn is_gone(db: &Path, id: &str) -> bool {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return true;
        }
        let path = dir_of(db).join(format!("{id}.lock"));
        let Ok(file) = OpenOptions::new().write(true).open(&path) else {
            return true;
        };
        if file.try_lock().is_ok() {
            let _ = std::fs::remove_file(&path);
            return true;
        }
        false
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
