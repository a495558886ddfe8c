//! `popcornctl boot`, `shutdown` and `release`: the control files
//! (`/sys/kernel/popcorn/boot`, `docs/sysfs.md`) with a friendlier surface.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use popcorn_core::bootreq::BootRequest;
use popcorn_core::cmdline::check_user;
use popcorn_core::cpulist::CpuSet;
use popcorn_core::size::parse_size;

/// What to ask for; `None` fields take the kernel's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootArgs {
    pub cpus: String,
    pub mem: Option<String>,
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub cmdline: Option<String>,
}

/// A value as the request syntax wants it: bare when it has no space,
/// quote or backslash, otherwise in double quotes with `\"` and `\\`.
fn quote(value: &str) -> String {
    if !value.is_empty() && !value.contains([' ', '\t', '"', '\\']) {
        return value.to_owned();
    }
    let mut out = String::from("\"");
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Checks what the kernel would check of `args` before anything is
/// written, so that nothing in a value can become another key of the
/// request: the CPU list and size are written bare, so they must be exactly
/// a CPU list and a size (no space, no newline); the command line is quoted
/// but must keep to the kernel's allow-list (`cmdline.rs`). The error says
/// which argument is wrong and why; the kernel would refuse the request with
/// `EINVAL` (Invalid argument).
pub fn check_args(args: &BootArgs) -> Result<(), String> {
    let only = |value: &str, allowed: fn(u8) -> bool| value.bytes().all(allowed);
    if !only(&args.cpus, |b| b.is_ascii_digit() || b == b',' || b == b'-') {
        return Err(format!(
            "CPUS {:?} is not a CPU list such as 2-3 or 2,5-6 (Invalid argument)",
            args.cpus
        ));
    }
    CpuSet::parse(args.cpus.as_bytes())
        .map_err(|e| format!("CPUS {:?}: {e} (Invalid argument)", args.cpus))?;
    if let Some(mem) = &args.mem {
        if !only(mem, |b| b.is_ascii_alphanumeric()) {
            return Err(format!(
                "--mem {mem:?} is not a size such as 512M (Invalid argument)"
            ));
        }
        parse_size(mem.as_bytes()).map_err(|e| format!("--mem {mem:?}: {e} (Invalid argument)"))?;
    }
    if let Some(cmdline) = &args.cmdline {
        let line = request_line(&BootArgs {
            cpus: "0".into(),
            cmdline: Some(cmdline.clone()),
            ..Default::default()
        });
        let request = BootRequest::parse(line.as_bytes())
            .map_err(|e| format!("--cmdline: {e} (Invalid argument)"))?;
        if let Some(user) = &request.cmdline {
            check_user(user).map_err(|e| format!("--cmdline: {e} (Invalid argument)"))?;
        }
    }
    Ok(())
}

/// The line written to `boot`.
pub fn request_line(args: &BootArgs) -> String {
    let mut line = format!("cpus={}", args.cpus);
    for (key, value) in [
        ("mem", &args.mem),
        ("kernel", &args.kernel),
        ("initrd", &args.initrd),
        ("cmdline", &args.cmdline),
    ] {
        if let Some(value) = value {
            line.push_str(&format!(" {key}={}", quote(value)));
        }
    }
    line
}

fn kernel_ids(root: &Path) -> io::Result<BTreeSet<u32>> {
    let mut ids = BTreeSet::new();
    for entry in fs::read_dir(root.join("kernels"))? {
        if let Some(id) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) {
            ids.insert(id);
        }
    }
    Ok(ids)
}

/// Writes one line to a control file in a single `write(2)`, as sysfs wants.
fn write_control(path: &Path, line: &str) -> io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(format!("{line}\n").as_bytes())
}

/// Starts a kernel; returns its id. The kernel log says why a request was
/// refused; the error here carries the errno.
pub fn boot(root: &Path, args: &BootArgs) -> io::Result<Option<u32>> {
    check_args(args).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let before = kernel_ids(root)?;
    write_control(&root.join("boot"), &request_line(args))?;
    let after = kernel_ids(root)?;
    Ok(after.difference(&before).next().copied())
}

/// A shutdown that did not end in `stopped`: the state the kernel ended in
/// (`crashed`, `forced`; `None` if it cannot be read) and the error.
#[derive(Debug)]
pub struct ShutdownError {
    pub state: Option<String>,
    pub error: io::Error,
}

