//! Output files written atomically: into a temporary file in the target's
//! directory, synced, then renamed over the target. A failure at any step removes
//! only the temporary file, so what was at the path before (a previous result,
//! a read-only file, a device) is never truncated or deleted; a reader never sees
//! half a file. `check` runs the same checks up front, so that a command can
//! refuse a bad path before a long computation rather than after it.
//!
//! Targets that exist and are not regular files (`/dev/null`, `/dev/stdout`, a
//! FIFO) cannot be replaced by a rename, and must not be: they are written in
//! place, and never removed.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Where an output goes, after the checks.
enum Target {
    /// A regular file (existing or not): written beside it, then renamed over it.
    /// `mode`: the existing file's permissions, kept by the replacement.
    Replace {
        path: PathBuf,
        dir: PathBuf,
        mode: Option<Permissions>,
    },
    /// An existing non-regular file, written in place.
    InPlace(PathBuf),
}

fn resolve(path: &Path) -> Result<Target, String> {
    let shown = path.display();
    // Write through a symlink to an existing file, as a plain write would,
    // rather than replacing the link itself.
    let path = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).unwrap_or(path.into()),
        _ => path.to_path_buf(),
    };
    match fs::metadata(&path) {
        Ok(m) if m.is_dir() => return Err(format!("{shown}: is a directory")),
        Ok(m) if !m.is_file() => return Ok(Target::InPlace(path)),
        Ok(m) if m.permissions().readonly() => {
            return Err(format!("{shown}: is read-only; not replaced"));
        }
        Ok(m) => {
            let dir = parent(&path);
            return Ok(Target::Replace {
                path,
                dir,
                mode: Some(m.permissions()),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{shown}: {e}")),
    }
    if path.file_name().is_none() {
        return Err(format!("{shown}: names no file"));
    }
    let dir = parent(&path);
    match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => Ok(Target::Replace {
            path,
            dir,
            mode: None,
        }),
        Ok(_) => Err(format!("{shown}: {} is not a directory", dir.display())),
        Err(e) => Err(format!("{shown}: directory {}: {e}", dir.display())),
    }
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A temporary file beside the target, removed on drop unless kept.
struct Temp {
    path: PathBuf,
    keep: bool,
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn create_temp(dir: &Path, target: &Path) -> io::Result<(Temp, File)> {
    let name = target
        .file_name()
        .map_or("out".into(), |n| n.to_string_lossy().into_owned());
    let mut last = None;
    for n in 0..100 {
        let path = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        // create_new: never open (and so never truncate) a file that exists.
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((Temp { path, keep: false }, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

/// Checks that `path` can be written now: not a directory, not a read-only file,
/// in a directory that exists and takes new files (tried by creating and removing
/// a temporary file there). For commands to call before their work.
pub fn check(path: &Path) -> Result<(), String> {
    match resolve(path)? {
        Target::InPlace(_) => Ok(()),
        Target::Replace { path: p, dir, .. } => create_temp(&dir, &p).map(drop).map_err(|e| {
            format!(
                "{}: cannot create a file in {}: {e}",
                path.display(),
                dir.display()
            )
        }),
    }
}

/// Writes what `body` writes to `path` atomically (see the module comment). An
/// error names the path and leaves whatever was there untouched.
pub fn write_with(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> Result<(), String>,
) -> Result<(), String> {
    let shown = path.display();
    let io = |e: io::Error| format!("{shown}: {e}");
    match resolve(path)? {
        Target::InPlace(p) => {
            let mut f = OpenOptions::new().write(true).open(p).map_err(io)?;
            body(&mut f).map_err(|e| format!("{shown}: {e}"))?;
            f.flush().map_err(io)
        }
        Target::Replace { path: p, dir, mode } => {
            let (mut temp, file) = create_temp(&dir, &p).map_err(io)?;
            let mut w = BufWriter::new(file);
            body(&mut w).map_err(|e| format!("{shown}: {e}"))?;
            let file = w.into_inner().map_err(|e| io(e.into_error()))?;
            if let Some(mode) = mode {
                file.set_permissions(mode).map_err(io)?;
            }
            // The data must be on disk before the rename makes it the target, or
            // a crash could leave an empty file where the old result was.
            file.sync_all().map_err(io)?;
            drop(file);
            fs::rename(&temp.path, &p).map_err(io)?;
            temp.keep = true;
            // The rename itself lives in the directory; best effort (not every
            // file system lets a directory be synced).
            if let Ok(d) = File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        }
    }
}

/// `write_with` for bytes already in memory.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    write_with(path, |w| w.write_all(bytes).map_err(|e| e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.npy");
        fs::write(&out, b"old").unwrap();
        let e = write_with(&out, |w| {
            w.write_all(b"half").unwrap();
            Err("disk on fire".into())
        })
        .unwrap_err();
        assert!(e.contains("r.npy") && e.contains("disk on fire"), "{e}");
        assert_eq!(fs::read(&out).unwrap(), b"old");
        assert_eq!(entries(dir.path()), ["r.npy"]);
        write(&out, b"new").unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"new");
        assert_eq!(entries(dir.path()), ["r.npy"]);
    }

    #[test]
    fn read_only_files_directories_and_missing_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro.npy");
        fs::write(&ro, b"mine").unwrap();
        fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o444)).unwrap();
        for (p, needle) in [
            (ro.clone(), "read-only"),
            (dir.path().to_path_buf(), "is a directory"),
            (dir.path().join("no/such/x.json"), "no/such"),
        ] {
            let e = check(&p).unwrap_err();
            assert!(e.contains(needle), "{e}");
            let e = write(&p, b"x").unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
        assert_eq!(fs::read(&ro).unwrap(), b"mine");
        assert_eq!(entries(dir.path()), ["ro.npy"]);
    }

    #[test]
    fn devices_are_written_in_place_and_never_removed() {
        write(Path::new("/dev/null"), b"x").unwrap();
        let e = write(Path::new("/dev/full"), b"x").unwrap_err();
        assert!(e.contains("/dev/full"), "{e}");
        assert!(!fs::metadata("/dev/full").unwrap().is_file());
    }

    #[test]
    fn symlinks_are_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.csv");
        fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write(&link, b"new").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).unwrap(), b"new");
    }
}
