//! `migtest`: a program to migrate. Each mode keeps some state that a
//! broken migration would lose, checks it, and says so on its console.
//!
//! - `memory MIB ROUNDS`: fills MIB MiB with a pattern, then checksums it
//!   once a second, ROUNDS times, comparing with the first checksum.
//! - `vector SECONDS`: keeps 15 AVX2 registers (or SSE ones without AVX2)
//!   and a non-default MXCSR live in a loop of about SECONDS seconds, then
//!   checks them against the same arithmetic done in memory.
//!
//! - `signals SECONDS`: a SIGUSR1 handler (counts), SIGHUP ignored,
//!   SIGUSR2 blocked, and a SIGTERM handler that runs on an alternate
//!   stack and ends the program; says once a second what it saw. Without
//!   the signal state migrated, SIGUSR1 or SIGHUP would kill it.
//! - `threads SECONDS`: two threads (a case migration refuses).
//! - `shared SECONDS`: holds 1 MiB of `MAP_SHARED` memory (refused too).
//!
//! All exit with `--exit CODE` when all is well, 1 when something was
//! lost. With `--identity` (run as root) the program first becomes an
//! ordinary user with a few capabilities, securebits, no_new_privs and a
//! umask of its own, and fails if any of that changed by the end
//! (`identity.rs`).

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

mod identity;

#[derive(Parser)]
#[command(about = "A program to migrate between Popcorn kernels")]
struct Cli {
    /// Exit status when every check passes.
    #[arg(long, default_value_t = 0)]
    exit: u8,
    /// Become uid 1000 with groups, capabilities and flags of its own
    /// first; check at the end that they are the same.
    #[arg(long)]
    identity: bool,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Fill memory with a pattern and keep checksumming it.
    Memory { mib: usize, rounds: u32 },
    /// Keep vector registers live in a loop and check them afterwards.
    Vector { seconds: u64 },
    /// Keep signal handlers, an ignored, a blocked signal and an alternate
    /// stack for SECONDS seconds or until SIGTERM.
    Signals { seconds: u64 },
    /// Run a second thread for SECONDS seconds (migration refuses it).
    Threads { seconds: u64 },
    /// Hold shared memory for SECONDS seconds (migration refuses it).
    Shared { seconds: u64 },
}

fn pattern(i: usize) -> u64 {
    (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5043_4f52_4e21
}

fn checksum(words: &[u64]) -> u64 {
    words.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, w| (h ^ w).wrapping_mul(0x100_0000_01b3))
}

