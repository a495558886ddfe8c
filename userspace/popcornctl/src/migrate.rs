//! `popcornctl migrate` and the restore helper behind it
//! (`/sys/kernel/popcorn/migration/`, `docs/migration.md`).

use std::ffi::CString;
use std::fs;
use std::io;
use std::path::Path;

/// Moves process `pid` to kernel `kernel`: returns once the process runs
/// there, or with the errno that says why not (the process then keeps
/// running here; the kernel log has the reason in one line).
pub fn migrate(root: &Path, pid: u32, kernel: u32) -> io::Result<()> {
    fs::write(root.join("migration/migrate"), format!("{pid} {kernel}\n"))
}

/// What an errno from `migrate` means to a user.
pub fn explain(err: &io::Error, kernel: u32) -> String {
    match err.raw_os_error() {
        Some(libc::ESRCH) => "no such process".into(),
        Some(libc::EPERM) => "a kernel thread cannot move, nor an init (the kernel log says which)".into(),
        Some(libc::EOPNOTSUPP) => {
            "not supported for this process (single-threaded, statically linked, console files only; \
             no namespace of its own, seccomp or chroot; the kernel log says why)"
                .into()
        }
        Some(libc::EHOSTUNREACH) => {
            format!("kernel {kernel} is not running (or, for a process that came from elsewhere, its home kernel)")
        }
        Some(libc::EINVAL) => "invalid request (the process already runs on that kernel?)".into(),
        Some(libc::EBUSY) => "the process runs on another kernel already".into(),
        Some(libc::ETIMEDOUT) => {
            "the process did not stop for the move (stopped, or in an uninterruptible sleep?)".into()
        }
        _ => err.to_string(),
    }
}

/// A migrated process: `(pid here, where it runs)` for ours elsewhere,
/// from `migration/processes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Migrated {
    /// Ours, running on another kernel (the PID here is its stub).
    Away { pid: u32, kernel: u32 },
    /// Another kernel's, running here.
    Here { pid: u32, from: u32, origin_pid: u32 },
}

/// Parses `migration/processes`: `PID KERNEL` or `PID from KERNEL (pid N
/// there)` per line; lines that are neither are skipped.
pub fn parse_processes(text: &str) -> Vec<Migrated> {
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [pid, kernel] => Some(Migrated::Away { pid: pid.parse().ok()?, kernel: kernel.parse().ok()? }),
                [pid, "from", from, "(pid", origin, "there)"] => Some(Migrated::Here {
                    pid: pid.parse().ok()?,
                    from: from.parse().ok()?,
                    origin_pid: origin.parse().ok()?,
                }),
                _ => None,
            }
        })
        .collect()
}

/// `popcornctl status`'s lines about migrated processes (none: no lines).
pub fn render(list: &[Migrated]) -> String {
    let mut out = String::new();
    if !list.is_empty() {
        out.push_str("migrated processes:\n");
    }
    for m in list {
        match m {
            Migrated::Away { pid, kernel } => {
                out.push_str(&format!("  pid {pid}: runs on kernel {kernel} (its stub is here)\n"))
            }
            Migrated::Here { pid, from, origin_pid } => {
                out.push_str(&format!("  pid {pid}: from kernel {from}, where it is pid {origin_pid}\n"))
            }
        }
    }
    out
}

/// The migrated processes this kernel knows of (none if migration is not
/// running here).
pub fn processes(root: &Path) -> Vec<Migrated> {
    fs::read_to_string(root.join("migration/processes")).map_or_else(|_| Vec::new(), |t| parse_processes(&t))
}

/// `clone3`'s arguments up to `set_tid` (`CLONE_ARGS_SIZE_VER1`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
}

