//! `popcornctl ping`: round trips through the message layer, shown like
//! `ping(8)` shows them.
//!
//! Each read of `peers/<id>/ping` makes the kernel send one request of
//! [`PING_BYTES`] bytes to kernel `id` and wait (up to a second) for the
//! echo; the read returns the round-trip time in nanoseconds, or fails with
//! the request's errno (`ETIMEDOUT`, `EHOSTDOWN`, `EHOSTUNREACH`).

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Payload of each ping (`msg.rs`'s `PING_BYTES`).
pub const PING_BYTES: usize = 56;

#[derive(Debug, thiserror::Error)]
pub enum PingError {
    #[error("kernel {0} is not a peer of this kernel ({1} does not exist): is it running, and is popcorn_msg.ko loaded on both?")]
    NoPeer(u32, PathBuf),
}

/// One probe's outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// Round-trip time in nanoseconds.
    Reply(u64),
    /// The kernel's error for this probe.
    Failed(String),
}

/// The file whose reads are pings to kernel `id`.
pub fn ping_file(root: &Path, id: u32) -> Result<PathBuf, PingError> {
    let path = root.join("peers").join(id.to_string()).join("ping");
    if path.exists() {
        Ok(path)
    } else {
        Err(PingError::NoPeer(id, path))
    }
}

/// One round trip.
pub fn probe(file: &Path) -> Probe {
    match fs::read_to_string(file) {
        Ok(text) => match text.trim().parse() {
            Ok(ns) => Probe::Reply(ns),
            Err(_) => Probe::Failed(format!("unexpected answer {:?}", text.trim())),
        },
        Err(e) => Probe::Failed(describe(&e)),
    }
}

fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(110) => "no answer within 1 s (ETIMEDOUT)".into(),
        Some(112) => "the kernel went away (EHOSTDOWN)".into(),
        Some(113) => "the kernel is not running (EHOSTUNREACH)".into(),
        _ => e.to_string(),
    }
}

/// The line `ping` prints for probe `seq`.
pub fn probe_line(id: u32, seq: u32, probe: &Probe) -> String {
    match probe {
        Probe::Reply(ns) => format!(
            "{PING_BYTES} bytes from kernel {id}: seq={seq} time={:.3} ms",
            *ns as f64 / 1e6
        ),
        Probe::Failed(why) => format!("from kernel {id}: seq={seq} {why}"),
    }
}

/// The closing summary, as `ping` prints it.
pub fn summary(id: u32, probes: &[Probe]) -> String {
    let times: Vec<f64> = probes
        .iter()
        .filter_map(|p| match p {
            Probe::Reply(ns) => Some(*ns as f64 / 1e6),
            Probe::Failed(_) => None,
        })
        .collect();
    let sent = probes.len();
    let received = times.len();
    let loss = if sent == 0 {
        0.0
    } else {
        100.0 * (sent - received) as f64 / sent as f64
    };
    let mut out = String::new();
    let _ = writeln!(out, "--- kernel {id} ping statistics ---");
    let _ = writeln!(
        out,
        "{sent} messages transmitted, {received} received, {loss:.0}% loss"
    );
    if received > 0 {
        let min = times.iter().copied().fold(f64::INFINITY, f64::min);
        let max = times.iter().copied().fold(0.0, f64::max);
        let avg = times.iter().sum::<f64>() / received as f64;
        let mdev = (times.iter().map(|t| (t - avg).powi(2)).sum::<f64>() / received as f64).sqrt();
        let _ = writeln!(
            out,
            "rtt min/avg/max/mdev = {min:.3}/{avg:.3}/{max:.3}/{mdev:.3} ms"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_summary_read_like_ping() {
        assert_eq!(
            probe_line(2, 0, &Probe::Reply(1_234_567)),
            "56 bytes from kernel 2: seq=0 time=1.235 ms"
        );
        assert_eq!(
            probe_line(2, 1, &Probe::Failed("x".into())),
            "from kernel 2: seq=1 x"
        );
        let probes = [
            Probe::Reply(1_000_000),
            Probe::Failed("t".into()),
            Probe::Reply(3_000_000),
        ];
        assert_eq!(
            summary(2, &probes),
            "--- kernel 2 ping statistics ---\n\
             3 messages transmitted, 2 received, 33% loss\n\
             rtt min/avg/max/mdev = 1.000/2.000/3.000/1.000 ms\n"
        );
        assert!(!summary(1, &[Probe::Failed("t".into())]).contains("rtt"));
    }

    #[test]
    fn probes_read_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let peer = dir.path().join("peers/3");
        fs::create_dir_all(&peer).unwrap();
        assert!(matches!(ping_file(dir.path(), 4), Err(PingError::NoPeer(4, _))));
        fs::write(peer.join("ping"), "81234\n").unwrap();
        let file = ping_file(dir.path(), 3).unwrap();
        assert_eq!(probe(&file), Probe::Reply(81234));
        fs::write(&file, "junk\n").unwrap();
        assert!(matches!(probe(&file), Probe::Failed(_)));
    }
}