impl std::fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.state {
            Some(state) => write!(f, "it ended {state}, not stopped ({})", self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

/// Stops kernel `id` (the write returns once it has ended). `Ok` only when
/// it stopped cleanly; the kernel's write fails with `EIO` when it crashed
/// instead and `ETIMEDOUT` when it had to be forced, and the error then
/// carries the state it ended in.
pub fn shutdown(root: &Path, id: u32) -> Result<String, ShutdownError> {
    let state_file = root.join("kernels").join(id.to_string()).join("state");
    let read_state = || {
        fs::read_to_string(&state_file)
            .ok()
            .map(|s| s.trim_end().to_owned())
    };
    if let Err(error) = write_control(&root.join("shutdown"), &id.to_string()) {
        let state = read_state().filter(|s| s == "crashed" || s == "forced");
        return Err(ShutdownError { state, error });
    }
    match read_state() {
        Some(state) if state == "stopped" => Ok(state),
        state => Err(ShutdownError {
            state,
            error: io::Error::other("the kernel did not stop cleanly"),
        }),
    }
}

/// Releases kernel `id`.
pub fn release(root: &Path, id: u32) -> io::Result<()> {
    write_control(&root.join("release"), &id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_values_stay_bare() {
        let args = BootArgs {
            cpus: "2-3".into(),
            mem: Some("512M".into()),
            ..Default::default()
        };
        assert_eq!(request_line(&args), "cpus=2-3 mem=512M");
    }

    #[test]
    fn requests_parse_back_as_the_kernel_parses_them() {
        let args = BootArgs {
            cpus: "2,5-6".into(),
            mem: Some("1G".into()),
            kernel: Some("/boot/my kernel".into()),
            initrd: Some("/boot/initrd.img".into()),
            cmdline: Some(r#"init=/bin/sh quiet MSG="a \ b""#.into()),
        };
        let line = request_line(&args);
        let request = BootRequest::parse(line.as_bytes()).expect("the kernel's parser accepts it");
        assert_eq!(request.cpus.to_string(), "2,5-6");
        assert_eq!(request.mem, Some(1 << 30));
        assert!(request.kernel.unwrap().eq_unescaped(b"/boot/my kernel"));
        assert!(request.initrd.unwrap().eq_unescaped(b"/boot/initrd.img"));
        assert!(request
            .cmdline
            .unwrap()
            .eq_unescaped(br#"init=/bin/sh quiet MSG="a \ b""#));
    }

    #[test]
    fn values_cannot_inject_keys_and_are_checked_first() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("kernels/0")).unwrap();
        fs::write(root.path().join("boot"), "").unwrap();
        let base = BootArgs {
            cpus: "2".into(),
            ..Default::default()
        };
        let cases = [
            (
                BootArgs { cpus: "2 cmdline=memmap=512M@0x1000000".into(), ..base.clone() },
                "CPUS \"2 cmdline=memmap=512M@0x1000000\" is not a CPU list",
            ),
            (BootArgs { cpus: "2\n".into(), ..base.clone() }, "is not a CPU list"),
            (BootArgs { cpus: "3-2".into(), ..base.clone() }, "CPUS \"3-2\": reversed range 3-2"),
            (BootArgs { cpus: "".into(), ..base.clone() }, "empty CPU list"),
            (
                BootArgs { mem: Some("64M cmdline=memmap=1G@0".into()), ..base.clone() },
                "--mem \"64M cmdline=memmap=1G@0\" is not a size",
            ),
            (BootArgs { mem: Some("lots".into()), ..base.clone() }, "--mem \"lots\": unexpected character"),
            (
                BootArgs { cmdline: Some("quiet memmap=512M@0x1000000".into()), ..base.clone() },
                "--cmdline: cmdline: 'memmap' is not allowed",
            ),
            (BootArgs { cmdline: Some("a\nb".into()), ..base.clone() }, "--cmdline: cmdline: control character"),
        ];
        for (args, message) in cases {
            let error = boot(root.path(), &args).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
            let text = error.to_string();
            assert!(text.contains(message) && text.ends_with("(Invalid argument)"), "{text}");
            // Nothing was written.
            assert_eq!(fs::read_to_string(root.path().join("boot")).unwrap(), "");
        }
        let good = BootArgs {
            cpus: "2,5-6".into(),
            mem: Some("512M".into()),
            cmdline: Some("quiet EXPECT=\"a=b\"".into()),
            ..Default::default()
        };
        assert_eq!(check_args(&good), Ok(()));
    }

    #[test]
    fn boot_writes_one_line_and_reports_the_new_id() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("kernels/0")).unwrap();
        fs::write(root.path().join("boot"), "").unwrap();
        // No kernel appears in a fake tree, so there is no new id.
        let args = BootArgs {
            cpus: "2".into(),
            ..Default::default()
        };
        assert_eq!(boot(root.path(), &args).unwrap(), None);
        assert_eq!(
            fs::read_to_string(root.path().join("boot")).unwrap(),
            "cpus=2\n"
        );
        release(root.path(), 4).unwrap_err(); // no release file in this tree
    }

    #[test]
    fn shutdown_succeeds_only_for_a_clean_stop() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("kernels/2")).unwrap();
        fs::write(root.path().join("shutdown"), "").unwrap();
        fs::write(root.path().join("kernels/2/state"), "stopped\n").unwrap();
        assert_eq!(shutdown(root.path(), 2).unwrap(), "stopped");
        for ended in ["forced", "crashed"] {
            fs::write(root.path().join("kernels/2/state"), format!("{ended}\n")).unwrap();
            let err = shutdown(root.path(), 2).unwrap_err();
            assert_eq!(err.state.as_deref(), Some(ended));
            assert!(err.to_string().starts_with(&format!("it ended {ended}, not stopped")));
        }
        // The write itself fails (no such kernel here): no state to name.
        let err = shutdown(root.path(), 7).unwrap_err();
        assert_eq!(err.state, None);
    }
}