fn memory(mib: usize, rounds: u32) -> bool {
    let mut words = vec![0u64; mib * (1 << 20) / 8];
    for (i, w) in words.iter_mut().enumerate() {
        *w = pattern(i);
    }
    let first = checksum(&words);
    println!("migtest {}: {mib} MiB filled, checksum {first:016x}", std::process::id());
    for round in 1..=rounds {
        let start = Instant::now();
        let now = checksum(&words);
        if now != first {
            println!("migtest: round {round}: checksum {now:016x}, expected {first:016x}: MEMORY LOST");
            return false;
        }
        println!("migtest: round {round}/{rounds}: checksum {now:016x} ok");
        if let Some(rest) = Duration::from_secs(1).checked_sub(start.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    true
}

/// Registers ymm0-14 accumulate ymm15 `iterations` times.
#[target_feature(enable = "avx2")]
unsafe fn spin_avx2(init: &[[u64; 4]; 16], out: &mut [[u64; 4]; 15], iterations: u64, mxcsr: u32) -> u32 {
    let mut mxcsr_in = mxcsr;
    let mut mxcsr_out = 0u32;
    // SAFETY: reads `init` (16 * 32 bytes) and writes `out` (15 * 32
    // bytes), both valid; every vector register used is declared clobbered.
    unsafe {
        core::arch::asm!(
            "ldmxcsr [{mi}]",
            "vmovdqu ymm0, [{i}]", "vmovdqu ymm1, [{i} + 32]", "vmovdqu ymm2, [{i} + 64]",
            "vmovdqu ymm3, [{i} + 96]", "vmovdqu ymm4, [{i} + 128]", "vmovdqu ymm5, [{i} + 160]",
            "vmovdqu ymm6, [{i} + 192]", "vmovdqu ymm7, [{i} + 224]", "vmovdqu ymm8, [{i} + 256]",
            "vmovdqu ymm9, [{i} + 288]", "vmovdqu ymm10, [{i} + 320]", "vmovdqu ymm11, [{i} + 352]",
            "vmovdqu ymm12, [{i} + 384]", "vmovdqu ymm13, [{i} + 416]", "vmovdqu ymm14, [{i} + 448]",
            "vmovdqu ymm15, [{i} + 480]",
            "2:",
            "vpaddq ymm0, ymm0, ymm15", "vpaddq ymm1, ymm1, ymm15", "vpaddq ymm2, ymm2, ymm15",
            "vpaddq ymm3, ymm3, ymm15", "vpaddq ymm4, ymm4, ymm15", "vpaddq ymm5, ymm5, ymm15",
            "vpaddq ymm6, ymm6, ymm15", "vpaddq ymm7, ymm7, ymm15", "vpaddq ymm8, ymm8, ymm15",
            "vpaddq ymm9, ymm9, ymm15", "vpaddq ymm10, ymm10, ymm15", "vpaddq ymm11, ymm11, ymm15",
            "vpaddq ymm12, ymm12, ymm15", "vpaddq ymm13, ymm13, ymm15", "vpaddq ymm14, ymm14, ymm15",
            "dec {n}",
            "jnz 2b",
            "vmovdqu [{o}], ymm0", "vmovdqu [{o} + 32], ymm1", "vmovdqu [{o} + 64], ymm2",
            "vmovdqu [{o} + 96], ymm3", "vmovdqu [{o} + 128], ymm4", "vmovdqu [{o} + 160], ymm5",
            "vmovdqu [{o} + 192], ymm6", "vmovdqu [{o} + 224], ymm7", "vmovdqu [{o} + 256], ymm8",
            "vmovdqu [{o} + 288], ymm9", "vmovdqu [{o} + 320], ymm10", "vmovdqu [{o} + 352], ymm11",
            "vmovdqu [{o} + 384], ymm12", "vmovdqu [{o} + 416], ymm13", "vmovdqu [{o} + 448], ymm14",
            "stmxcsr [{mo}]",
            "vzeroupper",
            i = in(reg) init.as_ptr(),
            o = in(reg) out.as_mut_ptr(),
            n = inout(reg) iterations => _,
            mi = in(reg) &mut mxcsr_in,
            mo = in(reg) &mut mxcsr_out,
            out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _, out("ymm4") _,
            out("ymm5") _, out("ymm6") _, out("ymm7") _, out("ymm8") _, out("ymm9") _,
            out("ymm10") _, out("ymm11") _, out("ymm12") _, out("ymm13") _, out("ymm14") _,
            out("ymm15") _,
            options(nostack),
        );
    }
    mxcsr_out
}

/// The same with SSE2 (xmm, 2 lanes) for CPUs without AVX2.
unsafe fn spin_sse2(init: &[[u64; 4]; 16], out: &mut [[u64; 4]; 15], iterations: u64, mxcsr: u32) -> u32 {
    let mut mxcsr_in = mxcsr;
    let mut mxcsr_out = 0u32;
    // SAFETY: as in `spin_avx2`, reading and writing the low 16 bytes of
    // each 32-byte row.
    unsafe {
        core::arch::asm!(
            "ldmxcsr [{mi}]",
            "movdqu xmm0, [{i}]", "movdqu xmm1, [{i} + 32]", "movdqu xmm2, [{i} + 64]",
            "movdqu xmm3, [{i} + 96]", "movdqu xmm4, [{i} + 128]", "movdqu xmm5, [{i} + 160]",
            "movdqu xmm6, [{i} + 192]", "movdqu xmm7, [{i} + 224]", "movdqu xmm8, [{i} + 256]",
            "movdqu xmm9, [{i} + 288]", "movdqu xmm10, [{i} + 320]", "movdqu xmm11, [{i} + 352]",
            "movdqu xmm12, [{i} + 384]", "movdqu xmm13, [{i} + 416]", "movdqu xmm14, [{i} + 448]",
            "movdqu xmm15, [{i} + 480]",
            "2:",
            "paddq xmm0, xmm15", "paddq xmm1, xmm15", "paddq xmm2, xmm15", "paddq xmm3, xmm15",
            "paddq xmm4, xmm15", "paddq xmm5, xmm15", "paddq xmm6, xmm15", "paddq xmm7, xmm15",
            "paddq xmm8, xmm15", "paddq xmm9, xmm15", "paddq xmm10, xmm15", "paddq xmm11, xmm15",
            "paddq xmm12, xmm15", "paddq xmm13, xmm15", "paddq xmm14, xmm15",
            "dec {n}",
            "jnz 2b",
            "movdqu [{o}], xmm0", "movdqu [{o} + 32], xmm1", "movdqu [{o} + 64], xmm2",
            "movdqu [{o} + 96], xmm3", "movdqu [{o} + 128], xmm4", "movdqu [{o} + 160], xmm5",
            "movdqu [{o} + 192], xmm6", "movdqu [{o} + 224], xmm7", "movdqu [{o} + 256], xmm8",
            "movdqu [{o} + 288], xmm9", "movdqu [{o} + 320], xmm10", "movdqu [{o} + 352], xmm11",
            "movdqu [{o} + 384], xmm12", "movdqu [{o} + 416], xmm13", "movdqu [{o} + 448], xmm14",
            "stmxcsr [{mo}]",
            i = in(reg) init.as_ptr(),
            o = in(reg) out.as_mut_ptr(),
            n = inout(reg) iterations => _,
            mi = in(reg) &mut mxcsr_in,
            mo = in(reg) &mut mxcsr_out,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _, out("xmm4") _,
            out("xmm5") _, out("xmm6") _, out("xmm7") _, out("xmm8") _, out("xmm9") _,
            out("xmm10") _, out("xmm11") _, out("xmm12") _, out("xmm13") _, out("xmm14") _,
            out("xmm15") _,
            options(nostack),
        );
    }
    mxcsr_out
}

fn vector(seconds: u64) -> bool {
    let avx2 = std::arch::is_x86_feature_detected!("avx2");
    let lanes = if avx2 { 4 } else { 2 };
    let mut init = [[0u64; 4]; 16];
    for (r, row) in init.iter_mut().enumerate() {
        for (l, v) in row.iter_mut().enumerate() {
            *v = pattern(r * 4 + l);
        }
    }
    // Round toward zero, all exceptions masked: not the default 0x1f80.
    let mxcsr = 0x7f80;
    let run = |iterations: u64, out: &mut [[u64; 4]; 15]| {
        // SAFETY: the CPU has AVX2 when `avx2` says so; SSE2 always.
        unsafe {
            if avx2 {
                spin_avx2(&init, out, iterations, mxcsr)
            } else {
                spin_sse2(&init, out, iterations, mxcsr)
            }
        }
    };
    // How many iterations take `seconds` here.
    let mut out = [[0u64; 4]; 15];
    let probe = 1 << 20;
    let start = Instant::now();
    run(probe, &mut out);
    let per_second = probe as f64 / start.elapsed().as_secs_f64().max(1e-6);
    let iterations = ((per_second * seconds as f64) as u64).max(1);
    println!(
        "migtest {}: {} registers live for about {seconds} s ({iterations} iterations)",
        std::process::id(),
        if avx2 { "AVX2" } else { "SSE2" }
    );
    let got_mxcsr = run(iterations, &mut out);
    let mut ok = got_mxcsr == mxcsr;
    if !ok {
        println!("migtest: MXCSR {got_mxcsr:#x}, expected {mxcsr:#x}: FPU STATE LOST");
    }
    for (r, row) in out.iter().enumerate() {
        for l in 0..lanes {
            let want = init[r][l].wrapping_add(iterations.wrapping_mul(init[15][l]));
            if row[l] != want {
                println!("migtest: register {r} lane {l}: {:#x}, expected {want:#x}: VECTOR STATE LOST", row[l]);
                ok = false;
            }
        }
    }
    if ok {
        println!("migtest: {} vector registers and MXCSR intact", 15);
    }
    ok
}

static USR1_SEEN: AtomicU32 = AtomicU32::new(0);
/// 0: no SIGTERM yet; 1: handled on the alternate stack; 2: elsewhere.
static TERM_SEEN: AtomicU32 = AtomicU32::new(0);
const ALTSTACK_SIZE: usize = 64 * 1024;
/// Where the alternate stack begins (set before any handler can run).
static ALTSTACK_BASE: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_usr1(_: libc::c_int) {
    USR1_SEEN.fetch_add(1, Ordering::SeqCst);
}

extern "C" fn on_term(_: libc::c_int) {
    let here = 0u8;
    let at = core::ptr::addr_of!(here) as usize;
    let base = ALTSTACK_BASE.load(Ordering::SeqCst);
    let on_altstack = (base..base + ALTSTACK_SIZE).contains(&at);
    TERM_SEEN.store(if on_altstack { 1 } else { 2 }, Ordering::SeqCst);
}

fn set_handler(sig: libc::c_int, handler: libc::sighandler_t, flags: libc::c_int) -> bool {
    // SAFETY: a zeroed sigaction is valid; the handlers only touch atomics
    // (async-signal-safe).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        action.sa_flags = flags;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(sig, &action, std::ptr::null_mut()) == 0
    }
}

fn signals(seconds: u64) -> bool {
    let stack: &'static mut [u8] = Box::leak(vec![0u8; ALTSTACK_SIZE].into_boxed_slice());
    ALTSTACK_BASE.store(stack.as_ptr() as usize, Ordering::SeqCst);
    let altstack = libc::stack_t { ss_sp: stack.as_mut_ptr().cast(), ss_flags: 0, ss_size: ALTSTACK_SIZE };
    // SAFETY: a valid stack description of memory that lives forever; a
    // valid signal set for the mask.
    let set_up = unsafe {
        let mut blocked: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut blocked);
        libc::sigaddset(&mut blocked, libc::SIGUSR2);
        libc::sigaltstack(&altstack, std::ptr::null_mut()) == 0
            && libc::sigprocmask(libc::SIG_BLOCK, &blocked, std::ptr::null_mut()) == 0
    };
    let usr1 = on_usr1 as extern "C" fn(libc::c_int) as libc::sighandler_t;
    let term = on_term as extern "C" fn(libc::c_int) as libc::sighandler_t;
    if !set_up
        || !set_handler(libc::SIGUSR1, usr1, libc::SA_RESTART)
        || !set_handler(libc::SIGTERM, term, libc::SA_RESTART | libc::SA_ONSTACK)
        || !set_handler(libc::SIGHUP, libc::SIG_IGN, 0)
    {
        println!("migtest: cannot set up signals: {}", std::io::Error::last_os_error());
        return false;
    }
    println!(
        "migtest {}: SIGUSR1 counted, SIGHUP ignored, SIGUSR2 blocked, SIGTERM on an alternate stack, for {seconds} s",
        std::process::id()
    );
    let mut usr2_reported = false;
    for second in 1..=seconds {
        std::thread::sleep(Duration::from_secs(1));
        // SAFETY: a valid set to fill.
        let usr2_pending = unsafe {
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut pending) == 0 && libc::sigismember(&pending, libc::SIGUSR2) == 1
        };
        if usr2_pending && !usr2_reported {
            println!("migtest: SIGUSR2 pending, blocked");
            usr2_reported = true;
        }
        println!("migtest: {second} s: SIGUSR1 handled {} times", USR1_SEEN.load(Ordering::SeqCst));
        match TERM_SEEN.load(Ordering::SeqCst) {
            0 => {}
            1 => {
                println!("migtest: SIGTERM handled on the alternate stack");
                return true;
            }
            _ => {
                println!("migtest: SIGTERM handled, but not on the alternate stack: SIGNAL STATE LOST");
                return false;
            }
        }
    }
    true
}

