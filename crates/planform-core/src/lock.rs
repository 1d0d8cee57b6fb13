//! One writer per run directory: an advisory lock on `<dir>/.lock`.
//!
//! [`RunLock::acquire`] opens (or creates) `<dir>/.lock`, takes an exclusive `flock` on it
//! without waiting, and writes the holder's pid and command line into it. A second process
//! (or a second lock in the same process: `flock` locks belong to the open file, not the
//! process) gets [`LockError::Busy`], which names the directory, the holder's pid and its
//! command. The lock is released when the [`RunLock`] is dropped, and by the OS when the
//! process dies, however it dies — a stale `.lock` file never blocks anyone, because only
//! the `flock`, not the file, means "in use".
//!
//! The file itself is never deleted (deleting it would let two processes lock two different
//! files of the same name); on release its contents are cleared.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// Name of the lock file inside a locked directory.
pub const LOCK_FILE: &str = ".lock";

/// Why a directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process (or another part of this one) holds the lock.
    #[error("run directory {} is in use by {}", dir.display(), holder(*pid, command))]
    Busy {
        /// The locked directory.
        dir: PathBuf,
        /// The holder's pid, when it had written it.
        pid: Option<u32>,
        /// The holder's command line, when it had written it.
        command: Option<String>,
    },
    /// The directory or its lock file could not be created, opened or locked.
    #[error("cannot lock run directory {}: {error}", dir.display())]
    Io {
        /// The directory.
        dir: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
}

fn holder(pid: Option<u32>, command: &Option<String>) -> String {
    match (pid, command) {
        (Some(pid), Some(c)) => format!("pid {pid} ({c})"),
        (Some(pid), None) => format!("pid {pid}"),
        _ => "another process".to_string(),
    }
}

/// An exclusive lock on a directory, held until dropped.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    dir: PathBuf,
}

impl RunLock {
    /// Creates `dir` if needed and locks it for this process, or fails at once with
    /// [`LockError::Busy`] if someone holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock, LockError> {
        let io = |error| LockError::Io {
            dir: dir.to_path_buf(),
            error,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE))
            .map_err(io)?;
        // SAFETY: `flock` on a file descriptor this function owns (open for its whole
        // call); it has no memory-safety preconditions.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::WouldBlock {
                return Err(io(error));
            }
            let (pid, command) = read_holder(&mut file);
            return Err(LockError::Busy {
                dir: dir.to_path_buf(),
                pid,
                command,
            });
        }
        let text = format!("{}\n{}\n", std::process::id(), command_line());
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(RunLock {
            file,
            dir: dir.to_path_buf(),
        })
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Clear the holder (still under the lock); closing the file releases the lock.
        let _ = self.file.set_len(0);
    }
}

/// The pid and command line a holder wrote (either may be missing: it may not have
/// written them yet).
fn read_holder(file: &mut File) -> (Option<u32>, Option<String>) {
    let mut text = String::new();
    if file.seek(SeekFrom::Start(0)).is_err() || file.read_to_string(&mut text).is_err() {
        return (None, None);
    }
    let mut lines = text.lines();
    let pid = lines.next().and_then(|l| l.trim().parse().ok());
    let command = lines
        .next()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    (pid, command)
}

/// This process's command line, the program shown by its file name, cut to 200 characters.
fn command_line() -> String {
    let mut args = std::env::args();
    let program = args
        .next()
        .map(|p| {
            Path::new(&p)
                .file_name()
                .map_or(p.clone(), |n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let mut line = std::iter::once(program)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
        .replace(['\n', '\r'], " ");
    if line.chars().count() > 200 {
        line = line.chars().take(199).collect::<String>() + "…";
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_until_the_first_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let first = RunLock::acquire(&dir).unwrap();
        assert!(dir.join(LOCK_FILE).is_file());
        let err = RunLock::acquire(&dir).unwrap_err();
        match &err {
            LockError::Busy {
                dir: d,
                pid,
                command,
            } => {
                assert_eq!(d, &dir);
                assert_eq!(*pid, Some(std::process::id()));
                let exe = std::env::current_exe().unwrap();
                let name = exe.file_name().unwrap().to_string_lossy().into_owned();
                assert!(
                    command.as_deref().unwrap().starts_with(&name),
                    "{command:?}"
                );
            }
            other => panic!("expected Busy, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "run directory {} is in use by pid {} (",
                dir.display(),
                std::process::id()
            )),
            "{msg}"
        );
        drop(first);
        assert_eq!(std::fs::read(dir.join(LOCK_FILE)).unwrap(), b"");
        let again = RunLock::acquire(&dir).unwrap();
        assert_eq!(again.dir(), dir);
    }

    #[test]
    fn racing_threads_get_exactly_one_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let barrier = std::sync::Barrier::new(8);
        let won = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        let r = RunLock::acquire(&dir);
                        // Hold a won lock until every thread has tried.
                        barrier.wait();
                        match r {
                            Ok(_) => true,
                            Err(LockError::Busy { .. }) => false,
                            Err(e) => panic!("unexpected {e}"),
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|&w| w)
                .count()
        });
        assert_eq!(won, 1);
    }

    #[test]
    fn a_stale_lock_file_from_a_dead_holder_does_not_block() {
        let tmp = tempfile::tempdir().unwrap();
        // What a killed holder leaves: the file with its pid, but no flock.
        std::fs::write(tmp.path().join(LOCK_FILE), "4194303\nplanform train\n").unwrap();
        let lock = RunLock::acquire(tmp.path()).unwrap();
        let text = std::fs::read_to_string(tmp.path().join(LOCK_FILE)).unwrap();
        assert_eq!(text.lines().next().unwrap(), std::process::id().to_string());
        drop(lock);
    }

    #[test]
    fn a_path_that_is_a_file_is_an_io_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let err = RunLock::acquire(&file).unwrap_err();
        assert!(matches!(err, LockError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains(&file.display().to_string()));
    }
}
