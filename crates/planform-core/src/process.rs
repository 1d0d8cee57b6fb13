//! Processes: is a process id still running?

/// Whether a process with id `pid` exists on this machine.
///
/// Uses `kill(pid, 0)`, which sends no signal: success or `EPERM` (the process exists but
/// belongs to another user) mean alive, `ESRCH` means no such process. Ids that cannot
/// name a single process (0, which `kill` reads as "my process group", and ids above
/// `i32::MAX`) are reported as not alive. Any other error counts as alive, so callers
/// that delete a dead process's leftovers err on the side of keeping them.
///
/// A process id seen in a file name on a file system shared with other machines, or
/// written before a reboot, may name an unrelated process: "alive" only means some
/// process has that id now.
pub fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    // SAFETY: `kill` with signal 0 performs only the existence and permission checks and
    // has no other effect; it has no memory-safety preconditions.
    let rc = unsafe { libc::kill(raw, 0) };
    if rc == 0 {
        return true;
    }
    std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive() {
        assert!(pid_alive(std::process::id()));
    }

    #[test]
    fn a_reaped_child_is_not_alive() {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn `true`");
        let pid = child.id();
        child.wait().expect("wait");
        // The id is free once the child is reaped (reuse within this test is vanishingly
        // unlikely: Linux hands out ids in increasing order).
        assert!(!pid_alive(pid));
    }

    #[test]
    fn ids_that_name_no_single_process() {
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
        assert!(!pid_alive(i32::MAX as u32 + 1));
    }

    #[test]
    fn init_is_alive_even_when_not_ours() {
        // pid 1 always exists; signalling it may be refused (EPERM), which still means alive.
        assert!(pid_alive(1));
    }
}
