//! A secondary kernel's control page, and how the primary judges from it
//! whether the secondary is booting, running, stopped, crashed or hung.
//!
//! Each secondary has one page in its boot slot of the shared window
//! (`shared.rs`), whose address it gets in its `setup_data`
//! (`control_phys`, `bootparams.rs`). The secondary's platform code
//! (`arch/x86/kernel/popcorn_secondary.c`, linux-patches/0006) writes its
//! state and heartbeats there; the primary writes only `request`. All
//! fields little-endian; the C side has the same layout as
//! `struct popcorn_control` in `include/linux/popcorn.h`:
//!
//! | Offset  | Size | Field       | Written by | Meaning                                         |
//! |---------|------|-------------|------------|-------------------------------------------------|
//! | `0x000` | 4    | `magic`     | loader     | [`CONTROL_MAGIC`], `PCTL`                        |
//! | `0x004` | 4    | `version`   | loader     | [`CONTROL_VERSION`]                              |
//! | `0x008` | 4    | `state`     | secondary  | [`Reported`]: 0 none, 1 early, 2 running, 3 stopping, 4 stopped, 5 crashed |
//! | `0x00c` | 4    | `request`   | primary    | 0 none, 1 shut down ([`REQUEST_SHUTDOWN`])       |
//! | `0x010` | 4    | `nr_cpus`   | loader     | CPUs the secondary owns                          |
//! | `0x014` | 12   | reserved    |            | 0                                               |
//! | `0x020` | 32   | `cpu_state` | each CPU   | [`CpuReport`] per CPU, indexed as `apic_ids`     |
//! | `0x040` | 256  | `heartbeat` | each CPU   | `u64` per CPU, +1 every 100 ms while online      |
//! | `0x140` | 256  | `message`   | secondary  | the panic message, NUL-terminated               |
//!
//! The primary never trusts these bytes: an unknown state is a crash, a
//! message is cut at the first NUL or at 256 bytes and anything but
//! printable ASCII is replaced, and indexes come from the primary's own
//! `nr_cpus`, never from the page.
//!
//! [`Watch`] turns successive snapshots into a [`Verdict`]: a kernel that
//! has not reported `running` within the boot timeout, or one of whose
//! online CPUs has not bumped its heartbeat within the heartbeat timeout,
//! is declared crashed (it may be hung with interrupts off, which only an
//! INIT from the primary ends).
//!
//! Requires: `crate::le`.

use core::fmt;

use crate::le::{put, read_u32, read_u64};

/// `magic`: the bytes `PCTL` in memory.
pub const CONTROL_MAGIC: u32 = 0x4c54_4350;
/// The layout version described here.
pub const CONTROL_VERSION: u32 = 1;
/// Most CPUs a secondary can have (as `bootparams::POPCORN_MAX_CPUS`).
pub const MAX_CPUS: usize = 32;
/// `request` value asking the secondary to shut down.
pub const REQUEST_SHUTDOWN: u32 = 1;
/// Bytes of the page the primary reads: everything up to the message's end.
pub const CONTROL_USED: usize = MESSAGE_OFFSET + MESSAGE_SIZE;

const MAGIC_OFFSET: usize = 0x000;
const VERSION_OFFSET: usize = 0x004;
const STATE_OFFSET: usize = 0x008;
/// Offset of `request`, the one field the primary writes after the start.
pub const REQUEST_OFFSET: usize = 0x00c;
const NR_CPUS_OFFSET: usize = 0x010;
const CPU_STATE_OFFSET: usize = 0x020;
const HEARTBEAT_OFFSET: usize = 0x040;
const MESSAGE_OFFSET: usize = 0x140;
const MESSAGE_SIZE: usize = 256;

/// What the secondary says about itself in `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    /// 0: nothing yet (the decompressor is running, or it never started).
    Nothing,
    /// 1: `setup_arch()` reached: the kernel proper runs.
    Early,
    /// 2: initcalls done, heartbeats ticking.
    Running,
    /// 3: shutting down at the primary's request.
    Stopping,
    /// 4: halted or powered off; CPUs parked.
    Stopped,
    /// 5: panicked; CPUs parked.
    Crashed,
    /// Any other value.
    Invalid(u32),
}

