// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/popcorn/msgtest/`: root-only tools that exercise the
//! message layer from the inside, for the test scenarios (see
//! `docs/message-layer.md`).
//!
//! ```text
//! msgtest/
//!     stress            write "ID COUNT [SEED]": send COUNT messages of
//!                       pseudo-random sizes and contents to kernel ID;
//!                       the write returns when all are in the ring, or
//!                       fails with the send's errno
//!     stress_mode       how stress sends when the ring is full: wait
//!                       (default), nowait (the write fails with EAGAIN),
//!                       besteffort (dropped, counted in peers/ID/dropped)
//!     stress_received   messages that arrived intact and in order
//!     stress_errors     messages that arrived lost, repeated, out of
//!                       order, or with the wrong size or bytes
//!     rx_delay_us       make the receiver slow: sleep this long per
//!                       stress message (ring-full test)
//!     corrupt           write an ID: scribble over our ring to it
//!     forge_entry       write "APIC_ID KERNEL_ID GENERATION [SLOT]": forge
//!                       our kernel table entry (or slot SLOT's) with
//!                       these values and ping the primary 5 times
//!                       (forging before each); EACCES for an entry this
//!                       kernel maps read-only (a secondary: all but its
//!                       own)
//!     table_access      "header:ro 0:rw 1:ro ...": whether this kernel's
//!                       page tables let it write the window's header page
//!                       and each kernel slot's table entry (rw, ro, or ?
//!                       if unmapped)
//!     net_garbage       write an ID: send kernel ID's popnet0 one of each
//!                       kind of malformed frame (NET_GARBAGE_FRAMES in
//!                       all), which it must drop and count in rx_errors
//!     bench_rtt         write "ID COUNT SIZE": COUNT requests of SIZE
//!                       bytes to kernel ID, one after the other
//!     bench_tput        write "ID COUNT SIZE": COUNT one-way messages of
//!                       SIZE bytes as fast as the ring takes them, then
//!                       one request (all were handled when it returns)
//!     bench_local_rtt   write "CPU COUNT": COUNT synchronous
//!                       smp_call_function_single() calls to CPU, the
//!                       in-kernel cross-CPU round trip (run the writer
//!                       on another CPU, e.g. with taskset)
//!     bench_memcpy      write "SIZE COUNT": COUNT copies of SIZE bytes
//!                       through two 4 MiB buffers
//!     bench_ns          the last benchmark's mean time per operation
//!     rx_pause          1: this kernel's receive thread stops draining its
//!                       rings (a kernel that does not keep up); 0 resumes
//!     flood             write "ID COUNT": send COUNT ping requests to
//!                       kernel ID without waiting for the replies (with
//!                       rx_pause, the replies fill the ring back to us)
//!     stale_pages       read: "STALE TAKEN": takes the free pages this
//!                       kernel can spare without waiting (uncleared),
//!                       counts those holding the marker, gives them back
//!                       (a new kernel must find nothing its partition's
//!                       previous kernel wrote there)
//!     begin             write "ID PAGES COUNT": COUNT crafted migration
//!                       `Begin` requests for PAGES pages each to kernel
//!                       ID, each accepted one aborted again after all were
//!                       sent; fails with the first refusal's errno
//! ```
//!
//! The benchmarks (`make bench`, tests/bench/run) report ratios of these
//! figures measured in the same guest.
//!
//! Every stress message carries its number in the stream and the stream's
//! seed; size and bytes follow from both, so the receiver checks each one
//! completely without any shared state beyond the ring.

use core::fmt::Write;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kernel::{alloc::KVec, c_str, new_spinlock, prelude::*, sync::{Arc, SpinLock}};

use crate::kthread::monotonic_ms;
use crate::le::read_u32;
use crate::msg::{From, MsgHandler, MsgLayer, SendMode, FIRST_USER_KIND};
use crate::sysfs::{AttributeOps, Dir, Page};
use crate::window::KERNEL_SLOTS;

