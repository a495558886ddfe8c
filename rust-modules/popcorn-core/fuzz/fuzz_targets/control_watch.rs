//! A secondary's control page (`control.rs`) as the secondary writes it,
//! snapshot after snapshot, and the watcher's verdict on each; plus the
//! trampoline's `status` word the secondary's first CPU writes.
//!
//! Properties: a snapshot holds exactly the state, CPU states and
//! heartbeats at their offsets for the primary's `nr_cpus` CPUs and
//! nothing for the others, and a message of printable ASCII only, at most
//! 256 bytes, cut at the first NUL; the verdict is the one the documented
//! rules give (a model below, written from the docs: states first, then
//! the first CPU with a corrupt state or whose heartbeat stood still for
//! the timeout, counted from its last beat or from when it was first seen
//! online, whichever is later).

#![no_main]

use libfuzzer_sys::fuzz_target;
use popcorn_core::control::{
    init_page, CpuReport, CrashCause, Reported, Snapshot, Timeouts, Verdict, Watch, CONTROL_USED, MAX_CPUS,
};
use popcorn_core::trampoline::{self, Progress};
use popcorn_core_fuzz::{Bytes, le32, le64};

const CPU_STATE: usize = 0x20;
const HEARTBEAT: usize = 0x40;
const MESSAGE: usize = 0x140;