impl Reported {
    fn from_raw(raw: u32) -> Self {
        match raw {
            0 => Reported::Nothing,
            1 => Reported::Early,
            2 => Reported::Running,
            3 => Reported::Stopping,
            4 => Reported::Stopped,
            5 => Reported::Crashed,
            other => Reported::Invalid(other),
        }
    }
}

/// What one CPU of the secondary says about itself in `cpu_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuReport {
    /// 0: not started yet.
    Down,
    /// 1: online, its heartbeat ticks.
    Online,
    /// 2: taken offline inside the secondary; no heartbeat expected.
    Offline,
    /// 3: halted with interrupts off, waiting for INIT.
    Parked,
    /// Any other value.
    Invalid(u8),
}

impl CpuReport {
    fn from_raw(raw: u8) -> Self {
        match raw {
            0 => CpuReport::Down,
            1 => CpuReport::Online,
            2 => CpuReport::Offline,
            3 => CpuReport::Parked,
            other => CpuReport::Invalid(other),
        }
    }
}

/// Why a control page cannot be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlError {
    /// The page is shorter than the layout.
    TooShort { len: usize },
    /// `nr_cpus` is 0 or more than [`MAX_CPUS`].
    BadCpuCount { nr_cpus: usize },
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlError::TooShort { len } => {
                write!(f, "control page of {len} bytes, needs {CONTROL_USED}")
            }
            ControlError::BadCpuCount { nr_cpus } => {
                write!(
                    f,
                    "{nr_cpus} CPUs, the control page has room for 1 to {MAX_CPUS}"
                )
            }
        }
    }
}

/// Clears `page` and writes what the loader owns: magic, version,
/// `nr_cpus`. On error `page` is unchanged.
pub fn init_page(page: &mut [u8], nr_cpus: usize) -> Result<(), ControlError> {
    if nr_cpus == 0 || nr_cpus > MAX_CPUS {
        return Err(ControlError::BadCpuCount { nr_cpus });
    }
    let nr = u32::try_from(nr_cpus).map_err(|_| ControlError::BadCpuCount { nr_cpus })?;
    if page.len() < CONTROL_USED {
        return Err(ControlError::TooShort { len: page.len() });
    }
    page.fill(0);
    // The page is at least CONTROL_USED bytes: every field fits.
    put(page, MAGIC_OFFSET, &CONTROL_MAGIC.to_le_bytes());
    put(page, VERSION_OFFSET, &CONTROL_VERSION.to_le_bytes());
    put(page, NR_CPUS_OFFSET, &nr.to_le_bytes());
    Ok(())
}

/// One reading of a control page, taken from a private copy of its first
/// [`CONTROL_USED`] bytes (the other kernel may write it meanwhile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// `state`.
    pub state: Reported,
    /// `cpu_state` of the primary's `nr_cpus` CPUs; the rest are `Down`.
    pub cpus: [CpuReport; MAX_CPUS],
    /// `heartbeat` of the primary's `nr_cpus` CPUs; the rest are 0.
    pub heartbeats: [u64; MAX_CPUS],
    nr_cpus: usize,
    message: [u8; MESSAGE_SIZE],
    message_len: usize,
}

impl Snapshot {
    /// Reads `copy` for a kernel the primary gave `nr_cpus` CPUs (capped at
    /// [`MAX_CPUS`]). A copy too short for a field reads as zeros there.
    pub fn parse(copy: &[u8], nr_cpus: usize) -> Self {
        let nr_cpus = nr_cpus.min(MAX_CPUS);
        let mut cpus = [CpuReport::Down; MAX_CPUS];
        let mut heartbeats = [0u64; MAX_CPUS];
        for (i, (cpu, beat)) in cpus
            .iter_mut()
            .zip(heartbeats.iter_mut())
            .enumerate()
            .take(nr_cpus)
        {
            let raw = copy
                .get(CPU_STATE_OFFSET.saturating_add(i))
                .copied()
                .unwrap_or(0);
            *cpu = CpuReport::from_raw(raw);
            *beat =
                read_u64(copy, HEARTBEAT_OFFSET.saturating_add(i.saturating_mul(8))).unwrap_or(0);
        }
        let mut message = [0u8; MESSAGE_SIZE];
        let raw = copy
            .get(MESSAGE_OFFSET..)
            .map_or(&[][..], |m| m.get(..MESSAGE_SIZE).unwrap_or(m));
        let raw = raw.split(|&b| b == 0).next().unwrap_or(&[]);
        // panic() ends its message with a newline, which does not belong
        // in a one-line report.
        let raw = raw.trim_ascii_end();
        for (dest, &byte) in message.iter_mut().zip(raw) {
            *dest = if byte == b' ' || byte.is_ascii_graphic() {
                byte
            } else {
                b'?'
            };
        }
        let message_len = raw.len().min(MESSAGE_SIZE);
        Snapshot {
            state: Reported::from_raw(read_u32(copy, STATE_OFFSET).unwrap_or(0)),
            cpus,
            heartbeats,
            nr_cpus,
            message,
            message_len,
        }
    }