/// The stress messages' kind.
const KIND_STRESS: u16 = FIRST_USER_KIND;
/// Throughput benchmark messages, dropped on arrival.
const KIND_BENCH: u16 = FIRST_USER_KIND + 1;
/// Largest COUNT a benchmark write takes.
const MAX_BENCH_COUNT: u32 = 10_000_000;
/// Size of each memcpy benchmark buffer.
const MEMCPY_BUFFER: usize = 4 << 20;
/// Stream number and seed.
const STRESS_HEADER: usize = 8;
/// How long one stress message may wait for room in the ring.
const STRESS_SEND_TIMEOUT_MS: u32 = 10_000;
/// Most messages one write may ask for.
const MAX_STRESS_COUNT: u32 = 10_000_000;
/// Most requests one `flood` write sends.
const MAX_FLOOD_COUNT: u32 = 100_000;

/// A small, fast generator (SplitMix64): the stream's sizes and bytes.
struct Mix(u64);

impl Mix {
    fn new(seed: u32, number: u32) -> Self {
        Mix((u64::from(seed) << 32 | u64::from(number)) ^ 0x9e37_79b9_7f4a_7c15)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Size of message `number` of stream `seed`: mostly up to 1 KiB, one in
/// 64 up to the largest the ring carries.
fn stress_len(seed: u32, number: u32, max: usize) -> usize {
    let r = Mix::new(seed, number).next() as usize;
    let room = max.saturating_sub(STRESS_HEADER).max(1);
    let body = if number % 64 == 63 { r % room } else { r % room.min(1017) };
    STRESS_HEADER + body
}

/// Fills `out` with the bytes of message `number` after its header.
fn stress_bytes(seed: u32, number: u32, out: &mut [u8]) {
    let mut mix = Mix::new(seed ^ 0xa5a5_a5a5, number);
    for chunk in out.chunks_mut(8) {
        let word = mix.next().to_le_bytes();
        chunk.copy_from_slice(word.get(..chunk.len()).unwrap_or(&[]));
    }
}

/// Where each sender's stream is.
struct StreamState {
    next: [Option<u32>; KERNEL_SLOTS],
    /// Scratch space to regenerate a message's bytes.
    expected: KVec<u8>,
}

/// Receives and checks stress messages.
#[pin_data]
struct StressReceiver {
    #[pin]
    streams: SpinLock<StreamState>,
    received: AtomicU64,
    errors: AtomicU64,
    delay_us: AtomicU32,
    max_payload: usize,
}

impl StressReceiver {
    fn check(&self, from: From, body: &[u8]) -> core::result::Result<(), &'static str> {
        let number = read_u32(body, 0).ok_or("shorter than its header")?;
        let seed = read_u32(body, 4).ok_or("shorter than its header")?;
        let mut streams = self.streams.lock();
        let streams = &mut *streams;
        let next = streams.next.get_mut(from.slot).ok_or("from an unknown slot")?;
        // Message 0 starts a new stream.
        let expected_number = if number == 0 { 0 } else { next.unwrap_or(0) };
        *next = Some(number.wrapping_add(1));
        if number != expected_number {
            return Err("out of order (lost, repeated or reordered)");
        }
        if body.len() != stress_len(seed, number, self.max_payload) {
            return Err("of the wrong size");
        }
        let data = body.get(STRESS_HEADER..).ok_or("shorter than its header")?;
        let expected = streams.expected.get_mut(..data.len()).ok_or("too large")?;
        stress_bytes(seed, number, expected);
        if expected != data {
            return Err("with the wrong bytes");
        }
        Ok(())
    }
}

impl MsgHandler for StressReceiver {
    fn on_message(&self, from: From, body: &[u8]) {
        match self.check(from, body) {
            Ok(()) => {
                self.received.fetch_add(1, Ordering::Relaxed);
            }
            Err(why) => {
                let errors = self.errors.fetch_add(1, Ordering::Relaxed);
                if errors < 5 {
                    pr_err!(
                        "msgtest: a stress message from kernel {} arrived {}\n",
                        from.id,
                        why
                    );
                }
            }
        }
        let delay = self.delay_us.load(Ordering::Relaxed);
        if delay > 0 {
            crate::kthread::sleep_us(delay, delay.saturating_add(delay / 4));
        }
    }
}

/// Sends one stress stream; the body of a write to `stress`.
/// How `stress` sends: 0 wait for room, 1 fail when full, 2 drop when
/// full (`SendMode`).
static STRESS_MODE: AtomicU32 = AtomicU32::new(0);
const STRESS_MODES: [&str; 3] = ["wait", "nowait", "besteffort"];

fn stress_mode() -> SendMode {
    match STRESS_MODE.load(Ordering::Relaxed) {
        1 => SendMode::NoWait,
        2 => SendMode::BestEffort,
        _ => SendMode::Wait {
            timeout_ms: STRESS_SEND_TIMEOUT_MS,
        },
    }
}

/// Fails with `EINTR` (and a log line) once the writer has a signal
/// pending: every loop here checks it each round, so `kill` or Ctrl-C ends
/// a long write.
fn interrupted(what: &str, done: u32, count: u32) -> Result {
    if kernel::current!().signal_pending() {
        pr_info!("msgtest/{}: interrupted by a signal after {} of {}\n", what, done, count);
        return Err(EINTR);
    }
    Ok(())
}

fn stress(msg: &MsgLayer, to: u32, count: u32, seed: u32) -> Result {
    let max = msg.max_payload();
    let mut buf = KVec::new();
    buf.extend_with(max, 0u8, GFP_KERNEL)?;
    let started = monotonic_ms();
    let mut bytes = 0u64;
    for number in 0..count {
        interrupted("stress", number, count)?;
        let len = stress_len(seed, number, max);
        let message = buf.get_mut(..len).ok_or(EINVAL)?;
        let (header, data) = message.split_at_mut(STRESS_HEADER);
        header[..4].copy_from_slice(&number.to_le_bytes());
        header[4..].copy_from_slice(&seed.to_le_bytes());
        stress_bytes(seed, number, data);
        msg.send(to, KIND_STRESS, message, stress_mode()).inspect_err(|e| {
            pr_err!(
                "msgtest: stress message {} of {} to kernel {} failed: {:?}\n",
                number,
                count,
                to,
                e
            );
        })?;
        bytes += len as u64;
        if number % 256 == 255 {
            crate::kthread::cond_resched();
        }
    }
    pr_info!(
        "msgtest: sent {} stress messages ({} bytes) to kernel {} in {} ms\n",
        count,
        bytes,
        to,
        monotonic_ms().saturating_sub(started)
    );
    Ok(())
}

/// Splits a write into 1 to `N` numbers (`number.rs`: decimal, single
/// spaces, at most one newline).
fn numbers<const N: usize>(input: &[u8], what: &str) -> Result<([u32; N], usize)> {
    let (values, n) = crate::number::parse_many::<N>(input, 1, u64::from(u32::MAX)).map_err(|e| {
        pr_err!("msgtest/{}: {}\n", what, e);
        EINVAL
    })?;
    let mut out = [0u32; N];
    for (slot, value) in out.iter_mut().zip(values) {
        *slot = u32::try_from(value).map_err(|_| EINVAL)?;
    }
    Ok((out, n))
}

struct StressFile(Arc<MsgLayer>);

#[vtable]
impl AttributeOps for StressFile {
    fn store(&self, input: &[u8]) -> Result {
        let ([to, count, seed], n) = numbers::<3>(input, "stress")?;
        if n < 2 || count == 0 || count > MAX_STRESS_COUNT {
            pr_err!("msgtest/stress: write 'ID COUNT [SEED]', COUNT from 1 to {}\n", MAX_STRESS_COUNT);
            return Err(EINVAL);
        }
        let seed = if n == 3 { seed } else { 1 };
        stress(&self.0, to, count, seed)
    }
}

/// `stress_mode`: `wait` (default), `nowait` or `besteffort`.
struct StressModeFile;

#[vtable]
impl AttributeOps for StressModeFile {
    fn show(&self, out: &mut Page<'_>) -> Result {
        let mode = STRESS_MODES
            .get(STRESS_MODE.load(Ordering::Relaxed) as usize)
            .unwrap_or(&"wait");
        writeln!(out, "{}", mode).map_err(|_| EFBIG)
    }

