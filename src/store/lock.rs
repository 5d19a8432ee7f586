//! One harvest per database: an exclusive lock on `<db>.lock`, held for as long as the harvest's
//! [`super::Store`] lives. The lock is the operating system's (`flock`), so it dies with the
//! process, even under SIGKILL; the file is left in place (deleting it would let two processes
//! lock two different files). It holds the holder's pid and start time for the message the
//! second harvest prints.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub struct HarvestLock {
    _file: File,
}

/// The lock file next to `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl HarvestLock {
    /// Takes the lock or says who holds it; never waits.
    pub fn acquire(db: &Path) -> Result<HarvestLock> {
        let path = lock_path(db);
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0).map_err(io)?;
                file.rewind().map_err(io)?;
                write!(file, "pid {} since {}", std::process::id(), super::now()).map_err(io)?;
                file.flush().map_err(io)?;
                Ok(HarvestLock { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = if holder.trim().is_empty() {
                    "holder unknown".to_owned()
                } else {
                    holder.trim().to_owned()
                };
                Err(Error::Locked {
                    path: db.to_owned(),
                    holder,
                })
            }
            Err(TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let first = HarvestLock::acquire(&db).unwrap();
        let err = HarvestLock::acquire(&db).err().unwrap();
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())) && text.contains("x.db"),
            "{text}"
        );
        drop(first);
        assert!(HarvestLock::acquire(&db).is_ok());
    }
}
