//! Time and peak memory of one child process, from wait4(2).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;

/// One run of a child process.
pub(crate) struct Sample {
    pub(crate) wall: Duration,
    pub(crate) user: Duration,
    pub(crate) sys: Duration,
    pub(crate) cpu: Duration,
    pub(crate) max_rss_bytes: u64,
}

/// Runs a program to completion and measures it with wait4(2): wall time,
/// user and system CPU time and peak resident set size of that child alone.
pub(crate) fn measure(
    program: &Path,
    args: &[std::ffi::OsString],
    stderr_path: &Path,
) -> Result<Sample> {
    measure_exiting(program, args, stderr_path, 0)
}

/// [`measure`] for a run that must end with exit status `code` (1: a refusal of bad input,
/// measured for what it costs to refuse).
#[allow(unsafe_code)] // wait4 and a zeroed rusage; see the SAFETY notes
pub(crate) fn measure_exiting(
    program: &Path,
    args: &[std::ffi::OsString],
    stderr_path: &Path,
    code: i32,
) -> Result<Sample> {
    let stderr = fs::File::create(stderr_path)?;
    let started = Instant::now();
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; zeroed is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own child, not yet reaped (std's Child is never
        // waited on); both pointers are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("wait4: {err}").into());
        }
    }
    let wall = started.elapsed();
    drop(child);
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == code) {
        let how = if libc::WIFEXITED(status) {
            format!("exit status {}", libc::WEXITSTATUS(status))
        } else {
            format!("signal {}", libc::WTERMSIG(status))
        };
        let msg = fs::read_to_string(stderr_path).unwrap_or_default();
        let last = msg.lines().last().unwrap_or("").to_string();
        return Err(format!("failed with {how}: {last}").into());
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    let user = tv(usage.ru_utime);
    let sys = tv(usage.ru_stime);
    Ok(Sample {
        wall,
        user,
        sys,
        cpu: user + sys,
        // Linux reports ru_maxrss in KiB.
        max_rss_bytes: usage.ru_maxrss as u64 * 1024,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measure_reports_child_rss() {
        let dir = std::env::temp_dir();
        let s = measure(
            Path::new("/bin/sh"),
            &["-c".into(), "exit 0".into()],
            &dir.join("xtask-measure-test.stderr"),
        )
        .unwrap();
        assert!(s.max_rss_bytes > 0);
        let e = measure(
            Path::new("/bin/sh"),
            &["-c".into(), "echo boom >&2; exit 3".into()],
            &dir.join("xtask-measure-test.stderr"),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("exit status 3") && e.contains("boom"), "{e}");
    }
}