    fn store(&self, input: &[u8]) -> Result {
        let text = core::str::from_utf8(input).map_err(|_| EINVAL)?.trim();
        let mode = STRESS_MODES.iter().position(|m| *m == text).ok_or_else(|| {
            pr_err!("msgtest/stress_mode: write wait, nowait or besteffort\n");
            EINVAL
        })?;
        STRESS_MODE.store(mode as u32, Ordering::Relaxed);
        Ok(())
    }
}

/// Malformed popnet frames, one of each way a frame can be wrong that
/// fits in a message: shorter than popnet's header, shorter than an
/// Ethernet header, unknown flags, a checksum field outside the frame or
/// inside the Ethernet header, segmentation without a checksum to fill.
const NET_GARBAGE_FRAMES: usize = 6;

fn net_garbage(kind: usize) -> ([u8; 80], usize) {
    use crate::netframe::{Gso, GsoKind, NetHeader, HEADER_SIZE};
    let mut message = [0u8; 80];
    // A broadcast Ethernet frame carrying IPv4, whatever the header says.
    for byte in message.iter_mut().skip(HEADER_SIZE).take(6) {
        *byte = 0xff;
    }
    if let Some(ethertype) = message.get_mut(HEADER_SIZE + 12..HEADER_SIZE + 14) {
        ethertype.copy_from_slice(&[0x08, 0x00]);
    }
    let mut header = NetHeader::default();
    let len = match kind {
        0 => 3,
        1 => HEADER_SIZE + 10,
        2 => {
            message[0] = 0x40;
            message.len()
        }
        3 => {
            header.csum = Some((60, 20));
            message.len()
        }
        4 => {
            header.csum = Some((4, 2));
            message.len()
        }
        _ => {
            header.gso = Some(Gso {
                kind: GsoKind::TcpV4,
                size: 1448,
                ecn: false,
            });
            message.len()
        }
    };
    if kind >= 3 {
        if let Some(place) = message.get_mut(..HEADER_SIZE) {
            place.copy_from_slice(&header.encode());
        }
    }
    (message, len)
}

struct NetGarbageFile(Arc<MsgLayer>);

#[vtable]
impl AttributeOps for NetGarbageFile {
    fn store(&self, input: &[u8]) -> Result {
        let ([to], n) = numbers::<1>(input, "net_garbage")?;
        if n != 1 {
            return Err(EINVAL);
        }
        for kind in 0..NET_GARBAGE_FRAMES {
            let (message, len) = net_garbage(kind);
            let body = message.get(..len).unwrap_or(&[]);
            self.0.send(to, crate::popnet::KIND_NET, body, SendMode::Wait { timeout_ms: 1000 })?;
        }
        Ok(())
    }
}

/// `msgtest/rx_pause`.
struct RxPauseFile(Arc<MsgLayer>);

#[vtable]
impl AttributeOps for RxPauseFile {
    fn store(&self, input: &[u8]) -> Result {
        match numbers::<1>(input, "rx_pause")? {
            ([0], 1) => self.0.pause_rx(false),
            ([1], 1) => self.0.pause_rx(true),
            _ => return Err(EINVAL),
        }
        Ok(())
    }
}

/// `msgtest/flood`.
struct FloodFile(Arc<MsgLayer>);

#[vtable]
impl AttributeOps for FloodFile {
    fn store(&self, input: &[u8]) -> Result {
        let ([to, count], n) = numbers::<2>(input, "flood")?;
        if n != 2 || count > MAX_FLOOD_COUNT {
            pr_err!("msgtest/flood: write ID COUNT, COUNT at most {}\n", MAX_FLOOD_COUNT);
            return Err(EINVAL);
        }
        self.0.flood_requests(to, count)
    }
}

/// `msgtest/begin`: crafted migration requests, as a hostile kernel would
/// send them.
struct BeginFile(Arc<MsgLayer>);

#[vtable]
impl AttributeOps for BeginFile {
    fn store(&self, input: &[u8]) -> Result {
        use crate::migrate::{Begin, Header, Op};
        let ([to, pages, count], n) = numbers::<3>(input, "begin")?;
        if n != 3 || count == 0 || count > 16 {
            pr_err!("msgtest/begin: write ID PAGES COUNT, COUNT from 1 to 16\n");
            return Err(EINVAL);
        }
        let me = self.0.self_id();
        let kind = crate::migration::KIND_MIGRATE;
        let mut result = Ok(());
        let mut accepted = KVec::new();
        for i in 0..count {
            // Ids no real migration of ours uses (they count up from 1).
            let id = (u64::from(me) << 32) | u64::from(0xffff_0000 | i);
            let begin = Begin {
                vmas: 1,
                pages,
                xsave_len: crate::usertask::xsave_size() as u32,
                home: me,
                stub: id,
                ..Begin::default()
            };
            let mut body = KVec::new();
            body.extend_from_slice(&Header { op: Op::Begin, id }.encode(), GFP_KERNEL)?;
            body.extend_from_slice(&begin.encode(), GFP_KERNEL)?;
            match self.0.request(to, kind, &body, 10_000) {
                Ok(_) => accepted.push(id, GFP_KERNEL)?,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        for id in accepted.iter() {
            let _ = self.0.send(to, kind, &Header { op: Op::Abort, id: *id }.encode(), SendMode::Wait { timeout_ms: 1000 });
        }
        result
    }
}

struct CorruptFile(Arc<MsgLayer>);

#[vtable]
impl AttributeOps for CorruptFile {
    fn store(&self, input: &[u8]) -> Result {
        let ([to], n) = numbers::<1>(input, "corrupt")?;
        if n != 1 {
            return Err(EINVAL);
        }
        self.0.scribble(to)
    }
}

/// `forge_entry`: "APIC_ID KERNEL_ID GENERATION [SLOT]" forges this
/// kernel's table entry (or slot SLOT's) and pings the primary
/// (`MsgLayer::forge_entry`).
struct ForgeFile(Arc<MsgLayer>);

#[vtable]
impl AttributeOps for ForgeFile {
    fn store(&self, input: &[u8]) -> Result {
        let ([apic_id, kernel_id, generation, slot], n) = numbers::<4>(input, "forge_entry")?;
        let slot = match n {
            3 => None,
            4 => Some(usize::try_from(slot).map_err(|_| EINVAL)?),
            _ => return Err(EINVAL),
        };
        self.0.forge_entry(slot, apic_id, kernel_id, generation, 5)
    }
}

/// `table_access`: what the page tables let this kernel write of the
/// window's header and kernel table (`MsgLayer::table_access`).
struct TableAccessFile(Arc<MsgLayer>);

#[vtable]
impl AttributeOps for TableAccessFile {
    fn show(&self, out: &mut Page<'_>) -> Result {
        let word = |writable: Option<bool>| match writable {
            Some(true) => "rw",
            Some(false) => "ro",
            None => "?",
        };
        let access = self.0.table_access();
        let mut pages = access.iter();
        write!(out, "header:{}", word(pages.next().copied().flatten())).map_err(|_| EFBIG)?;
        for (slot, writable) in pages.enumerate() {
            write!(out, " {}:{}", slot, word(*writable)).map_err(|_| EFBIG)?;
        }
        writeln!(out).map_err(|_| EFBIG)
    }
}

struct ReceivedFile(Arc<StressReceiver>, bool);

#[vtable]
impl AttributeOps for ReceivedFile {
    fn show(&self, out: &mut Page<'_>) -> Result {
        let counter = if self.1 { &self.0.errors } else { &self.0.received };
        writeln!(out, "{}", counter.load(Ordering::Relaxed)).map_err(|_| EFBIG)
    }
}

struct DelayFile(Arc<StressReceiver>);

#[vtable]
impl AttributeOps for DelayFile {
    fn show(&self, out: &mut Page<'_>) -> Result {
        writeln!(out, "{}", self.0.delay_us.load(Ordering::Relaxed)).map_err(|_| EFBIG)
    }

    fn store(&self, input: &[u8]) -> Result {
        let ([delay], n) = numbers::<1>(input, "rx_delay_us")?;
        if n != 1 || delay > 1_000_000 {
            pr_err!("msgtest/rx_delay_us: write microseconds, at most 1000000\n");
            return Err(EINVAL);
        }
        self.0.delay_us.store(delay, Ordering::Relaxed);
        Ok(())
    }
}

/// Receives throughput-benchmark messages: nothing to do but count.
struct BenchSink;

impl MsgHandler for BenchSink {}

/// The last benchmark's mean nanoseconds per operation.
static BENCH_NS: AtomicU64 = AtomicU64::new(0);

fn record(what: &str, count: u32, started_ns: u64) {
    let total = crate::kthread::monotonic_ns().saturating_sub(started_ns);
    let mean = total / u64::from(count.max(1));
    BENCH_NS.store(mean, Ordering::Relaxed);
    pr_info!("msgtest: {}: {} operations, {} ns each\n", what, count, mean);
}

fn bench_args(input: &[u8], file: &str, max_size: usize) -> Result<(u32, u32, usize)> {
    let ([a, count, size], n) = numbers::<3>(input, file)?;
    let size = size as usize;
    if n != 3 || count == 0 || count > MAX_BENCH_COUNT || size > max_size {
        pr_err!("msgtest/{}: write 'ID COUNT SIZE', COUNT 1 to {}, SIZE at most {}\n", file, MAX_BENCH_COUNT, max_size);
        return Err(EINVAL);
    }
    Ok((a, count, size))
}

struct BenchRttFile(Arc<MsgLayer>);

#[vtable]
impl AttributeOps for BenchRttFile {
    fn store(&self, input: &[u8]) -> Result {
        let (to, count, size) = bench_args(input, "bench_rtt", self.0.max_payload() - 4)?;
        let mut body = KVec::new();
        body.extend_with(size, 0x42u8, GFP_KERNEL)?;
        let started = crate::kthread::monotonic_ns();
        for done in 0..count {
            interrupted("bench_rtt", done, count)?;
            self.0.request(to, crate::msg::KIND_PING, &body, 1000)?;
        }
        record("request round trips", count, started);
        Ok(())
    }
}

struct BenchTputFile(Arc<MsgLayer>);

#[vtable]
impl AttributeOps for BenchTputFile {
    fn store(&self, input: &[u8]) -> Result {
        let (to, count, size) = bench_args(input, "bench_tput", self.0.max_payload())?;
        let mut body = KVec::new();
        body.extend_with(size, 0x17u8, GFP_KERNEL)?;
        let mode = SendMode::Wait {
            timeout_ms: STRESS_SEND_TIMEOUT_MS,
        };
        let started = crate::kthread::monotonic_ns();
        for number in 0..count {
            interrupted("bench_tput", number, count)?;
            self.0.send(to, KIND_BENCH, &body, mode)?;
            if number % 256 == 255 {
                crate::kthread::cond_resched();
            }
        }
        // The ring is FIFO: when the answer comes, all were handled.
        self.0.request(to, crate::msg::KIND_PING, &[], STRESS_SEND_TIMEOUT_MS)?;
        record("one-way messages", count, started);
        Ok(())
    }
}

/// Does nothing, on the CPU `smp_call_function_single()` sends it to.
extern "C" fn remote_nop(_info: *mut core::ffi::c_void) {}

struct BenchLocalRttFile;

#[vtable]
impl AttributeOps for BenchLocalRttFile {
    fn store(&self, input: &[u8]) -> Result {
        let ([cpu, count], n) = numbers::<2>(input, "bench_local_rtt")?;
        if n != 2 || count == 0 || count > MAX_BENCH_COUNT || !crate::system::cpu_online(cpu) {
            pr_err!("msgtest/bench_local_rtt: write 'CPU COUNT' with an online CPU\n");
            return Err(EINVAL);
        }
        let started = crate::kthread::monotonic_ns();
        for done in 0..count {
            interrupted("bench_local_rtt", done, count)?;
            // SAFETY: `remote_nop` ignores its argument and may run in
            // interrupt context; `wait` = 1 returns after it ran, so
            // nothing outlives the call.
            let ret = unsafe {
                kernel::bindings::smp_call_function_single(
                    cpu as i32,
                    Some(remote_nop),
                    core::ptr::null_mut(),
                    1,
                )
            };
            kernel::error::to_result(ret)?;
        }
        record("smp_call_function_single round trips", count, started);
        Ok(())
    }
}

struct BenchMemcpyFile;

#[vtable]
impl AttributeOps for BenchMemcpyFile {
    fn store(&self, input: &[u8]) -> Result {
        let ([size, count], n) = numbers::<2>(input, "bench_memcpy")?;
        let size = size as usize;
        if n != 2 || size == 0 || size > MEMCPY_BUFFER || count == 0 || count > MAX_BENCH_COUNT {
            pr_err!("msgtest/bench_memcpy: write 'SIZE COUNT', SIZE 1 to {}\n", MEMCPY_BUFFER);
            return Err(EINVAL);
        }
        let mut from = kernel::alloc::VVec::new();
        from.extend_with(MEMCPY_BUFFER, 0x5au8, GFP_KERNEL)?;
        let mut to = kernel::alloc::VVec::new();
        to.extend_with(MEMCPY_BUFFER, 0u8, GFP_KERNEL)?;
        let chunks = MEMCPY_BUFFER / size;
        let started = crate::kthread::monotonic_ns();
        for i in 0..count as usize {
            if i % 1024 == 0 {
                interrupted("bench_memcpy", i as u32, count)?;
            }
            let at = (i % chunks) * size;
            let (Some(src), Some(dst)) = (from.get(at..at + size), to.get_mut(at..at + size)) else {
                return Err(EINVAL);
            };
            dst.copy_from_slice(src);
            if i % 1024 == 1023 {
                crate::kthread::cond_resched();
            }
        }
        // Keep the copies from being optimised away.
        core::hint::black_box(&to);
        record("memcpy", count, started);
        Ok(())
    }
}

/// The `msgtest/` directory and the stress receiver's registration.
pub struct MsgTest {
    _dir: Dir,
    msg: Arc<MsgLayer>,
}

impl MsgTest {
    pub fn new(root: &Dir, msg: &Arc<MsgLayer>) -> Result<Self> {
        let mut expected = KVec::new();
        expected.extend_with(msg.max_payload(), 0u8, GFP_KERNEL)?;
        let receiver = Arc::pin_init(
            pin_init!(StressReceiver {
                streams <- new_spinlock!(StreamState {
                    next: [None; KERNEL_SLOTS],
                    expected,
                }),
                received: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                delay_us: AtomicU32::new(0),
                max_payload: msg.max_payload(),
            }),
            GFP_KERNEL,
        )?;
        let mut dir = root.new_child(c_str!("msgtest"))?;
        dir.add_file(c_str!("stress"), StressFile(msg.clone()))?;
        dir.add_file(c_str!("stress_mode"), StressModeFile)?;
        dir.add_file(c_str!("stress_received"), ReceivedFile(receiver.clone(), false))?;
        dir.add_file(c_str!("stress_errors"), ReceivedFile(receiver.clone(), true))?;
        dir.add_file(c_str!("rx_delay_us"), DelayFile(receiver.clone()))?;
        dir.add_file(c_str!("corrupt"), CorruptFile(msg.clone()))?;
        dir.add_file(c_str!("forge_entry"), ForgeFile(msg.clone()))?;
        dir.add_file(c_str!("table_access"), TableAccessFile(msg.clone()))?;
        dir.add_file(c_str!("net_garbage"), NetGarbageFile(msg.clone()))?;
        dir.add_file(c_str!("bench_rtt"), BenchRttFile(msg.clone()))?;
        dir.add_file(c_str!("bench_tput"), BenchTputFile(msg.clone()))?;
        dir.add_file(c_str!("bench_local_rtt"), BenchLocalRttFile)?;
        dir.add_file(c_str!("bench_memcpy"), BenchMemcpyFile)?;
        dir.add_file(c_str!("bench_ns"), crate::sysfs::Computed(show_bench_ns))?;
        dir.add_file(c_str!("rx_pause"), RxPauseFile(msg.clone()))?;
        dir.add_file(c_str!("flood"), FloodFile(msg.clone()))?;
        dir.add_file(c_str!("begin"), BeginFile(msg.clone()))?;
        dir.add_file(c_str!("stale_pages"), StalePagesFile)?;
        msg.register(KIND_STRESS, receiver)?;
        msg.register(KIND_BENCH, Arc::new(BenchSink, GFP_KERNEL)?)
            .inspect_err(|_| msg.unregister(KIND_STRESS))?;
        Ok(MsgTest {
            _dir: dir,
            msg: msg.clone(),
        })
    }
}

/// What `inside/check-partition.sh` (`STALE=fill`) writes over a
/// secondary's memory before it stops, `"POPCORN-STALE-1\n"`: 16 bytes, so
/// every page of the file holds it at a 16-byte boundary. Kept here with
/// every bit inverted: the plain bytes in this module's own image would
/// be found in the free pages that loading it passed through (the
/// initramfs unpacking, `insmod`'s buffer) and counted as stale.
const STALE_MARKER_INVERTED: [u8; 16] = [
    0xaf, 0xb0, 0xaf, 0xbc, 0xb0, 0xad, 0xb1, 0xd2, 0xac, 0xab, 0xbe, 0xb3, 0xba, 0xd2, 0xce, 0xf5,
];
/// Most pages `stale_pages` takes (4 GiB).
const STALE_SCAN_LIMIT: usize = 1 << 20;

/// `stale_pages`: root only, since a read takes all free memory for a
/// moment.
struct StalePagesFile;

#[vtable]
impl AttributeOps for StalePagesFile {
    const ROOT_ONLY: bool = true;

    fn show(&self, out: &mut Page<'_>) -> Result {
        show_stale_pages(out)
    }
}

fn show_stale_pages(out: &mut Page<'_>) -> Result {
    let pages = crate::pages::FreePages::take(STALE_SCAN_LIMIT)?;
    let mut buf = KVec::new();
    buf.extend_with(kernel::page::PAGE_SIZE, 0u8, GFP_KERNEL)?;
    let is_marker =
        |chunk: &[u8]| chunk.iter().zip(STALE_MARKER_INVERTED).all(|(&b, inv)| b == !inv);
    let mut stale = 0usize;
    pages.for_each(&mut buf, |bytes| {
        if bytes.chunks_exact(STALE_MARKER_INVERTED.len()).any(is_marker) {
            stale = stale.saturating_add(1);
        }
    })?;
    writeln!(out, "{} {}", stale, pages.len()).map_err(|_| EFBIG)
}

fn show_bench_ns(out: &mut Page<'_>) -> Result {
    writeln!(out, "{}", BENCH_NS.load(Ordering::Relaxed)).map_err(|_| EFBIG)
}

impl Drop for MsgTest {
    fn drop(&mut self) {
        self.msg.unregister(KIND_BENCH);
        self.msg.unregister(KIND_STRESS);
    }
}