    /// The panic message, printable ASCII only; empty if there is none.
    pub fn message(&self) -> &str {
        self.message
            .get(..self.message_len)
            .and_then(|m| core::str::from_utf8(m).ok())
            .unwrap_or("")
    }

    /// How many CPUs this snapshot covers.
    pub fn nr_cpus(&self) -> usize {
        self.nr_cpus
    }

    /// Whether every CPU is parked (or never started).
    pub fn all_parked(&self) -> bool {
        self.cpus
            .iter()
            .take(self.nr_cpus)
            .all(|c| matches!(c, CpuReport::Parked | CpuReport::Down))
    }
}

/// Why the primary declares a secondary crashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashCause {
    /// It reported a panic.
    Panicked,
    /// It did not report `running` within the boot timeout.
    BootTimeout { reported: Reported },
    /// CPU `cpu` (index in its CPU list) stopped its heartbeat.
    Hung { cpu: usize, silent_ms: u64 },
    /// Its `state` holds a value no kernel writes.
    CorruptState { raw: u32 },
    /// CPU `cpu`'s `cpu_state` holds a value no CPU writes.
    CorruptCpuState { cpu: usize, raw: u8 },
}

impl fmt::Display for CrashCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrashCause::Panicked => write!(f, "it panicked"),
            CrashCause::BootTimeout { reported } => {
                write!(
                    f,
                    "it did not finish booting in time (last state: {reported:?})"
                )
            }
            CrashCause::Hung { cpu, silent_ms } => {
                write!(f, "its CPU #{cpu} sent no heartbeat for {silent_ms} ms")
            }
            CrashCause::CorruptState { raw } => {
                write!(f, "its control page holds the unknown state {raw:#x}")
            }
            CrashCause::CorruptCpuState { cpu, raw } => {
                write!(f, "its CPU #{cpu} reports the unknown state {raw:#x}")
            }
        }
    }
}

/// What the primary should make of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Still starting: wait.
    Booting,
    /// Running normally.
    Running,
    /// Shutting down on request: wait (the caller times this out).
    Stopping,
    /// Stopped cleanly: take its CPUs and memory back.
    Stopped,
    /// Crashed or hung: take its CPUs and memory back.
    Crashed(CrashCause),
}

/// Timeouts [`Watch`] judges by, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From the start to `running`.
    pub boot_ms: u64,
    /// Longest an online CPU may go without a heartbeat.
    pub heartbeat_ms: u64,
}

/// The primary's memory of one secondary's heartbeats.
///
/// A CPU's silence is counted from its last beat, or from when the primary
/// first saw it online, whichever is later: a kernel that took longer than
/// the heartbeat timeout to boot is not hung because its CPUs have not
/// beaten yet.
#[derive(Debug, Clone)]
pub struct Watch {
    started_ms: u64,
    last_beat: [u64; MAX_CPUS],
    last_change_ms: [u64; MAX_CPUS],
    last_report: [CpuReport; MAX_CPUS],
    timeouts: Timeouts,
}

impl Watch {
    /// Starts watching a kernel started at `now_ms`.
    pub fn new(now_ms: u64, timeouts: Timeouts) -> Self {
        Watch {
            started_ms: now_ms,
            last_beat: [0; MAX_CPUS],
            last_change_ms: [now_ms; MAX_CPUS],
            last_report: [CpuReport::Down; MAX_CPUS],
            timeouts,
        }
    }

