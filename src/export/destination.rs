//! Where an export's bytes go: standard output, or a file or directory written under a hidden
//! temporary name beside `--out` and renamed into place when complete, so that a failed export
//! leaves nothing behind and never half-replaces an earlier one. Also what `--out` may name
//! (shared with `pack`).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Output;
use crate::error::{Error, Result};

/// The file name written to standard output's label in messages.
const STDOUT_LABEL: &str = "<stdout>";

/// Where the bytes go, and how they get there: files and directories are written under a
/// temporary name beside `--out` and renamed into place by [`Destination::commit`].
pub(super) enum Destination {
    Stdout,
    File { out: PathBuf, partial: PathBuf },
    Directory { out: PathBuf, partial: PathBuf },
}

impl Destination {
    pub(super) fn open(out: &Output, directory: bool, force: bool) -> Result<Destination> {
        let path = match out {
            Output::Stdout => return Ok(Destination::Stdout),
            Output::Path(path) => path.clone(),
        };
        check_replaceable(&path, directory, force)?;
        let partial = partial_path(&path);
        remove(&partial);
        if directory {
            std::fs::create_dir(&partial).map_err(|source| Error::Io {
                path: partial.clone(),
                source,
            })?;
            Ok(Destination::Directory { out: path, partial })
        } else {
            Ok(Destination::File { out: path, partial })
        }
    }

    /// The name used in messages.
    pub(super) fn label(&self) -> PathBuf {
        match self {
            Destination::Stdout => PathBuf::from(STDOUT_LABEL),
            Destination::File { out, .. } | Destination::Directory { out, .. } => out.clone(),
        }
    }

    /// A writer for a single-stream format.
    pub(super) fn writer(&self) -> Result<Box<dyn Write + Send>> {
        match self {
            Destination::Stdout => Ok(Box::new(std::io::stdout())),
            Destination::File { partial, out } => std::fs::File::create(partial)
                .map(|f| Box::new(f) as Box<dyn Write + Send>)
                .map_err(|source| Error::Io {
                    path: out.clone(),
                    source,
                }),
            Destination::Directory { .. } => unreachable!("a directory has one writer per file"),
        }
    }

    /// Moves the finished output into place; returns its size in bytes.
    pub(super) fn commit(self) -> Result<u64> {
        let (out, partial) = match self {
            Destination::Stdout => return Ok(0),
            Destination::File { out, partial } | Destination::Directory { out, partial } => {
                (out, partial)
            }
        };
        let io = |source| Error::Io {
            path: out.clone(),
            source,
        };
        if out.is_dir() {
            // Checked by check_replaceable: an earlier partitioned export, and --force given.
            std::fs::remove_dir_all(&out).map_err(io)?;
        }
        std::fs::rename(&partial, &out).map_err(io)?;
        size(&out).map_err(io)
    }

    /// Removes what a failed export wrote.
    pub(super) fn abandon(self) {
        if let Destination::File { partial, .. } | Destination::Directory { partial, .. } = self {
            remove(&partial);
        }
    }
}

/// Refuses an `out` that exists without `force`, and one that `force` must not replace
/// because it is not what this export would write (a directory for a file, or a directory that
/// is not an earlier partitioned export).
fn check_replaceable(out: &Path, directory: bool, force: bool) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(out) else {
        return Ok(());
    };
    let usage = |problem: &str| Error::Usage {
        flag: "--out".into(),
        value: out.display().to_string(),
        problem: problem.into(),
    };
    if let Some(kind) = special_kind(&meta) {
        return Err(usage(&refusal(kind)));
    }
    match (directory, meta.is_dir()) {
        (false, true) => return Err(usage("is a directory; name a file")),
        (true, false) => {
            return Err(usage(
                "is a file; --partition-by writes a directory, name a new one",
            ));
        }
        (true, true) if !looks_like_partitioned_export(out) => {
            return Err(usage(
                "is a directory that does not hold an earlier partitioned export; name a new one",
            ));
        }
        _ => {}
    }
    if force {
        Ok(())
    } else {
        Err(Error::OutputExists {
            path: out.to_owned(),
        })
    }
}

/// What `--out` names when it is neither a regular file nor a directory (a symlink is not
/// followed: replacing it would replace the link, writing through it the file it names).
pub(crate) fn special_kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_symlink() {
        Some("a symbolic link")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        None
    }
}

/// Why `--out` naming a `kind` (see [`special_kind`]) is refused, with or without --force.
pub(crate) fn refusal(kind: &str) -> String {
    format!(
        "is {kind}, not a regular file; --out writes a new file in its place, so name a regular file, a new path or `-` for standard output"
    )
}

/// True for a directory that holds only `year=…` directories of `.parquet` files.
fn looks_like_partitioned_export(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().all(|e| {
        e.file_name().to_string_lossy().starts_with("year=")
            && e.file_type().is_ok_and(|t| t.is_dir())
            && std::fs::read_dir(e.path()).is_ok_and(|files| {
                files.flatten().all(|f| {
                    f.file_type().is_ok_and(|t| t.is_file())
                        && f.file_name().to_string_lossy().ends_with(".parquet")
                })
            })
    })
}

/// A hidden name beside `out`, so that the final rename stays on one file system.
fn partial_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    out.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

fn remove(path: &Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

/// Bytes in a file, or in all files under a directory.
fn size(path: &Path) -> std::io::Result<u64> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        total += size(&entry?.path())?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_earlier_partitioned_export_may_be_replaced_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("pq");
        let year = out.join("year=2019");
        std::fs::create_dir_all(&year).unwrap();
        std::fs::write(year.join("part-0.parquet"), b"x").unwrap();
        assert!(looks_like_partitioned_export(&out));
        assert_eq!(size(&out).unwrap(), 1);
        assert!(matches!(
            check_replaceable(&out, true, false),
            Err(Error::OutputExists { .. })
        ));
        check_replaceable(&out, true, true).unwrap();
        std::fs::write(year.join("notes.txt"), b"keep me").unwrap();
        assert!(!looks_like_partitioned_export(&out));
        assert!(matches!(
            check_replaceable(&out, true, true),
            Err(Error::Usage { problem, .. }) if problem.contains("does not hold")
        ));
        assert!(matches!(
            check_replaceable(&out, false, true),
            Err(Error::Usage { problem, .. }) if problem.contains("is a directory")
        ));
        check_replaceable(&dir.path().join("new"), true, false).unwrap();
    }

    #[test]
    fn the_partial_output_is_hidden_beside_out() {
        let partial = partial_path(Path::new("/data/rows.csv"));
        assert_eq!(
            partial,
            PathBuf::from(format!("/data/.rows.csv.partial-{}", std::process::id()))
        );
    }
}