fn reported(raw: u32) -> Reported {
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

fn cpu_report(raw: u8) -> CpuReport {
    match raw {
        0 => CpuReport::Down,
        1 => CpuReport::Online,
        2 => CpuReport::Offline,
        3 => CpuReport::Parked,
        other => CpuReport::Invalid(other),
    }
}

/// The message as the docs say the primary shows it.
fn message(page: &[u8]) -> String {
    let field = page.get(MESSAGE..).map_or(&[][..], |m| &m[..m.len().min(256)]);
    let text = field.split(|&b| b == 0).next().unwrap();
    let text = text.trim_ascii_end();
    text.iter().map(|&b| if b == b' ' || b.is_ascii_graphic() { b as char } else { '?' }).collect()
}

/// The watcher as documented, for one CPU.
#[derive(Clone, Copy)]
struct CpuModel {
    online: bool,
    beat: u64,
    since: u64,
}

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes::new(data);
    let nr_cpus = usize::from(input.u8() % 40);
    let used = nr_cpus.min(MAX_CPUS);
    let timeouts = Timeouts {
        boot_ms: u64::from(input.u16()) * if input.bool() { 1 } else { 1000 },
        heartbeat_ms: u64::from(input.u16()),
    };
    let start = if input.bool() { input.u64() } else { u64::from(input.u16()) };

    // The page the loader set up, then whatever the secondary writes.
    let mut page = vec![0u8; 0x1000];
    if nr_cpus >= 1 && nr_cpus <= MAX_CPUS {
        init_page(&mut page, nr_cpus).unwrap();
        assert_eq!(le32(&page, 0x10), nr_cpus as u32);
    } else {
        assert!(init_page(&mut page, nr_cpus).is_err());
    }
    let mut watch = Watch::new(start, timeouts);
    let mut model = [CpuModel { online: false, beat: 0, since: start }; MAX_CPUS];
    let mut now = start;

    while !input.is_empty() {
        // The secondary writes a few fields.
        for _ in 0..1 + input.u8() % 4 {
            match input.u8() % 5 {
                0 => {
                    let v = if input.bool() { u32::from(input.u8() % 7) } else { input.u32() };
                    page[8..12].copy_from_slice(&v.to_le_bytes());
                }
                1 => {
                    let cpu = usize::from(input.u8() % 32);
                    page[CPU_STATE + cpu] = if input.bool() { input.u8() % 5 } else { input.u8() };
                }
                2 => {
                    let cpu = usize::from(input.u8() % 32);
                    let at = HEARTBEAT + 8 * cpu;
                    let beat = if input.bool() { le64(&page, at).wrapping_add(1) } else { input.u64() };
                    page[at..at + 8].copy_from_slice(&beat.to_le_bytes());
                }
                3 => {
                    let at = MESSAGE + input.upto(255);
                    let n = input.upto(32).min(CONTROL_USED - at);
                    let bytes = input.take(n);
                    page[at..at + bytes.len()].copy_from_slice(bytes);
                }
                _ => {
                    let at = input.upto(0x1000 - 1);
                    page[at] = input.u8();
                }
            }
        }
        // Now and then a copy cut short.
        let len = if input.u8() == 0xff { input.upto(CONTROL_USED) } else { CONTROL_USED };
        let copy = &page[..len];
        let snap = Snapshot::parse(copy, nr_cpus);

        assert_eq!(snap.nr_cpus(), used);
        assert_eq!(snap.state, reported(le32(copy, 8)));
        for cpu in 0..MAX_CPUS {
            if cpu < used {
                assert_eq!(snap.cpus[cpu], cpu_report(copy.get(CPU_STATE + cpu).copied().unwrap_or(0)));
                assert_eq!(snap.heartbeats[cpu], le64(copy, HEARTBEAT + 8 * cpu));
            } else {
                assert_eq!((snap.cpus[cpu], snap.heartbeats[cpu]), (CpuReport::Down, 0), "a CPU it does not have");
            }
        }
        let msg = snap.message();
        assert!(msg.len() <= 256 && msg.bytes().all(|b| b == b' ' || b.is_ascii_graphic()));
        assert_eq!(msg, message(copy));
        assert_eq!(
            snap.all_parked(),
            snap.cpus[..used].iter().all(|c| matches!(c, CpuReport::Parked | CpuReport::Down))
        );

        // Time passes (never backwards).
        let Some(later) = now.checked_add(u64::from(input.u16()) * if input.bool() { 1 } else { 100 }) else {
            break;
        };
        now = later;
        let verdict = watch.assess(now, &snap);

        let expected = match snap.state {
            Reported::Stopped => Verdict::Stopped,
            Reported::Crashed => Verdict::Crashed(CrashCause::Panicked),
            Reported::Invalid(raw) => Verdict::Crashed(CrashCause::CorruptState { raw }),
            Reported::Nothing | Reported::Early => {
                if now - start >= timeouts.boot_ms {
                    Verdict::Crashed(CrashCause::BootTimeout { reported: snap.state })
                } else {
                    Verdict::Booting
                }
            }
            Reported::Running | Reported::Stopping => {
                let mut crash = None;
                for cpu in 0..used {
                    let (report, beat) = (snap.cpus[cpu], snap.heartbeats[cpu]);
                    let m = &mut model[cpu];
                    if let CpuReport::Invalid(raw) = report {
                        crash.get_or_insert(CrashCause::CorruptCpuState { cpu, raw });
                        continue;
                    }
                    let online = report == CpuReport::Online;
                    if online && m.online && beat == m.beat {
                        let silent_ms = now - m.since;
                        if silent_ms >= timeouts.heartbeat_ms {
                            crash.get_or_insert(CrashCause::Hung { cpu, silent_ms });
                        }
                    } else {
                        *m = CpuModel { online, beat, since: now };
                    }
                }
                match (crash, snap.state) {
                    (Some(cause), _) => Verdict::Crashed(cause),
                    (None, Reported::Stopping) => Verdict::Stopping,
                    (None, _) => Verdict::Running,
                }
            }
        };
        assert_eq!(verdict, expected, "at {now} ms ({} after the start)", now - start);
        if let Verdict::Crashed(cause) = verdict {
            assert!(!cause.to_string().is_empty());
            // The primary takes the kernel back: no more verdicts.
            break;
        }
    }

    // The trampoline's status word.
    let status = input.u32();
    let mut tpage = vec![0u8; input.upto(16)];
    if tpage.len() >= 12 {
        tpage[8..12].copy_from_slice(&status.to_le_bytes());
    }
    let progress = trampoline::status(&tpage);
    let raw = if tpage.len() >= 12 { status } else { 0 };
    let expected = match raw {
        0 => Progress::NotStarted,
        1 => Progress::RealMode,
        2 => Progress::ProtectedMode,
        3 => Progress::LongMode,
        other => Progress::Invalid(other),
    };
    assert_eq!(progress, expected);
    assert!(!progress.to_string().is_empty());
});