    /// Judges `snapshot`, taken at `now_ms` (monotonic, never earlier than
    /// the previous call's).
    pub fn assess(&mut self, now_ms: u64, snapshot: &Snapshot) -> Verdict {
        match snapshot.state {
            Reported::Stopped => return Verdict::Stopped,
            Reported::Crashed => return Verdict::Crashed(CrashCause::Panicked),
            Reported::Invalid(raw) => return Verdict::Crashed(CrashCause::CorruptState { raw }),
            Reported::Nothing | Reported::Early => {
                let waited = now_ms.saturating_sub(self.started_ms);
                if waited >= self.timeouts.boot_ms {
                    return Verdict::Crashed(CrashCause::BootTimeout {
                        reported: snapshot.state,
                    });
                }
                return Verdict::Booting;
            }
            Reported::Running | Reported::Stopping => {}
        }
        let cpus = snapshot
            .cpus
            .iter()
            .zip(&snapshot.heartbeats)
            .take(snapshot.nr_cpus);
        let memory = self
            .last_beat
            .iter_mut()
            .zip(self.last_change_ms.iter_mut())
            .zip(self.last_report.iter_mut());
        for (cpu, ((report, &beat), ((last_beat, last_change), last_report))) in
            cpus.zip(memory).enumerate()
        {
            if let CpuReport::Invalid(raw) = *report {
                return Verdict::Crashed(CrashCause::CorruptCpuState { cpu, raw });
            }
            let newly_online = *last_report != CpuReport::Online;
            *last_report = *report;
            if *report != CpuReport::Online || beat != *last_beat || newly_online {
                // A beat, a CPU that owes none, or one just seen online:
                // start counting afresh.
                *last_beat = beat;
                *last_change = now_ms;
                continue;
            }
            let silent_ms = now_ms.saturating_sub(*last_change);
            if silent_ms >= self.timeouts.heartbeat_ms {
                return Verdict::Crashed(CrashCause::Hung { cpu, silent_ms });
            }
        }
        if snapshot.state == Reported::Stopping {
            Verdict::Stopping
        } else {
            Verdict::Running
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;
    use std::vec;
    use std::vec::Vec;

    const TIMEOUTS: Timeouts = Timeouts {
        boot_ms: 60_000,
        heartbeat_ms: 5_000,
    };

    fn page(state: u32, cpus: &[(u8, u64)]) -> Vec<u8> {
        let mut p = vec![0u8; 4096];
        init_page(&mut p, 2).unwrap();
        p[STATE_OFFSET..][..4].copy_from_slice(&state.to_le_bytes());
        for (i, &(s, beat)) in cpus.iter().enumerate() {
            p[CPU_STATE_OFFSET + i] = s;
            p[HEARTBEAT_OFFSET + 8 * i..][..8].copy_from_slice(&beat.to_le_bytes());
        }
        p
    }

    #[test]
    fn layout_matches_the_c_struct() {
        assert_eq!(&CONTROL_MAGIC.to_le_bytes(), b"PCTL");
        assert_eq!(CPU_STATE_OFFSET, 0x20);
        assert_eq!(HEARTBEAT_OFFSET, CPU_STATE_OFFSET + MAX_CPUS);
        assert_eq!(MESSAGE_OFFSET, HEARTBEAT_OFFSET + 8 * MAX_CPUS);
        assert_eq!(CONTROL_USED, 0x240);
    }

    #[test]
    fn init_writes_the_loader_fields() {
        let mut p = vec![0xffu8; 4096];
        init_page(&mut p, 3).unwrap();
        assert_eq!(&p[0..4], b"PCTL");
        assert_eq!(read_u32(&p, VERSION_OFFSET), Some(1));
        assert_eq!(read_u32(&p, NR_CPUS_OFFSET), Some(3));
        assert!(p[NR_CPUS_OFFSET + 4..].iter().all(|&b| b == 0));
        let s = Snapshot::parse(&p, 3);
        assert_eq!(s.state, Reported::Nothing);
        assert!(s.all_parked());
    }

    #[test]
    fn init_refuses() {
        let mut p = vec![0xffu8; 4096];
        assert_eq!(
            init_page(&mut p, 0),
            Err(ControlError::BadCpuCount { nr_cpus: 0 })
        );
        assert_eq!(
            init_page(&mut p, 33),
            Err(ControlError::BadCpuCount { nr_cpus: 33 })
        );
        let mut short = vec![0xffu8; CONTROL_USED - 1];
        assert_eq!(
            init_page(&mut short, 1),
            Err(ControlError::TooShort {
                len: CONTROL_USED - 1
            })
        );
        assert!(p.iter().all(|&b| b == 0xff));
        assert!(short.iter().all(|&b| b == 0xff));
    }

    #[test]
    fn snapshot_reads_only_our_cpus() {
        let mut p = page(2, &[(1, 7), (1, 9), (1, 11)]);
        let s = Snapshot::parse(&p, 2);
        assert_eq!(s.state, Reported::Running);
        assert_eq!(&s.heartbeats[..3], &[7, 9, 0]);
        assert_eq!(
            &s.cpus[..3],
            &[CpuReport::Online, CpuReport::Online, CpuReport::Down]
        );
        p[CPU_STATE_OFFSET] = 0x77;
        assert_eq!(Snapshot::parse(&p, 2).cpus[0], CpuReport::Invalid(0x77));
        // nr_cpus beyond the page's room is capped; a short copy reads 0.
        let s = Snapshot::parse(&p[..0x48], 100);
        assert_eq!(s.nr_cpus(), MAX_CPUS);
        assert_eq!(s.heartbeats[0], 7);
        assert_eq!(s.heartbeats[1], 0);
        assert_eq!(Snapshot::parse(&[], 2).state, Reported::Nothing);
    }

    #[test]
    fn message_is_sanitised() {
        let mut p = page(5, &[]);
        let text = b"Kernel panic - not syncing: sysrq triggered crash\n";
        p[MESSAGE_OFFSET..][..text.len()].copy_from_slice(text);
        let s = Snapshot::parse(&p, 2);
        assert_eq!(s.state, Reported::Crashed);
        assert_eq!(
            s.message(),
            "Kernel panic - not syncing: sysrq triggered crash"
        );
        // Control bytes and high bytes are replaced; no NUL: 256 bytes.
        p[MESSAGE_OFFSET..][..MESSAGE_SIZE].fill(b'x');
        p[MESSAGE_OFFSET + 1] = 0x1b;
        p[MESSAGE_OFFSET + 2] = 0xc3;
        let s = Snapshot::parse(&p, 2);
        assert_eq!(s.message().len(), MESSAGE_SIZE);
        assert!(s.message().starts_with("x??x"));
        // Cut off by the end of the copy.
        assert_eq!(
            Snapshot::parse(&p[..MESSAGE_OFFSET + 3], 2).message(),
            "x??"
        );
    }

    #[test]
    fn boot_timeout() {
        let mut w = Watch::new(1000, TIMEOUTS);
        let early = Snapshot::parse(&page(1, &[]), 2);
        assert_eq!(w.assess(1000, &early), Verdict::Booting);
        assert_eq!(w.assess(60_999, &early), Verdict::Booting);
        assert_eq!(
            w.assess(61_000, &early),
            Verdict::Crashed(CrashCause::BootTimeout {
                reported: Reported::Early
            })
        );
    }

    #[test]
    fn end_states_and_corruption() {
        let mut w = Watch::new(0, TIMEOUTS);
        assert_eq!(
            w.assess(1, &Snapshot::parse(&page(4, &[]), 2)),
            Verdict::Stopped
        );
        assert_eq!(
            w.assess(1, &Snapshot::parse(&page(5, &[]), 2)),
            Verdict::Crashed(CrashCause::Panicked)
        );
        assert_eq!(
            w.assess(1, &Snapshot::parse(&page(0xdead, &[]), 2)),
            Verdict::Crashed(CrashCause::CorruptState { raw: 0xdead })
        );
    }

    #[test]
    fn heartbeats() {
        let mut w = Watch::new(0, TIMEOUTS);
        let at = |beats: (u64, u64)| Snapshot::parse(&page(2, &[(1, beats.0), (1, beats.1)]), 2);
        assert_eq!(w.assess(100, &at((1, 1))), Verdict::Running);
        assert_eq!(w.assess(5_099, &at((50, 1))), Verdict::Running);
        // CPU 1 last changed at 100.
        assert_eq!(
            w.assess(5_100, &at((51, 1))),
            Verdict::Crashed(CrashCause::Hung {
                cpu: 1,
                silent_ms: 5_000
            })
        );
        // A CPU offline or parked inside the secondary owes no heartbeat,
        // and its clock restarts when it comes back.
        let mut w = Watch::new(0, TIMEOUTS);
        let offline = Snapshot::parse(&page(2, &[(1, 1), (2, 1)]), 2);
        assert_eq!(w.assess(0, &offline), Verdict::Running);
        let offline = Snapshot::parse(&page(2, &[(1, 2), (2, 1)]), 2);
        assert_eq!(w.assess(10_000, &offline), Verdict::Running);
        let back = Snapshot::parse(&page(2, &[(1, 3), (1, 1)]), 2);
        assert_eq!(w.assess(14_000, &back), Verdict::Running);
        let stopping = Snapshot::parse(&page(3, &[(1, 4), (1, 2)]), 2);
        assert_eq!(w.assess(15_000, &stopping), Verdict::Stopping);
    }

    #[test]
    fn a_cpu_in_an_unknown_state_owes_heartbeats() {
        // Regression: a CPU byte no CPU writes was treated like an offline
        // CPU, so a secondary could stop beating and never be caught.
        let mut w = Watch::new(0, TIMEOUTS);
        let ok = Snapshot::parse(&page(2, &[(1, 1), (1, 1)]), 2);
        assert_eq!(w.assess(0, &ok), Verdict::Running);
        let bad = Snapshot::parse(&page(2, &[(1, 2), (0x77, 1)]), 2);
        assert_eq!(
            w.assess(100, &bad),
            Verdict::Crashed(CrashCause::CorruptCpuState { cpu: 1, raw: 0x77 })
        );
        // Also while stopping, and however long it has been quiet.
        let mut w = Watch::new(0, TIMEOUTS);
        let bad = Snapshot::parse(&page(3, &[(0xff, 1), (1, 1)]), 2);
        for now in [0, 4_000, 60_000] {
            assert_eq!(
                w.assess(now, &bad),
                Verdict::Crashed(CrashCause::CorruptCpuState { cpu: 0, raw: 0xff })
            );
        }
    }

    #[test]
    fn a_slow_boot_is_not_a_hang() {
        // Running 14 s after the start, CPUs online but not beaten yet.
        let mut w = Watch::new(0, TIMEOUTS);
        assert_eq!(
            w.assess(1_000, &Snapshot::parse(&page(1, &[]), 2)),
            Verdict::Booting
        );
        let fresh = Snapshot::parse(&page(2, &[(1, 0), (1, 0)]), 2);
        assert_eq!(w.assess(14_000, &fresh), Verdict::Running);
        assert_eq!(w.assess(18_999, &fresh), Verdict::Running);
        assert_eq!(
            w.assess(19_000, &fresh),
            Verdict::Crashed(CrashCause::Hung {
                cpu: 0,
                silent_ms: 5_000
            })
        );
    }

    #[test]
    fn texts() {
        let cases: Vec<(std::string::String, &str)> = vec![
            (CrashCause::Panicked.to_string(), "it panicked"),
            (
                CrashCause::Hung {
                    cpu: 1,
                    silent_ms: 5000,
                }
                .to_string(),
                "its CPU #1 sent no heartbeat for 5000 ms",
            ),
            (
                CrashCause::BootTimeout {
                    reported: Reported::Nothing,
                }
                .to_string(),
                "it did not finish booting in time (last state: Nothing)",
            ),
            (
                CrashCause::CorruptCpuState { cpu: 1, raw: 0x77 }.to_string(),
                "its CPU #1 reports the unknown state 0x77",
            ),
            (
                ControlError::TooShort { len: 4 }.to_string(),
                "control page of 4 bytes, needs 576",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(text, expected);
        }
    }
}
