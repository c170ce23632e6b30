//! This process and others on the machine: the host name, whether a process
//! is alive, signals to child processes, and dying with the parent.
//!
//! The one home of the few `libc` calls the executor needs (the runtime's
//! C++ shim aside); everything here is Linux/Unix-only, like `flock` and Slurm.

use std::sync::OnceLock;

/// This machine's host name (as `hostname` prints it), or `localhost` when
/// the system does not say.
pub fn host_name() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most `len` bytes into `buf`, which
        // lives for the call.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        match std::str::from_utf8(&buf[..end]) {
            Ok(s) if rc == 0 && !s.is_empty() => s.to_string(),
            _ => "localhost".to_string(),
        }
    })
}

/// Whether a process with this id exists on this machine (a zombie counts).
pub fn is_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    // EPERM: it exists but belongs to another user.
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Send `signal` to process `pid` (a child this process started).
pub fn send_signal(pid: u32, signal: i32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill has no memory effects; a gone pid only returns ESRCH.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Ask the kernel to send `signal` to this process when its parent dies
/// (`PR_SET_PDEATHSIG`, Linux), then check the parent `expected_parent` is
/// still there. Returns false when the parent is already gone (it died
/// before the request could take effect), so the caller stops at once.
///
/// Why: a child process of `exp run --jobs N` must not keep training (and
/// holding a GPU) after its parent was killed, even by `kill -9`.
pub fn die_with_parent(signal: i32, expected_parent: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_PDEATHSIG takes a signal number and touches no memory.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::c_ulong::from(signal as u32));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = signal;
    // SAFETY: getppid cannot fail and has no memory effects.
    let parent = unsafe { libc::getppid() };
    u32::try_from(parent).is_ok_and(|p| p == expected_parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        assert!(is_alive(std::process::id()));
        assert!(!host_name().is_empty());
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("`true` runs");
        let pid = child.id();
        child.wait().expect("wait");
        assert!(!is_alive(pid), "a reaped child's pid is free");
    }
}