/// How long to wait for a wanted PID that is taken: long enough for a
/// short-lived process (a `sleep`, a `cat`) to end and free it.
const PID_RETRIES: u32 = 10;
const PID_RETRY_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// Forks like fork(2); the child gets PID `pid` if that is free here,
/// else whatever fork gives it (and the kernel log says so). Keeping the
/// PID matters beyond `getpid()`: glibc caches a thread's id in user
/// memory at its start and `raise()` signals that id.
fn fork_keeping_pid(pid: Option<i32>) -> io::Result<libc::pid_t> {
    if let Some(pid) = pid.filter(|&p| p > 1) {
        let tid = [pid];
        let args = CloneArgs {
            exit_signal: libc::SIGCHLD as u64,
            set_tid: tid.as_ptr() as u64,
            set_tid_size: 1,
            ..CloneArgs::default()
        };
        let mut err = io::Error::from_raw_os_error(libc::EEXIST);
        for _ in 0..PID_RETRIES {
            // SAFETY: clone3 without CLONE_VM is fork with a chosen PID; the
            // arguments live across the call; this process is
            // single-threaded, so the child may go on in Rust as after fork.
            let got = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, size_of::<CloneArgs>()) };
            if got >= 0 {
                return Ok(got as libc::pid_t);
            }
            err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EEXIST) {
                break;
            }
            std::thread::sleep(PID_RETRY_WAIT);
        }
        let _ = fs::write(
            "/dev/kmsg",
            format!("popcornctl restore: cannot keep pid {pid} here ({err}); the migrated process gets another\n"),
        );
    }
    // SAFETY: fork in a single-threaded process.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(child)
}

/// `popcornctl restore ID [--pid PID]`, started by the kernel (a user-mode
/// helper) on the destination: forks a child (with PID PID if free) that
/// becomes migration ID's process, waits for it and reports its wait
/// status. Never used by hand.
pub fn restore(root: &Path, id: u64, pid: Option<i32>) -> io::Result<()> {
    // The helper starts with no open files; the process gets the console
    // as 0, 1 and 2, as it had on its origin.
    let console = CString::new("/dev/console").map_err(io::Error::other)?;
    for fd in 0..3 {
        // SAFETY: plain syscalls on a valid C string and small fds.
        unsafe {
            let opened = libc::open(console.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
            if opened >= 0 && opened != fd {
                libc::dup2(opened, fd);
                libc::close(opened);
            }
        }
    }
    let child = fork_keeping_pid(pid)?;
    if child == 0 {
        // On success the kernel turns this process into the migrated one
        // on its way out of this write: nothing after it runs.
        let err = fs::write(root.join("migration/restore"), format!("{id}\n"));
        eprintln!("popcornctl restore {id}: {err:?}");
        // SAFETY: ends the child without running the parent's atexit.
        unsafe { libc::_exit(127) };
    }
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child.
        let got = unsafe { libc::waitpid(child, &mut status, 0) };
        if got == child {
            break;
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
    fs::write(root.join("migration/exited"), format!("{id} {status}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_are_parsed() {
        let text = "120 1\n77 from 0 (pid 120 there)\nnonsense\n";
        assert_eq!(
            parse_processes(text),
            vec![
                Migrated::Away { pid: 120, kernel: 1 },
                Migrated::Here { pid: 77, from: 0, origin_pid: 120 }
            ]
        );
    }

    #[test]
    fn status_lines() {
        assert_eq!(render(&[]), "");
        let text = render(&parse_processes("120 1\n77 from 0 (pid 120 there)\n"));
        assert_eq!(
            text,
            "migrated processes:\n  pid 120: runs on kernel 1 (its stub is here)\n  pid 77: from kernel 0, where it is pid 120\n"
        );
    }

    #[test]
    fn errors_are_explained() {
        let e = io::Error::from_raw_os_error(libc::EHOSTUNREACH);
        assert!(explain(&e, 3).starts_with("kernel 3 is not running"));
        assert!(explain(&io::Error::from_raw_os_error(libc::EOPNOTSUPP), 1).contains("statically linked"));
    }

    #[test]
    fn migrate_writes_the_request() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("migration")).unwrap();
        migrate(dir.path(), 42, 1).unwrap();
        assert_eq!(fs::read_to_string(dir.path().join("migration/migrate")).unwrap(), "42 1\n");
    }
}