fn shared(seconds: u64) -> bool {
    const LEN: usize = 1 << 20;
    // SAFETY: a fresh anonymous mapping, written only within its length.
    let ok = unsafe {
        let at = libc::mmap(
            std::ptr::null_mut(),
            LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        at != libc::MAP_FAILED && {
            std::ptr::write_bytes(at.cast::<u8>(), 0x5a, LEN);
            true
        }
    };
    if !ok {
        println!("migtest: cannot map shared memory: {}", std::io::Error::last_os_error());
        return false;
    }
    println!("migtest {}: 1 MiB of shared memory for {seconds} s", std::process::id());
    std::thread::sleep(Duration::from_secs(seconds));
    true
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let identity = if cli.identity {
        if let Err(e) = identity::become_user() {
            println!("migtest: cannot become an ordinary user: {e}");
            return ExitCode::FAILURE;
        }
        let id = identity::Identity::now();
        println!("migtest {}: identity {id}", std::process::id());
        Some(id)
    } else {
        None
    };
    let mut ok = match cli.mode {
        Mode::Memory { mib, rounds } => memory(mib, rounds),
        Mode::Vector { seconds } => vector(seconds),
        Mode::Signals { seconds } => signals(seconds),
        Mode::Threads { seconds } => {
            let worker = std::thread::spawn(move || std::thread::sleep(Duration::from_secs(seconds)));
            println!("migtest {}: two threads for {seconds} s", std::process::id());
            worker.join().is_ok()
        }
        Mode::Shared { seconds } => shared(seconds),
    };
    if let Some(before) = identity {
        let now = identity::Identity::now();
        if now == before {
            println!("migtest: identity intact");
        } else {
            println!("migtest: IDENTITY CHANGED: was {before}, is {now}");
            ok = false;
        }
    }
    if ok {
        println!("migtest: all checks passed, exiting with {}", cli.exit);
        ExitCode::from(cli.exit)
    } else {
        ExitCode::FAILURE
    }
}
