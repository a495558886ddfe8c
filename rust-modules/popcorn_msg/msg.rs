// SPDX-License-Identifier: GPL-2.0

//! The inter-kernel message layer: rings in the shared window, the message
//! interrupt, and the API the other parts of Popcorn send and receive with.
//!
//! Each kernel maps the shared window's header page, the kernel table and
//! the rings it is an end of (all of them on the primary). The kernel
//! table (`window.rs`) has one entry per kernel slot, a page each (a
//! secondary maps the header and every entry but its own read-only),
//! written by the
//! primary when it starts (state `starting`, generation + 1) or reclaims
//! (`gone`) a kernel, and by the kernel itself when its message layer comes
//! up (`live`) or goes away (`starting` again: present, not talking). The
//! rings (`ring.rs`) join every ordered pair of slots.
//!
//! How a message travels:
//!
//! 1. [`MsgLayer::send`] finds the peer's slot by kernel id, checks that the
//!    peer is live, and writes a frame into the ring under the ring's
//!    sender lock. If the peer's receiver said it is about to sleep, the
//!    sender interrupts the peer's notify CPU (`POPCORN_MSG_VECTOR`).
//! 2. The interrupt handler only wakes the receive thread (`popcorn-rx`),
//!    so frames are handled in process context, in batches, never in hard
//!    interrupt context. In polling mode (`msg/poll`) that thread never
//!    sleeps and senders never interrupt: lower latency, one CPU busy.
//! 3. The receive thread drains every live peer's ring and dispatches each
//!    frame by kind: replies complete a waiting [`MsgLayer::request`],
//!    requests go to the registered [`MsgHandler::on_request`] and their
//!    answer goes back, other kinds to [`MsgHandler::on_message`].
//!
//! The receive thread never waits on a peer or on a file: a reply that does
//! not fit in the ring now goes out from a worker, slow request handling
//! ([`Answer::Later`]) runs on a worker, and each peer has at most
//! [`JOBS_PER_PEER`] of those at once, so one slow or hostile peer delays
//! only its own traffic.
//!
//! A peer is never trusted: every entry and frame read from the window is
//! checked (`window.rs`, `ring.rs`); the primary takes kernel ids,
//! generations and the CPUs it may interrupt from its own record, never
//! from the table ([`Trust`], docs/message-layer.md). A corrupt ring costs its messages and
//! a log line: the receiver resyncs, the sender restarts at the receiver's
//! index. A peer that stops or crashes leaves the table (`gone`); sends to
//! it fail with `EHOSTUNREACH`, requests waiting for it with `EHOSTDOWN`.
//! A kernel started in its slot later has a new generation, and everyone
//! continues with fresh rings to it.
//!
//! Senders may sleep ([`SendMode::Wait`]); code that cannot sleep uses
//! [`SendMode::NoWait`] (`EAGAIN` when the ring is full) or
//! [`SendMode::BestEffort`] (dropped and counted).

use core::fmt::Write;
use core::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use kernel::{
    alloc::KVec,
    c_str,
    new_condvar, new_mutex, new_spinlock,
    prelude::*,
    str::{CStr, CString},
    sync::{Arc, CondVar, CondVarTimeoutResult, Mutex, SpinLock},
    fmt,
};

use crate::errno;
use crate::le::read_u32;
use crate::lock_bh::SpinLockBh;
use crate::kthread::{monotonic_ms, KThread, ThreadBody, ThreadContext};
use crate::msg_ipi::{self, SecondaryInfo};
use crate::physmem::{PhysMapping, ReadOnlyMapping};
use crate::ring::{self, Layout, Receiver, RingError, RingMemory, Sender};
use crate::sysfs::{AttributeOps, Constant, Dir, Page};
use crate::waitqueue::IrqWaitQueue;
use crate::window::{self, Access, Assignment, IpiRefused, KernelEntry, SlotState, WindowLayout, KERNEL_SLOTS};
use crate::workqueue::OwnedQueue;

/// Kinds the layer itself uses; other users take kinds from
/// [`FIRST_USER_KIND`] to [`LAST_KIND`].
pub const KIND_PING: u16 = 1;
const KIND_REPLY: u16 = 2;
pub const FIRST_USER_KIND: u16 = 16;
pub const LAST_KIND: u16 = 63;
/// Set in a frame's kind when the payload starts with a request tag and
/// the receiver must answer.
const REQUEST: u16 = 0x8000;

/// Bytes of a request's tag, and of a reply's tag and status.
const TAG_SIZE: usize = 4;
const REPLY_HEADER_SIZE: usize = 8;
/// Requests in flight at once from this kernel.
const MAX_PENDING: usize = 32;
/// Frames taken from one ring before looking at the next.
const BATCH: usize = 64;
/// The receive thread looks at the table at least this often even when no
/// interrupt comes (a peer that left, a missed notification).
const RX_IDLE_MS: u32 = 100;
/// How often the peer watcher refreshes `peers/` and fails requests to
/// kernels that went away.
const PEER_WATCH_MS: u32 = 100;
/// How long a sender spins for room in a full ring before it sleeps.
const FULL_SPIN_NS: u64 = 50_000;
/// How long a worker waits for room for a reply in a full ring.
const REPLY_WAIT_MS: u32 = 1000;
/// Jobs (slow requests, replies waiting for room) one peer may have on
/// the workers at once; more are refused (`EBUSY`) or dropped.
pub const JOBS_PER_PEER: u32 = 4;
/// The CPU the receive thread runs on: the one the message interrupt is
/// sent to (the boot CPU of every kernel).
const RX_CPU: u32 = 0;
/// The payload `peers/<id>/ping` sends.
pub const PING_BYTES: usize = 56;
/// How long a ping waits for its answer.
const PING_TIMEOUT_MS: u32 = 1000;

/// Message interrupts this kernel's CPUs got, and sent through `ipi/send`.
pub static IPIS_RECEIVED: AtomicU64 = AtomicU64::new(0);
pub static IPIS_SENT: AtomicU64 = AtomicU64::new(0);

/// Where the receive thread sleeps; the message interrupt wakes it.
static RX_WAIT: IrqWaitQueue = IrqWaitQueue::new();
/// Set by every message interrupt: the receive thread checks it after
/// queueing itself to sleep (see `RxThread::run`).
static KICKED: AtomicBool = AtomicBool::new(false);

/// The message interrupt's handler (hard interrupt context): count, wake.
/// Registered by the module for as long as it is loaded, message layer or
/// not (waking a queue nobody sleeps on does nothing).
pub extern "C" fn on_msg_ipi() {
    IPIS_RECEIVED.fetch_add(1, Ordering::Relaxed);
    KICKED.store(true, Ordering::SeqCst);
    RX_WAIT.wake();
}

/// Who a message came from.
#[derive(Debug, Clone, Copy)]
pub struct From {
    /// The sender's kernel id.
    pub id: u32,
    /// Its kernel slot (stable while it runs).
    pub slot: usize,
}

/// Slow handling of a request, run on a worker thread off the receive
/// path ([`Answer::Later`]).
pub trait Deferred: Send + Sync {
    /// Does the work; what it returns goes back to the requester (an error
    /// as its errno).
    fn run(&self) -> Result<KVec<u8>>;
}

/// How a handler answers a request.
pub enum Answer {
    /// This answer, sent at once (an error as its errno).
    Now(Result<KVec<u8>>),
    /// The answer takes time (large allocations, starting programs, files):
    /// the layer runs this on a worker and sends what it returns. Later
    /// messages from the same peer may be handled before it runs.
    Later(Arc<dyn Deferred>),
}

/// What a user of the layer implements for its message kind. Both methods
/// run on the receive thread, in process context. They must not wait for a
/// peer, a file or anything slow (every peer's messages wait meanwhile):
/// they may take short locks and make small allocations; slow work of a
/// request goes to [`Answer::Later`].
pub trait MsgHandler: Send + Sync {
    /// A one-way message.
    fn on_message(&self, _from: From, _body: &[u8]) {}

    /// A request; the answer goes back to the requester.
    fn on_request(self: Arc<Self>, _from: From, _body: &[u8]) -> Answer {
        Answer::Now(Err(errno::eopnotsupp()))
    }

    /// The receive thread finished a pass over every ring, after handing
    /// this handler at least one message: the moment to push a batch on
    /// (popnet schedules its NAPI poll here, so GRO sees the whole batch).
    fn on_batch_end(&self) {}
}

/// Told when the number of live peers changes (popnet's carrier). Runs on
/// the peer watcher thread, in process context.
pub trait PeerListener: Send + Sync {
    fn peers_changed(&self, live: usize);

    /// Room appeared in the ring to kernel `id` after
    /// [`MsgLayer::want_room`] found none (or that kernel left, so waiting
    /// is over). Runs on the receive thread or the peer watcher, in process
    /// context.
    fn room_available(&self, _id: u32) {}
}

/// What [`MsgLayer::send`] does when the ring is full.
#[derive(Debug, Clone, Copy)]
pub enum SendMode {
    /// Wait up to this many milliseconds for room (process context only),
    /// then fail with `ETIMEDOUT`.
    Wait { timeout_ms: u32 },
    /// Fail at once with `EAGAIN`.
    NoWait,
    /// Drop the message and count it in the peer's `dropped`.
    BestEffort,
}

/// The parts of the shared window this kernel maps, with its geometry:
/// the header page, the kernel table's entry pages and the rings it is an
/// end of (`window::mapped_rings`: every ring on the primary, which resets
/// them). Nothing else of the window: no boot slot, no control page, no
/// ring between two other kernels. The header and the entries are mapped
/// as `window::header_access` and `window::entry_access` say: on a
/// secondary, only its own entry can be written.
struct Window {
    header: TablePage,
    /// By kernel slot; all `Some` once the window is made.
    entries: [Option<TablePage>; KERNEL_SLOTS],
    /// By ring index (`WindowLayout::ring_index`); `None` for rings this
    /// kernel has no end of.
    rings: [Option<Arc<PhysMapping>>; window::NR_RINGS],
    layout: WindowLayout,
}

/// One page of the window's header or kernel table, mapped read-write or
/// read-only (then it cannot be written through, by type and by its page
/// protection: `physmem::ReadOnlyMapping`).
enum TablePage {
    Writable(PhysMapping),
    ReadOnly(ReadOnlyMapping),
}

impl TablePage {
    /// Maps the page at `offset` of the window at `base` with `access`.
    fn map(base: u64, offset: u64, access: Access) -> Result<Self> {
        let phys = base.checked_add(offset).ok_or(EINVAL)?;
        let len = usize::try_from(window::ENTRY_PAGE_SIZE).map_err(|_| EINVAL)?;
        // SAFETY: the shared window is reserved at boot in every kernel
        // (the primary's popcorn.reserve=, a secondary's e820 map) and
        // used by nothing else; other kernels write it concurrently, which
        // is why only the shared accessors are used on it.
        Ok(match access {
            Access::ReadWrite => TablePage::Writable(unsafe { PhysMapping::new(phys, len)? }),
            // SAFETY: as above.
            Access::ReadOnly => TablePage::ReadOnly(unsafe { ReadOnlyMapping::new(phys, len)? }),
        })
    }

    fn load(&self, offset: usize, order: Ordering) -> Option<u32> {
        match self {
            TablePage::Writable(map) => Some(map.atomic_u32(offset)?.load(order)),
            TablePage::ReadOnly(map) => map.load_u32(offset, order),
        }
    }

    fn read_bytes(&self, offset: usize, out: &mut [u8]) -> Option<()> {
        match self {
            TablePage::Writable(map) => map.read_bytes(offset, out),
            TablePage::ReadOnly(map) => map.read_bytes(offset, out),
        }
    }

    /// The mapping to write through; `None` for a read-only page.
    fn writable(&self) -> Option<&PhysMapping> {
        match self {
            TablePage::Writable(map) => Some(map),
            TablePage::ReadOnly(_) => None,
        }
    }

    /// Whether the page tables let this kernel store to the page.
    #[cfg(popcorn_test_hooks)]
    fn hardware_writable(&self) -> Option<bool> {
        match self {
            TablePage::Writable(map) => map.hardware_writable(),
            TablePage::ReadOnly(map) => map.hardware_writable(),
        }
    }
}

impl Window {
    fn entry_page(&self, slot: usize) -> Option<&TablePage> {
        self.entries.get(slot)?.as_ref()
    }

    fn entry(&self, slot: usize) -> Option<KernelEntry> {
        let mut bytes = [0u8; window::ENTRY_SIZE];
        self.entry_page(slot)?.read_bytes(0, &mut bytes)?;
        KernelEntry::parse(&bytes, slot).ok()
    }

    /// Writes a whole entry, its state word last, so that a reader who
    /// sees the new state sees the rest of it too. `None` if this kernel
    /// maps that entry read-only.
    fn write_entry(&self, slot: usize, entry: &KernelEntry) -> Option<()> {
        let page = self.entry_page(slot)?.writable()?;
        let mut bytes = [0u8; window::ENTRY_SIZE];
        entry.write(&mut bytes).ok()?;
        page.write_bytes(4, bytes.get(4..)?)?;
        let state = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
        page.atomic_u32(0)?.store(state, Ordering::Release);
        Some(())
    }

    /// The fields the hot paths need, read with three loads instead of a
    /// copy and parse of the whole entry. `state` is `None` for a value no
    /// kernel writes.
    fn peek(&self, slot: usize) -> Option<Peek> {
        let page = self.entry_page(slot)?;
        // The state word is written last (`write_entry`): read it first.
        let raw = page.load(0, Ordering::Acquire)?;
        Some(Peek {
            state: SlotState::from_raw(raw),
            generation: page.load(4, Ordering::Relaxed)?,
            kernel_id: page.load(8, Ordering::Relaxed)?,
            notify_apic_id: page.load(12, Ordering::Relaxed)?,
            refused: None,
        })
    }

    fn set_state(&self, slot: usize, state: SlotState) -> Option<()> {
        let mut entry = self.entry(slot)?;
        entry.state = state;
        self.write_entry(slot, &entry)
    }

    /// The ring `from` -> `to`, or `None` for a bad pair or a ring this
    /// kernel does not map.
    fn ring(&self, from: usize, to: usize) -> Option<WindowRing> {
        let index = WindowLayout::ring_index(from, to).ok()?;
        let map = self.rings.get(index)?.as_ref()?.clone();
        let layout = self.layout.ring();
        // Each ring's mapping is the ring's size (`MsgLayer::map_window`);
        // checked again here so that no accessor below can miss.
        map.atomic_u32(layout.size().checked_sub(4)?)?;
        Some(WindowRing { map, layout })
    }
}

/// What [`Window::peek`] reads of an entry; after [`MsgLayer::peer`],
/// what this kernel trusts of it.
#[derive(Clone, Copy)]
struct Peek {
    state: Option<SlotState>,
    generation: u32,
    kernel_id: u32,
    notify_apic_id: u32,
    /// Why `notify_apic_id` must not be interrupted, if so.
    refused: Option<IpiRefused>,
}

/// One ring's memory in the shared window.
///
/// # Invariants
///
/// `map` is `layout.size()` bytes or more.
struct WindowRing {
    map: Arc<PhysMapping>,
    layout: Layout,
}

impl WindowRing {
    fn index(&self, field: usize) -> Option<&AtomicU32> {
        self.map.atomic_u32(field)
    }
}

// The accessors cannot fail (invariant); `None` would mean a bug here, and
// then the ring reads zeros and writes nothing rather than panic.
impl RingMemory for WindowRing {
    fn load_head(&self) -> u32 {
        self.index(ring::HEAD_OFFSET).map_or(0, |a| a.load(Ordering::Acquire))
    }
    fn store_head(&self, head: u32) {
        if let Some(a) = self.index(ring::HEAD_OFFSET) {
            a.store(head, Ordering::Release);
        }
    }
    fn load_tail(&self) -> u32 {
        self.index(ring::TAIL_OFFSET).map_or(0, |a| a.load(Ordering::Acquire))
    }
    fn store_tail(&self, tail: u32) {
        if let Some(a) = self.index(ring::TAIL_OFFSET) {
            a.store(tail, Ordering::Release);
        }
    }
    fn load_waiting(&self) -> bool {
        self.index(ring::WAITING_OFFSET)
            .is_some_and(|a| a.load(Ordering::Relaxed) != 0)
    }
    fn store_waiting(&self, waiting: bool) {
        if let Some(a) = self.index(ring::WAITING_OFFSET) {
            a.store(u32::from(waiting), Ordering::Relaxed);
        }
    }
    fn load_room(&self) -> u32 {
        self.index(ring::ROOM_OFFSET).map_or(0, |a| a.load(Ordering::Relaxed))
    }
    fn store_room(&self, room: u32) {
        if let Some(a) = self.index(ring::ROOM_OFFSET) {
            a.store(room, Ordering::Relaxed);
        }
    }
    fn full_fence(&self) {
        fence(Ordering::SeqCst);
    }
    fn write_slots(&self, offset: usize, bytes: &[u8]) {
        // Checked: an offset past the end is dropped like one outside the map.
        let at = ring::RING_HEADER_SIZE.checked_add(offset);
        let _ = at.and_then(|at| self.map.write_bytes(at, bytes));
    }
    fn read_slots(&self, offset: usize, out: &mut [u8]) {
        let at = ring::RING_HEADER_SIZE.checked_add(offset);
        if at.and_then(|at| self.map.read_bytes(at, out)).is_none() {
            out.fill(0);
        }
    }
}

/// The primary's own record of one slot: what it assigned to the kernel
/// there (`Assignment`), never read back from the window. Written only by
/// `announce_start`/`announce_end` (the loader's lock serialises them),
/// read on every path, as a sequence lock: `seq` is odd while a write is
/// under way, and a reader that saw it change reads again.
struct Record {
    seq: AtomicU32,
    /// Raw `SlotState`: `Starting` while a kernel the primary started runs
    /// there, `Gone` after it ended, `Empty` before any.
    state: AtomicU32,
    kernel_id: AtomicU32,
    generation: AtomicU32,
    nr_apic_ids: AtomicU32,
    apic_ids: [AtomicU32; window::MAX_ASSIGNED_CPUS],
}

impl Record {
    const fn new() -> Self {
        Record {
            seq: AtomicU32::new(0),
            state: AtomicU32::new(0),
            kernel_id: AtomicU32::new(0),
            generation: AtomicU32::new(0),
            nr_apic_ids: AtomicU32::new(0),
            apic_ids: [const { AtomicU32::new(0) }; window::MAX_ASSIGNED_CPUS],
        }
    }

    /// The slot as the record has it.
    fn read(&self) -> RecordView {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before % 2 == 1 {
                core::hint::spin_loop();
                continue;
            }
            let state = SlotState::from_raw(self.state.load(Ordering::Relaxed)).unwrap_or(SlotState::Gone);
            let generation = self.generation.load(Ordering::Relaxed);
            let kernel_id = self.kernel_id.load(Ordering::Relaxed);
            let nr = (self.nr_apic_ids.load(Ordering::Relaxed) as usize).min(window::MAX_ASSIGNED_CPUS);
            let mut ids = [0u32; window::MAX_ASSIGNED_CPUS];
            for (id, from) in ids.iter_mut().zip(self.apic_ids.iter()).take(nr) {
                *id = from.load(Ordering::Relaxed);
            }
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) != before {
                continue;
            }
            let assigned = if state == SlotState::Starting {
                Assignment::new(kernel_id, generation, ids.get(..nr).unwrap_or(&[]))
            } else {
                None
            };
            return RecordView {
                state,
                kernel_id,
                generation,
                assigned,
            };
        }
    }

    /// Records a kernel starting (`Some`) or the slot's kernel gone.
    /// Callers are serialised (the loader's lock).
    fn write(&self, assigned: Option<&Assignment>) {
        self.seq.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::Release);
        match assigned {
            Some(a) => {
                self.kernel_id.store(a.kernel_id, Ordering::Relaxed);
                self.generation.store(a.generation, Ordering::Relaxed);
                let ids = a.apic_ids();
                self.nr_apic_ids.store(ids.len() as u32, Ordering::Relaxed);
                for (to, &id) in self.apic_ids.iter().zip(ids) {
                    to.store(id, Ordering::Relaxed);
                }
                self.state.store(1, Ordering::Relaxed);
            }
            None => self.state.store(3, Ordering::Relaxed),
        }
        self.seq.fetch_add(1, Ordering::Release);
    }
}

/// A consistent copy of a [`Record`].
struct RecordView {
    state: SlotState,
    /// The last kernel's id and generation (0 before any).
    kernel_id: u32,
    generation: u32,
    /// While a kernel runs in the slot: what it was assigned.
    assigned: Option<Assignment>,
}

/// How this kernel judges the table's entries.
enum Trust {
    /// The primary: its own [`Record`] of every slot; of the table it
    /// takes only a running kernel's `starting`/`live` word and its choice
    /// among its own CPUs for the notify APIC ID.
    Primary { records: [Record; KERNEL_SLOTS] },
    /// A secondary: the primary's slot from what the primary said at boot
    /// (kernel id 0, its notify APIC ID); the others from the table, which
    /// a peer can overwrite, so never a broadcast, an ID out of range,
    /// this kernel's own CPUs or the primary's, and never two slots with
    /// one kernel id.
    Secondary {
        own: [u32; window::MAX_ASSIGNED_CPUS],
        nr_own: usize,
        primary: u32,
        max_apic_id: u32,
    },
}

/// Counters of one peer, since its current generation started. The sysfs
/// files under `peers/<id>/` show them.
#[derive(Default)]
pub struct PeerStats {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    /// Messages lost on this channel: dropped by best-effort sends, frames
    /// of corrupt rings, messages nobody handles.
    pub dropped: AtomicU64,
    pub ipis_sent: AtomicU64,
    /// Wake-ups of the receive thread that found this peer's frames.
    pub ipis_received: AtomicU64,
    /// Sends that found the ring full.
    pub ring_full: AtomicU64,
    /// Times this peer's ring broke the protocol.
    pub corrupt: AtomicU64,
    /// Message interrupts not sent because the peer's notify APIC ID
    /// (read from the table) is not one this kernel may interrupt.
    pub ipis_refused: AtomicU64,
}

impl PeerStats {
    /// The counters' file names, in the order of [`PeerStats::all`].
    const NAMES: [&'static CStr; 8] = [
        c_str!("sent"),
        c_str!("received"),
        c_str!("dropped"),
        c_str!("ipis_sent"),
        c_str!("ipis_received"),
        c_str!("ring_full"),
        c_str!("corrupt"),
        c_str!("ipis_refused"),
    ];

    fn all(&self) -> [&AtomicU64; 8] {
        [
            &self.sent,
            &self.received,
            &self.dropped,
            &self.ipis_sent,
            &self.ipis_received,
            &self.ring_full,
            &self.corrupt,
            &self.ipis_refused,
        ]
    }

    fn reset(&self) {
        for counter in self.all() {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

struct TxSide {
    sender: Sender<WindowRing>,
    /// The peer's generation this sender belongs to.
    generation: u32,
}

/// The receiving end of one peer's ring. Owned by the receive thread,
/// the ring's single consumer, so it needs no lock.
struct RxSide {
    receiver: Receiver<WindowRing>,
    generation: u32,
}

/// Every peer's receiving end, indexed by slot (`None` for our own).
type RxSides = [Option<RxSide>; KERNEL_SLOTS];

/// This kernel's two rings with one peer slot.
#[pin_data]
struct Channel {
    slot: usize,
    /// Taken with bottom halves off: popnet sends from its transmit path.
    #[pin]
    tx: SpinLockBh<TxSide>,
    stats: PeerStats,
    /// Bytes a sender asked room for with [`MsgLayer::want_room`]; 0 when
    /// nobody waits.
    room_wanted: AtomicUsize,
    /// This peer's jobs on the workers (at most [`JOBS_PER_PEER`]).
    jobs: AtomicU32,
}

/// Work for a peer on a worker thread, ending with a reply.
enum Job {
    /// Run this, send what it returns.
    Run(Arc<dyn Deferred>),
    /// Send this answer (no room for it when it was ready).
    Send(Result<KVec<u8>>),
}

/// What a pending request is waiting for.
enum Waiting {
    Free,
    Reply { tag: u32, slot: usize },
    Done(Result<KVec<u8>>),
}

struct Pending {
    entries: [Waiting; MAX_PENDING],
    next_tag: u32,
}

/// The message layer of this kernel.
#[pin_data(PinnedDrop)]
pub struct MsgLayer {
    window: Arc<Window>,
    self_slot: usize,
    self_id: u32,
    channels: [Option<Arc<Channel>>; KERNEL_SLOTS],
    #[pin]
    handlers: SpinLock<[Option<Arc<dyn MsgHandler>>; (LAST_KIND + 1) as usize]>,
    #[pin]
    pending: Mutex<Pending>,
    #[pin]
    replied: CondVar,
    /// Polling mode: the receive thread spins, senders never interrupt.
    poll: AtomicBool,
    #[pin]
    listener: SpinLock<Option<Arc<dyn PeerListener>>>,
    /// Live peers at the watcher's last look.
    live_peers: AtomicU32,
    /// Where slow requests and replies that must wait for room run. Jobs
    /// hold the layer: [`MsgService`] flushes the queue after stopping the
    /// receive thread (the only one queueing), so the layer's last
    /// reference is never a job's.
    jobs: OwnedQueue,
    /// Test hook (`msgtest/rx_pause`): the receive thread stops draining,
    /// as a kernel that does not keep up would.
    rx_paused: AtomicBool,
    /// What this kernel trusts of the table.
    trust: Trust,
    /// Serialises the primary's writes of records and table entries with
    /// its check of the table (`check_table`). Taken inside the loader's
    /// lock (`announce_start`/`announce_end`), never around it.
    #[pin]
    table_lock: Mutex<()>,
}

/// Logs at most one line per second from the receive path, so that a
/// peer spraying garbage cannot flood the log.
pub(crate) fn log_allowed() -> bool {
    static LAST_MS: AtomicU64 = AtomicU64::new(0);
    once_a_second(&LAST_MS)
}

/// Whether a line may be logged now, at most once a second per `last_ms`.
fn once_a_second(last_ms: &AtomicU64) -> bool {
    let now = monotonic_ms();
    let last = last_ms.load(Ordering::Relaxed);
    (last == 0 || now.saturating_sub(last) >= 1000)
        && last_ms
            .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

fn ring_errno(e: RingError) -> Error {
    match e {
        RingError::Full { .. } => EAGAIN,
        RingError::TooLarge { .. } => errno::emsgsize(),
        _ => EIO,
    }
}

impl MsgLayer {
    /// The primary's message layer: writes a fresh header page and table
    /// (no secondary runs while the module loads) and marks itself live.
    pub fn new_primary(shared_base: u64, shared_size: u64, notify_apic_id: u32) -> Result<Arc<Self>> {
        let (header, layout) = Self::map_header(shared_base, shared_size, window::header_access(0))?;
        let entries = Self::map_entries(shared_base, |_| Access::ReadWrite)?;
        let window = Self::map_rings(header, entries, layout, shared_base, 0)?;
        let mut header = [0u8; window::HEADER_BYTES];
        window::init_header(&mut header, &window.layout).map_err(|_| EINVAL)?;
        window.header.writable().ok_or(EINVAL)?.write_bytes(0, &header).ok_or(EINVAL)?;
        for slot in 0..KERNEL_SLOTS {
            window.write_entry(slot, &KernelEntry::EMPTY).ok_or(EINVAL)?;
        }
        for from in 0..KERNEL_SLOTS {
            for to in (0..KERNEL_SLOTS).filter(|&to| to != from) {
                if let Some(ring) = window.ring(from, to) {
                    ring::init(&ring);
                }
            }
        }
        let me = KernelEntry {
            state: SlotState::Live,
            generation: 1,
            kernel_id: 0,
            notify_apic_id,
            nr_cpus: crate::system::online_cpus().len() as u32,
            mem_bytes: crate::system::total_ram_bytes(),
            heartbeat: 0,
        };
        window.write_entry(0, &me).ok_or(EINVAL)?;
        let trust = Trust::Primary {
            records: [const { Record::new() }; KERNEL_SLOTS],
        };
        Self::build(window, 0, 0, trust)
    }

    /// A secondary's message layer: checks the header the primary wrote and
    /// finds its own slot by its id (marked live later, `announce_live`).
    pub fn new_secondary(info: &SecondaryInfo) -> Result<Arc<Self>> {
        // Every secondary maps the header read-only (`window::header_access`).
        let (header_map, layout) = Self::map_header(info.shared_base, info.shared_size, Access::ReadOnly)?;
        let mut header = [0u8; window::HEADER_BYTES];
        header_map.read_bytes(0, &mut header).ok_or(EINVAL)?;
        window::check_header(&header, &layout).map_err(|e| {
            pr_err!("message layer: {}\n", e);
            errno::eproto()
        })?;
        // Every entry read-only until we know which one is ours.
        let mut entries = Self::map_entries(info.shared_base, |_| Access::ReadOnly)?;
        let entry_of = |slot: usize| -> Option<KernelEntry> {
            let mut bytes = [0u8; window::ENTRY_SIZE];
            entries.get(slot)?.as_ref()?.read_bytes(0, &mut bytes)?;
            KernelEntry::parse(&bytes, slot).ok()
        };
        let slot = (1..KERNEL_SLOTS)
            .find(|&slot| {
                entry_of(slot).is_some_and(|e| {
                    e.kernel_id == info.kernel_id
                        && matches!(e.state, SlotState::Starting | SlotState::Live)
                })
            })
            .ok_or_else(|| {
                pr_err!("message layer: kernel {} is not in the kernel table\n", info.kernel_id);
                ENOENT
            })?;
        let own_page = window::entry_page(slot).map_err(|_| EINVAL)?;
        if let Some(place) = entries.get_mut(slot) {
            *place = Some(TablePage::map(info.shared_base, own_page, window::entry_access(slot, slot))?);
        }
        // Live only once the module's services have registered their kinds
        // (`announce_live`).
        let window = Self::map_rings(header_map, entries, layout, info.shared_base, slot)?;
        let mut own = [0u32; window::MAX_ASSIGNED_CPUS];
        let mut nr_own = 0;
        for cpu in (0..crate::system::nr_cpu_ids()).filter(|&cpu| crate::system::cpu_possible(cpu)) {
            if let (Some(id), Some(place)) = (crate::reservation::cpu_apic_id(cpu), own.get_mut(nr_own)) {
                *place = id;
                nr_own += 1;
            }
        }
        let mut known = [0u32; window::MAX_ASSIGNED_CPUS + 1];
        for (to, &from) in known.iter_mut().zip(own.iter().take(nr_own)) {
            *to = from;
        }
        if let Some(last) = known.get_mut(nr_own) {
            *last = info.notify_apic_id;
        }
        let trust = Trust::Secondary {
            own,
            nr_own,
            primary: info.notify_apic_id,
            max_apic_id: window::max_apic_id(known.get(..=nr_own).unwrap_or(&[])),
        };
        Self::build(window, slot, info.kernel_id, trust)
    }

    /// Maps the window's header page with `access`; the geometry follows
    /// from the window's size.
    fn map_header(base: u64, size: u64, access: Access) -> Result<(TablePage, WindowLayout)> {
        let layout = WindowLayout::for_window(size).map_err(|e| {
            pr_err!("message layer: {}\n", e);
            ENOSPC
        })?;
        let header = TablePage::map(base, crate::shared::HEADER_OFFSET, access)?;
        Ok((header, layout))
    }

    /// Maps every entry page of the kernel table, each as `access` says.
    fn map_entries(base: u64, access: impl Fn(usize) -> Access) -> Result<[Option<TablePage>; KERNEL_SLOTS]> {
        let mut entries = [const { None }; KERNEL_SLOTS];
        for (slot, place) in entries.iter_mut().enumerate() {
            let offset = window::entry_page(slot).map_err(|_| EINVAL)?;
            *place = Some(TablePage::map(base, offset, access(slot))?);
        }
        Ok(entries)
    }

    /// Maps the rings a kernel in `slot` is an end of (every ring on the
    /// primary) and makes the window of them, `header` and `entries`.
    fn map_rings(
        header: TablePage,
        entries: [Option<TablePage>; KERNEL_SLOTS],
        layout: WindowLayout,
        base: u64,
        slot: usize,
    ) -> Result<Arc<Window>> {
        let mut rings: [Option<Arc<PhysMapping>>; window::NR_RINGS] = [const { None }; window::NR_RINGS];
        let len = layout.ring().size();
        for (from, to) in window::mapped_rings(slot) {
            let offset = layout.ring_offset(from, to).map_err(|_| EINVAL)?;
            let index = WindowLayout::ring_index(from, to).map_err(|_| EINVAL)?;
            let phys = base.checked_add(offset).ok_or(EINVAL)?;
            // SAFETY: as in `TablePage::map`: a ring inside the reserved
            // window (`WindowLayout` keeps every ring inside it).
            let map = unsafe { PhysMapping::new(phys, len)? };
            if let Some(place) = rings.get_mut(index) {
                *place = Some(Arc::new(map, GFP_KERNEL)?);
            }
        }
        Ok(Arc::new(Window { header, entries, rings, layout }, GFP_KERNEL)?)
    }

    fn build(window: Arc<Window>, self_slot: usize, self_id: u32, trust: Trust) -> Result<Arc<Self>> {
        let jobs = OwnedQueue::new(c_str!("popcorn_msg_jobs"), KERNEL_SLOTS as u32 * JOBS_PER_PEER)?;
        let mut channels: [Option<Arc<Channel>>; KERNEL_SLOTS] = [const { None }; KERNEL_SLOTS];
        for (slot, place) in channels.iter_mut().enumerate() {
            if slot == self_slot {
                continue;
            }
            let Some(out) = window.ring(self_slot, slot) else {
                return Err(EINVAL);
            };
            let generation = window.entry(slot).map_or(0, |e| e.generation);
            let layout = window.layout.ring();
            // Resume from the indexes in the window: fresh rings read 0,
            // and a module reloaded in a running kernel continues.
            *place = Some(Arc::pin_init(
                pin_init!(Channel {
                    slot,
                    tx <- crate::new_spinlock_bh!(TxSide { sender: Sender::resume(out, layout), generation }),
                    stats: PeerStats::default(),
                    room_wanted: AtomicUsize::new(0),
                    jobs: AtomicU32::new(0),
                }),
                GFP_KERNEL,
            )?);
        }
        Arc::pin_init(
            pin_init!(MsgLayer {
                window,
                self_slot,
                self_id,
                channels,
                handlers <- new_spinlock!([const { None }; (LAST_KIND + 1) as usize]),
                pending <- new_mutex!(Pending {
                    entries: [const { Waiting::Free }; MAX_PENDING],
                    next_tag: 1,
                }),
                replied <- new_condvar!(),
                poll: AtomicBool::new(false),
                listener <- new_spinlock!(None),
                live_peers: AtomicU32::new(0),
                jobs,
                rx_paused: AtomicBool::new(false),
                trust,
                table_lock <- new_mutex!(()),
            }),
            GFP_KERNEL,
        )
    }

    /// This kernel's id.
    pub fn self_id(&self) -> u32 {
        self.self_id
    }

    /// This kernel's slot in the table.
    pub fn self_slot(&self) -> usize {
        self.self_slot
    }

    /// Largest message body a ring carries.
    pub fn max_payload(&self) -> usize {
        self.window.layout.ring().max_payload()
    }

    /// Slots in every ring.
    pub fn ring_slots(&self) -> u32 {
        self.window.layout.ring().nr_slots()
    }

    pub fn polling(&self) -> bool {
        self.poll.load(Ordering::Relaxed)
    }

    pub fn set_polling(&self, on: bool) {
        self.poll.store(on, Ordering::Relaxed);
        // Let a sleeping receive thread see the change now.
        RX_WAIT.wake();
    }

    /// The peer slot of kernel `id`, if it is live.
    fn live_slot(&self, id: u32) -> Option<(usize, Peek)> {
        (0..KERNEL_SLOTS)
            .filter(|&slot| slot != self.self_slot)
            .find_map(|slot| {
                let peer = self.peer(slot)?;
                (peer.kernel_id == id && peer.state == Some(SlotState::Live)).then_some((slot, peer))
            })
    }

    /// What this kernel trusts of peer slot `slot`'s entry ([`Trust`]).
    fn peer(&self, slot: usize) -> Option<Peek> {
        let table = self.window.peek(slot)?;
        match &self.trust {
            Trust::Primary { records } => {
                let view = records.get(slot)?.read();
                let state = window::trusted_state(view.assigned.is_some(), view.state, table.state);
                let (notify_apic_id, refused) = match &view.assigned {
                    Some(a) => match a.notify_target(table.notify_apic_id) {
                        Ok(id) => (id, None),
                        Err(e) => (table.notify_apic_id, Some(e)),
                    },
                    None => (
                        table.notify_apic_id,
                        Some(IpiRefused::NotAssigned {
                            apic_id: table.notify_apic_id,
                        }),
                    ),
                };
                Some(Peek {
                    state: Some(state),
                    generation: view.generation,
                    kernel_id: view.kernel_id,
                    notify_apic_id,
                    refused,
                })
            }
            Trust::Secondary {
                own,
                nr_own,
                primary,
                max_apic_id,
            } => {
                if slot == 0 {
                    return Some(Peek {
                        kernel_id: 0,
                        notify_apic_id: *primary,
                        refused: None,
                        ..table
                    });
                }
                let own = own.get(..*nr_own).unwrap_or(&[]);
                let refused = window::check_peer_notify(table.notify_apic_id, own, *primary, *max_apic_id).err();
                // Kernel id 0 is the primary's, ours is ours, and a second
                // slot claiming an id makes both unusable: a peer writing
                // the table can stop traffic but not take it over.
                let claimed = table.kernel_id == 0
                    || table.kernel_id == self.self_id
                    || (1..KERNEL_SLOTS).filter(|&other| other != slot).any(|other| {
                        self.window.peek(other).is_some_and(|p| {
                            p.kernel_id == table.kernel_id
                                && matches!(p.state, Some(SlotState::Starting | SlotState::Live))
                        })
                    });
                let state = if claimed && table.state == Some(SlotState::Live) {
                    Some(SlotState::Starting)
                } else {
                    table.state
                };
                Some(Peek {
                    state,
                    refused,
                    ..table
                })
            }
        }
    }

    /// Sends the message interrupt to a peer, unless its notify APIC ID
    /// is refused: then none goes (the peer's receive thread still wakes
    /// every 100 ms), counted in `ipis_refused`, with a log line at most
    /// once a second.
    fn notify(&self, channel: &Channel, peer: &Peek) {
        match peer.refused {
            None => {
                msg_ipi::send_msg_ipi(peer.notify_apic_id);
                channel.stats.ipis_sent.fetch_add(1, Ordering::Relaxed);
            }
            Some(why) => {
                channel.stats.ipis_refused.fetch_add(1, Ordering::Relaxed);
                if log_allowed() {
                    pr_warn!(
                        "message layer: no interrupt sent to kernel {} (slot {}): its table entry's {}\n",
                        peer.kernel_id,
                        channel.slot,
                        why
                    );
                }
            }
        }
    }

    /// Whether kernel `id` is live (talking to us) now.
    pub fn peer_live(&self, id: u32) -> bool {
        self.live_slot(id).is_some()
    }

    /// The table slot of kernel `id` while it is live (popnet gives each
    /// slot its own transmit queue).
    pub fn peer_slot(&self, id: u32) -> Option<usize> {
        self.live_slot(id).map(|(slot, _)| slot)
    }

    fn channel(&self, slot: usize) -> Option<&Arc<Channel>> {
        self.channels.get(slot)?.as_ref()
    }

    /// Makes `handler` receive every message of `kind` (from
    /// [`FIRST_USER_KIND`] to [`LAST_KIND`]). `EBUSY` if the kind is taken.
    pub fn register(&self, kind: u16, handler: Arc<dyn MsgHandler>) -> Result {
        if !(FIRST_USER_KIND..=LAST_KIND).contains(&kind) {
            return Err(EINVAL);
        }
        let mut handlers = self.handlers.lock();
        let place = handlers.get_mut(usize::from(kind)).ok_or(EINVAL)?;
        if place.is_some() {
            return Err(EBUSY);
        }
        *place = Some(handler);
        Ok(())
    }

    /// Makes `listener` hear about changes in the number of live peers
    /// (it is told the current number at once); `None` removes it.
    pub fn set_peer_listener(&self, listener: Option<Arc<dyn PeerListener>>) {
        if let Some(l) = &listener {
            l.peers_changed(self.live_peers.load(Ordering::Relaxed) as usize);
        }
        *self.listener.lock() = listener;
    }

    /// Live peers as the watcher last saw them.
    pub fn live_peers(&self) -> usize {
        self.live_peers.load(Ordering::Relaxed) as usize
    }

    fn peers_now(&self, live: usize) {
        let old = self.live_peers.swap(live as u32, Ordering::Relaxed);
        if old as usize != live {
            let listener = self.listener.lock().clone();
            if let Some(l) = listener {
                l.peers_changed(live);
            }
        }
    }

    /// Stops delivering `kind`; a call already running finishes with its
    /// own reference to the handler.
    pub fn unregister(&self, kind: u16) {
        if let Some(place) = self.handlers.lock().get_mut(usize::from(kind)) {
            *place = None;
        }
    }

    /// Sends `body` as a message of `kind` to kernel `to`. Errors:
    /// `EHOSTUNREACH` (no such live kernel), `EMSGSIZE` (longer than
    /// [`MsgLayer::max_payload`]), `EAGAIN`/`ETIMEDOUT` (ring full, by
    /// `mode`), `EIO` (the peer's side of the ring is corrupt and did not
    /// recover).
    pub fn send(&self, to: u32, kind: u16, body: &[u8], mode: SendMode) -> Result {
        self.send_parts(to, kind, &[body], mode)
    }

    /// As [`MsgLayer::send`], with the body in `parts` one after the other
    /// (a header and a payload, say), gathered only in the ring.
    pub fn send_parts(&self, to: u32, kind: u16, parts: &[&[u8]], mode: SendMode) -> Result {
        if !(FIRST_USER_KIND..=LAST_KIND).contains(&kind) {
            return Err(EINVAL);
        }
        let (slot, _) = self.live_slot(to).ok_or(errno::ehostunreach())?;
        self.send_to_slot(slot, kind, parts, mode)
    }

    /// Sends one message to every live kernel; the first error wins, but
    /// every peer is tried.
    pub fn send_all(&self, kind: u16, body: &[u8], mode: SendMode) -> Result {
        self.send_all_parts(kind, &[body], mode)
    }

    /// As [`MsgLayer::send_all`], with the body in `parts`.
    pub fn send_all_parts(&self, kind: u16, parts: &[&[u8]], mode: SendMode) -> Result {
        if !(FIRST_USER_KIND..=LAST_KIND).contains(&kind) {
            return Err(EINVAL);
        }
        let mut result = Ok(());
        for slot in (0..KERNEL_SLOTS).filter(|&s| s != self.self_slot) {
            if self.peer(slot).is_some_and(|p| p.state == Some(SlotState::Live)) {
                let sent = self.send_to_slot(slot, kind, parts, mode);
                if result.is_ok() {
                    result = sent;
                }
            }
        }
        result
    }

    fn send_to_slot(&self, slot: usize, kind: u16, parts: &[&[u8]], mode: SendMode) -> Result {
        let channel = self.channel(slot).ok_or(errno::ehostunreach())?;
        let started = monotonic_ms();
        let mut counted_full = false;
        let mut recovered = false;
        loop {
            let entry = self.peer(slot).ok_or(errno::ehostunreach())?;
            if entry.state != Some(SlotState::Live) {
                return Err(errno::ehostunreach());
            }
            let result = self.with_sender(channel, entry, |sender| sender.send_parts(kind, parts))?;
            match result {
                Ok(sent) => {
                    channel.stats.sent.fetch_add(1, Ordering::Relaxed);
                    if sent.notify && !self.polling() {
                        self.notify(channel, &entry);
                    }
                    return Ok(());
                }
                Err(RingError::Full { .. }) => {
                    if !counted_full {
                        channel.stats.ring_full.fetch_add(1, Ordering::Relaxed);
                        counted_full = true;
                    }
                    match mode {
                        SendMode::NoWait => return Err(EAGAIN),
                        SendMode::BestEffort => {
                            channel.stats.dropped.fetch_add(1, Ordering::Relaxed);
                            return Ok(());
                        }
                        SendMode::Wait { timeout_ms } => {
                            if monotonic_ms().saturating_sub(started) >= u64::from(timeout_ms) {
                                return Err(errno::etimedout());
                            }
                            let len = parts.iter().map(|p| p.len()).sum();
                            self.wait_for_room(channel, len);
                        }
                    }
                }
                Err(RingError::BadIndexes { head, tail }) if !recovered => {
                    // The peer's receiver jumped (it resynced after
                    // garbage in our ring) or wrote nonsense: meet it
                    // where it is and try once more.
                    let abandoned = channel.tx.lock().sender.restart_at_tail();
                    channel.stats.corrupt.fetch_add(1, Ordering::Relaxed);
                    channel.stats.dropped.fetch_add(u64::from(abandoned), Ordering::Relaxed);
                    pr_warn!(
                        "message layer: ring to kernel {} had head {} tail {}; restarted at its tail\n",
                        entry.kernel_id,
                        head,
                        tail
                    );
                    recovered = true;
                }
                Err(e) => return Err(ring_errno(e)),
            }
        }
    }

    /// Runs `f` on the sender to `channel`'s peer under its lock, after
    /// following a new kernel in that slot (the primary reset its rings).
    fn with_sender<R>(
        &self,
        channel: &Channel,
        entry: Peek,
        f: impl FnOnce(&mut Sender<WindowRing>) -> R,
    ) -> Result<R> {
        let mut tx = channel.tx.lock();
        if tx.generation != entry.generation {
            let ring = self.window.ring(self.self_slot, channel.slot).ok_or(EINVAL)?;
            tx.sender = Sender::resume(ring, self.window.layout.ring());
            tx.generation = entry.generation;
        }
        Ok(f(&mut tx.sender))
    }

    /// Whether a message of `len` bytes to kernel `to` fits in its ring
    /// now. `EHOSTUNREACH` if no such kernel is live.
    pub fn has_room(&self, to: u32, len: usize) -> Result<bool> {
        let (slot, entry) = self.live_slot(to).ok_or(errno::ehostunreach())?;
        let channel = self.channel(slot).ok_or(errno::ehostunreach())?;
        self.with_sender(channel, entry, |sender| sender.has_room_for(len))
    }

    /// For senders that cannot wait in place (popnet's transmit): asks
    /// kernel `to` to say when its ring has room for `len` bytes. `true`:
    /// there is room now, send; `false`: the peer listener's
    /// [`PeerListener::room_available`] will be called once there is (or
    /// the kernel left). `EHOSTUNREACH` if no such kernel is live.
    pub fn want_room(&self, to: u32, len: usize) -> Result<bool> {
        let (slot, entry) = self.live_slot(to).ok_or(errno::ehostunreach())?;
        let channel = self.channel(slot).ok_or(errno::ehostunreach())?;
        // Before asking, so that an answer arriving at once finds it.
        channel.room_wanted.store(len.max(1), Ordering::SeqCst);
        let room = self.with_sender(channel, entry, |sender| sender.want_room(len))?;
        if room {
            channel.room_wanted.store(0, Ordering::SeqCst);
        }
        Ok(room)
    }

    /// Tells the peer listener about every ring whose sender asked for
    /// room and now has it, or whose peer left. Called by the receive
    /// thread after each pass (a peer's answer is an interrupt that wakes
    /// it) and by the peer watcher.
    fn answer_room_waiters(&self) {
        for channel in self.channels.iter().flatten() {
            let len = channel.room_wanted.load(Ordering::SeqCst);
            if len == 0 {
                continue;
            }
            let entry = self.peer(channel.slot);
            let ready = match entry {
                Some(e) if e.state == Some(SlotState::Live) => {
                    self.with_sender(channel, e, |sender| sender.has_room_for(len)).unwrap_or(true)
                }
                _ => true,
            };
            if !ready
                || channel
                    .room_wanted
                    .compare_exchange(len, 0, Ordering::SeqCst, Ordering::SeqCst)
                    .is_err()
            {
                continue;
            }
            let listener = self.listener.lock().clone();
            if let (Some(l), Some(e)) = (listener, entry) {
                l.room_available(e.kernel_id);
            }
        }
    }

    /// Waits a little for room for `len` bytes in `channel`'s ring: the
    /// receiver is awake (its ring is not empty) and frees slots within
    /// microseconds, so spin for a while before sleeping (a sleep costs far
    /// more than the wait usually takes).
    fn wait_for_room(&self, channel: &Channel, len: usize) {
        let until = crate::kthread::monotonic_ns().saturating_add(FULL_SPIN_NS);
        while crate::kthread::monotonic_ns() < until {
            if channel.tx.lock().sender.has_room_for(len) {
                return;
            }
            core::hint::spin_loop();
        }
        wait_a_little(self.polling());
    }

    /// Sends a request of `kind` to kernel `to` and waits up to
    /// `timeout_ms` for the answer. Errors as [`MsgLayer::send`], plus
    /// `ETIMEDOUT` (no answer), `EHOSTDOWN` (the peer went away while we
    /// waited), `ENOBUFS` (too many requests in flight), `EINTR` (signal),
    /// or the errno the peer's handler answered with.
    pub fn request(&self, to: u32, kind: u16, body: &[u8], timeout_ms: u32) -> Result<KVec<u8>> {
        if kind != KIND_PING && !(FIRST_USER_KIND..=LAST_KIND).contains(&kind) {
            return Err(EINVAL);
        }
        let (slot, _) = self.live_slot(to).ok_or(errno::ehostunreach())?;
        let (index, tag) = {
            let mut pending = self.pending.lock();
            let index = pending
                .entries
                .iter()
                .position(|w| matches!(w, Waiting::Free))
                .ok_or(errno::enobufs())?;
            let tag = pending.next_tag;
            pending.next_tag = tag.wrapping_add(1).max(1);
            if let Some(place) = pending.entries.get_mut(index) {
                *place = Waiting::Reply { tag, slot };
            }
            (index, tag)
        };
        let started = monotonic_ms();
        let sent = self.send_to_slot(
            slot,
            kind | REQUEST,
            &[&tag.to_le_bytes(), body],
            SendMode::Wait { timeout_ms },
        );
        let result = match sent {
            Ok(()) => self.wait_reply(index, started, timeout_ms),
            Err(e) => Err(e),
        };
        if let Some(place) = self.pending.lock().entries.get_mut(index) {
            *place = Waiting::Free;
        }
        result
    }

    fn wait_reply(&self, index: usize, started: u64, timeout_ms: u32) -> Result<KVec<u8>> {
        let mut pending = self.pending.lock();
        loop {
            let entry = pending.entries.get_mut(index).ok_or(EINVAL)?;
            if let Waiting::Done(_) = entry {
                if let Waiting::Done(result) = core::mem::replace(entry, Waiting::Free) {
                    return result;
                }
            }
            let elapsed = monotonic_ms().saturating_sub(started);
            let left = u64::from(timeout_ms).saturating_sub(elapsed);
            if left == 0 {
                return Err(errno::etimedout());
            }
            let jiffies = kernel::time::msecs_to_jiffies(u32::try_from(left).unwrap_or(u32::MAX));
            if let CondVarTimeoutResult::Signal { .. } =
                self.replied.wait_interruptible_timeout(&mut pending, jiffies)
            {
                return Err(EINTR);
            }
        }
    }

    /// Completes the request waiting for `tag` from `slot`, if any (a late
    /// answer to a request that timed out finds none and is dropped).
    fn complete(&self, slot: usize, tag: u32, result: Result<KVec<u8>>) -> bool {
        let mut pending = self.pending.lock();
        let found = pending
            .entries
            .iter_mut()
            .find(|w| matches!(w, Waiting::Reply { tag: t, slot: s } if *t == tag && *s == slot));
        let Some(place) = found else {
            return false;
        };
        *place = Waiting::Done(result);
        drop(pending);
        self.replied.notify_all();
        true
    }

    /// Fails every request waiting for `slot` (its kernel went away).
    fn fail_requests_to(&self, slot: usize) {
        let mut pending = self.pending.lock();
        let mut failed = false;
        for place in pending.entries.iter_mut() {
            if matches!(place, Waiting::Reply { slot: s, .. } if *s == slot) {
                *place = Waiting::Done(Err(errno::ehostdown()));
                failed = true;
            }
        }
        drop(pending);
        if failed {
            self.replied.notify_all();
        }
    }

    /// One round trip to kernel `to` with a [`PING_BYTES`] payload;
    /// returns the round-trip time in nanoseconds.
    pub fn ping(&self, to: u32) -> Result<u64> {
        let mut body = [0u8; PING_BYTES];
        for (i, byte) in body.iter_mut().enumerate() {
            *byte = i as u8 ^ 0x5a;
        }
        let start = crate::kthread::monotonic_ns();
        let reply = self.request(to, KIND_PING, &body, PING_TIMEOUT_MS)?;
        let rtt = crate::kthread::monotonic_ns().saturating_sub(start);
        if reply.as_slice() != body {
            pr_err!("ping: kernel {} answered with different bytes\n", to);
            return Err(EIO);
        }
        Ok(rtt)
    }

    // ---- The receive side ----

    /// The receiving ends of every peer's ring, resumed from the indexes
    /// in the window (0 on fresh rings).
    fn rx_sides(&self) -> RxSides {
        let mut sides: RxSides = [const { None }; KERNEL_SLOTS];
        for (slot, side) in sides.iter_mut().enumerate() {
            if slot == self.self_slot {
                continue;
            }
            if let Some(ring) = self.window.ring(slot, self.self_slot) {
                *side = Some(RxSide {
                    receiver: Receiver::resume(ring, self.window.layout.ring()),
                    generation: self.peer(slot).map_or(0, |p| p.generation),
                });
            }
        }
        sides
    }

    /// Takes up to [`BATCH`] frames from every live peer; returns how many.
    /// Then tells each handler that got a message that the pass is over.
    fn drain_all(self: &Arc<Self>, sides: &mut RxSides, buf: &mut [u8], woken: bool) -> usize {
        let mut total = 0;
        // Bit k: a one-way message of user kind k was handed out.
        let mut kinds: u64 = 0;
        for (slot, side) in sides.iter_mut().enumerate() {
            if let Some(side) = side {
                total += self.drain(slot, side, buf, woken, &mut kinds);
            }
        }
        for kind in FIRST_USER_KIND..=LAST_KIND {
            if kinds & (1u64 << kind) != 0 {
                if let Some(handler) = self.handler(kind) {
                    handler.on_batch_end();
                }
            }
        }
        total
    }

    fn drain(self: &Arc<Self>, slot: usize, rx: &mut RxSide, buf: &mut [u8], woken: bool, kinds: &mut u64) -> usize {
        let (Some(channel), Some(peer)) = (self.channel(slot), self.peer(slot)) else {
            return 0;
        };
        if rx.generation != peer.generation {
            let Some(ring) = self.window.ring(slot, self.self_slot) else {
                return 0;
            };
            rx.receiver = Receiver::resume(ring, self.window.layout.ring());
            rx.generation = peer.generation;
        }
        if peer.state != Some(SlotState::Live) {
            return 0;
        }
        let from = From {
            id: peer.kernel_id,
            slot,
        };
        let mut got = 0;
        while got < BATCH {
            match rx.receiver.receive(buf) {
                Ok(Some(frame)) => {
                    got += 1;
                    channel.stats.received.fetch_add(1, Ordering::Relaxed);
                    let body = buf.get(..frame.len).unwrap_or(&[]);
                    if (FIRST_USER_KIND..=LAST_KIND).contains(&frame.kind) {
                        *kinds |= 1u64 << frame.kind;
                    }
                    self.dispatch(channel, from, frame.kind, body);
                }
                Ok(None) => break,
                Err(e) => {
                    let dropped = rx.receiver.resync();
                    channel.stats.corrupt.fetch_add(1, Ordering::Relaxed);
                    channel.stats.dropped.fetch_add(u64::from(dropped), Ordering::Relaxed);
                    if log_allowed() {
                        pr_err!(
                            "message layer: ring from kernel {}: {}; dropped {} slots and resynced\n",
                            from.id,
                            e,
                            dropped
                        );
                    }
                    break;
                }
            }
        }
        if woken && got > 0 {
            channel.stats.ipis_received.fetch_add(1, Ordering::Relaxed);
        }
        // Slots went back: a sender that asked for room hears about it.
        if got > 0 && rx.receiver.room_wanted() && !self.polling() {
            self.notify(channel, &peer);
        }
        got
    }

    fn dispatch(self: &Arc<Self>, channel: &Channel, from: From, kind: u16, body: &[u8]) {
        if kind == KIND_REPLY {
            let (Some(header), Some(rest)) = (body.get(..REPLY_HEADER_SIZE), body.get(REPLY_HEADER_SIZE..))
            else {
                self.drop_frame(channel, from, kind, "a reply without its header");
                return;
            };
            let tag = read_u32(header, 0).unwrap_or(0);
            let status = read_u32(header, 4).unwrap_or(0) as i32;
            let result = match status {
                0 => copy_of(rest),
                // A peer's errno is data: only a valid errno becomes one.
                -4095..=-1 => Err(Error::from_errno(status)),
                _ => Err(EIO),
            };
            if !self.complete(from.slot, tag, result) {
                self.drop_frame(channel, from, kind, "a reply nobody waits for");
            }
            return;
        }
        if kind & REQUEST != 0 {
            let base = kind & !REQUEST;
            let (Some(tag), Some(rest)) = (body.get(..TAG_SIZE), body.get(TAG_SIZE..)) else {
                self.drop_frame(channel, from, kind, "a request without its tag");
                return;
            };
            let tag = read_u32(tag, 0).unwrap_or(0);
            let answer = if base == KIND_PING {
                Answer::Now(copy_of(rest))
            } else {
                match self.handler(base) {
                    Some(handler) => handler.on_request(from, rest),
                    None => Answer::Now(Err(errno::eopnotsupp())),
                }
            };
            match answer {
                Answer::Now(result) => self.reply_now(channel, from, tag, result),
                Answer::Later(work) => self.defer(channel, from, tag, Job::Run(work)),
            }
            return;
        }
        match self.handler(kind) {
            Some(handler) => handler.on_message(from, body),
            None => self.drop_frame(channel, from, kind, "no handler for it"),
        }
    }

    /// Sends a request's answer from the receive thread, which must not
    /// wait: if the ring has no room now (the peer does not drain it, or
    /// is busy sending to us), a worker sends it.
    fn reply_now(self: &Arc<Self>, channel: &Channel, from: From, tag: u32, result: Result<KVec<u8>>) {
        match self.send_reply(from.slot, tag, &result, SendMode::NoWait) {
            Ok(()) => {}
            Err(e) if e == EAGAIN => self.defer(channel, from, tag, Job::Send(result)),
            Err(_) => {
                channel.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Hands a peer's job to a worker, unless that peer has
    /// [`JOBS_PER_PEER`] there already: then a request is refused with
    /// `EBUSY` and a reply dropped (the requester's time limit ends its
    /// wait), with a rate-limited log line.
    fn defer(self: &Arc<Self>, channel: &Channel, from: From, tag: u32, job: Job) {
        let taken = channel
            .jobs
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < JOBS_PER_PEER).then_some(n + 1))
            .is_ok();
        let generation = self.window.peek(from.slot).map_or(0, |p| p.generation);
        let refused = if taken {
            let layer = self.clone();
            let slot = from.slot;
            let spawned = self.jobs.spawn(move || {
                let result = match job {
                    Job::Run(work) => work.run(),
                    Job::Send(result) => result,
                };
                layer.reply_later(slot, generation, tag, &result);
                if let Some(channel) = layer.channel(slot) {
                    channel.jobs.fetch_sub(1, Ordering::AcqRel);
                }
            });
            match spawned {
                Ok(()) => return,
                Err(_) => {
                    channel.jobs.fetch_sub(1, Ordering::AcqRel);
                    "no memory for a job"
                }
            }
        } else {
            "it has too many requests in progress here"
        };
        // Only the refusal's errno goes back (what did not fit is dropped).
        let sent = self.send_reply(from.slot, tag, &Err(EBUSY), SendMode::NoWait);
        channel.stats.dropped.fetch_add(u64::from(sent.is_err()), Ordering::Relaxed);
        if log_allowed() {
            pr_warn!("message layer: refused a request from kernel {}: {}\n", from.id, refused);
        }
    }

    /// Sends an answer from a worker: it may wait a while for room, but
    /// only if the peer in `slot` is still the one that asked.
    fn reply_later(&self, slot: usize, generation: u32, tag: u32, result: &Result<KVec<u8>>) {
        let Some(channel) = self.channel(slot) else { return };
        let same = self.window.peek(slot).is_some_and(|p| p.generation == generation);
        let sent = same && self.send_reply(slot, tag, result, SendMode::Wait { timeout_ms: REPLY_WAIT_MS }).is_ok();
        if !sent {
            channel.stats.dropped.fetch_add(1, Ordering::Relaxed);
            if log_allowed() {
                pr_warn!("message layer: dropped a reply to the kernel in slot {}: its ring stayed full\n", slot);
            }
        }
    }

    fn send_reply(&self, slot: usize, tag: u32, result: &Result<KVec<u8>>, mode: SendMode) -> Result {
        let (status, body): (i32, &[u8]) = match result {
            Ok(bytes) => (0, bytes.as_slice()),
            Err(e) => (e.to_errno(), &[]),
        };
        self.send_to_slot(slot, KIND_REPLY, &[&tag.to_le_bytes(), &status.to_le_bytes(), body], mode)
    }

    /// Waits until every job queued so far has run (module unload).
    pub fn flush_jobs(&self) {
        self.jobs.flush();
    }

    fn handler(&self, kind: u16) -> Option<Arc<dyn MsgHandler>> {
        self.handlers.lock().get(usize::from(kind))?.clone()
    }

    fn drop_frame(&self, channel: &Channel, from: From, kind: u16, why: &str) {
        channel.stats.dropped.fetch_add(1, Ordering::Relaxed);
        if log_allowed() {
            pr_warn!(
                "message layer: dropped a message of kind {:#x} from kernel {}: {}\n",
                kind,
                from.id,
                why
            );
        }
    }

    /// Tells every peer's sender that we may sleep; `false` (and nothing
    /// announced) if a frame is already waiting somewhere.
    fn prepare_to_sleep(sides: &RxSides) -> bool {
        for (index, side) in sides.iter().enumerate() {
            let Some(side) = side else { continue };
            if !side.receiver.prepare_to_sleep() {
                Self::woken(sides.get(..index).unwrap_or(&[]));
                return false;
            }
        }
        true
    }

    /// Clears `waiting` on these rings.
    fn woken(sides: &[Option<RxSide>]) {
        for side in sides.iter().flatten() {
            side.receiver.woken();
        }
    }

    // ---- Changes in the table ----

    /// Called by the primary's loader before it starts a kernel in `slot`:
    /// fresh rings to and from the slot, then its entry with a new
    /// generation, state `starting`.
    /// `apic_ids` are the APIC IDs of its CPUs, boot CPU first (where its
    /// message interrupt goes); the primary records them with the id and
    /// generation and interrupts no other CPU for this kernel.
    pub fn announce_start(&self, slot: usize, kernel_id: u32, apic_ids: &[u32], mem_bytes: u64) -> Result {
        let Trust::Primary { records } = &self.trust else {
            return Err(EINVAL);
        };
        let record = records.get(slot).ok_or(EINVAL)?;
        if slot == self.self_slot {
            return Err(EINVAL);
        }
        let _table = self.table_lock.lock();
        let generation = record.read().generation.wrapping_add(1);
        let assigned = Assignment::new(kernel_id, generation, apic_ids).ok_or(EINVAL)?;
        for other in (0..KERNEL_SLOTS).filter(|&o| o != slot) {
            for (from, to) in [(slot, other), (other, slot)] {
                if let Some(ring) = self.window.ring(from, to) {
                    ring::init(&ring);
                }
            }
        }
        fence(Ordering::SeqCst);
        record.write(Some(&assigned));
        let entry = KernelEntry {
            state: SlotState::Starting,
            generation,
            kernel_id,
            notify_apic_id: assigned.notify_apic_id(),
            nr_cpus: u32::try_from(apic_ids.len()).unwrap_or(u32::MAX),
            mem_bytes,
            heartbeat: 0,
        };
        self.window.write_entry(slot, &entry).ok_or(EINVAL)
    }

    /// Called by the primary's loader once the kernel in `slot` has
    /// stopped or crashed: it leaves the table.
    pub fn announce_end(&self, slot: usize) {
        if slot != self.self_slot {
            let _table = self.table_lock.lock();
            if let Trust::Primary { records } = &self.trust {
                if let Some(record) = records.get(slot) {
                    record.write(None);
                }
            }
            let _ = self.window.set_state(slot, SlotState::Gone);
            drop(_table);
            self.fail_requests_to(slot);
        }
    }

    /// The primary's look at the table (by the peer watcher): an entry
    /// whose kernel id, generation or notify APIC ID is not what the
    /// primary assigned, or that claims a state for a slot whose kernel
    /// ended, was written by a kernel that may not: log it (at most once
    /// a second) and write back the primary's values, so that the other
    /// secondaries, which can only read the table, see the truth again.
    /// The primary itself never used the forged values.
    pub fn check_table(&self) {
        let Trust::Primary { records } = &self.trust else {
            return;
        };
        let _table = self.table_lock.lock();
        for (slot, record) in records.iter().enumerate().filter(|&(s, _)| s != self.self_slot) {
            let view = record.read();
            let raw = self.window.peek(slot);
            let entry = self.window.entry(slot);
            let (forged, repair) = match (&view.assigned, entry) {
                (Some(a), Some(e)) => {
                    let f = a.forged(&e);
                    (f.any(), Some(a))
                }
                (Some(a), None) => (true, Some(a)),
                (None, _) => (
                    raw.is_some_and(|p| p.state.map_or(true, |s| s != view.state)),
                    None,
                ),
            };
            if !forged {
                continue;
            }
            // Its own limit: the forger's traffic must not hide this line.
            static LAST_MS: AtomicU64 = AtomicU64::new(0);
            if once_a_second(&LAST_MS) {
                pr_warn!(
                    "message layer: slot {}'s table entry was overwritten (kernel id {}, generation {}, notify APIC ID {:#x}); the primary ignores it and restores kernel {}'s\n",
                    slot,
                    raw.map_or(0, |p| p.kernel_id),
                    raw.map_or(0, |p| p.generation),
                    raw.map_or(0, |p| p.notify_apic_id),
                    view.kernel_id
                );
            }
            let page = self.window.entry_page(slot).and_then(TablePage::writable);
            let store = |at: usize, value: u32| {
                if let Some(word) = page.and_then(|page| page.atomic_u32(at)) {
                    word.store(value, Ordering::Relaxed);
                }
            };
            match repair {
                Some(a) => {
                    store(4, a.generation);
                    store(8, a.kernel_id);
                    if a.notify_target(raw.map_or(0, |p| p.notify_apic_id)).is_err() {
                        store(12, a.notify_apic_id());
                    }
                    // A state no kernel writes becomes `starting`.
                    if raw.is_some_and(|p| p.state.is_none()) {
                        store(0, 1);
                    }
                }
                None => store(0, if view.state == SlotState::Empty { 0 } else { 3 }),
            }
        }
    }

    /// Scribbles over this kernel's ring to kernel `to`, as a misbehaving
    /// kernel would: first frames of random bytes, then a random `head`.
    /// For the robustness test (`msgtest/corrupt`); the peer must log,
    /// drop and carry on, and the ring must recover.
    #[cfg(popcorn_test_hooks)]
    pub fn scribble(&self, to: u32) -> Result {
        let (slot, entry) = self.live_slot(to).ok_or(errno::ehostunreach())?;
        let channel = self.channel(slot).ok_or(errno::ehostunreach())?;
        let ring = self.window.layout.ring();
        let mut garbage = [0u8; 8 * ring::SLOT_SIZE];
        fill_random(&mut garbage);
        {
            let tx = channel.tx.lock();
            let mem = tx.sender.memory();
            let head = mem.load_head();
            let at = (head as usize).checked_rem(ring.nr_slots() as usize).unwrap_or(0) * ring::SLOT_SIZE;
            let room = ring.slot_area().saturating_sub(at).min(garbage.len());
            mem.write_slots(at, garbage.get(..room).unwrap_or(&[]));
            mem.store_head(head.wrapping_add((room / ring::SLOT_SIZE) as u32));
        }
        self.notify(channel, &entry);
        crate::kthread::sleep_ms(200);
        {
            let tx = channel.tx.lock();
            let mut word = [0u8; 4];
            fill_random(&mut word);
            tx.sender.memory().store_head(u32::from_le_bytes(word));
        }
        self.notify(channel, &entry);
        pr_warn!("message layer: wrote garbage into the ring to kernel {} (test)\n", to);
        Ok(())
    }

    /// Tells the other kernels that this one talks: its table entry becomes
    /// `live`, and they start sending. A secondary's module calls it once
    /// every service has registered its kinds, so that no peer's first
    /// request finds a kind nobody answers yet (`EOPNOTSUPP`, seen as a
    /// race in migrate-basic). The primary is live from the start: no
    /// secondary runs while its module loads.
    pub fn announce_live(&self) -> Result {
        self.window.set_state(self.self_slot, SlotState::Live).ok_or(EINVAL)
    }

    /// Test hook (`msgtest/rx_pause`): stops or resumes draining the
    /// rings to this kernel.
    #[cfg(popcorn_test_hooks)]
    pub fn pause_rx(&self, paused: bool) {
        self.rx_paused.store(paused, Ordering::Relaxed);
        RX_WAIT.wake();
    }

    /// Test hook (`msgtest/flood`): sends `count` ping requests to kernel
    /// `to` without waiting for their replies, as a hostile kernel would
    /// (tag 0, which no request of ours uses: the replies are dropped).
    #[cfg(popcorn_test_hooks)]
    pub fn flood_requests(&self, to: u32, count: u32) -> Result {
        let (slot, _) = self.live_slot(to).ok_or(errno::ehostunreach())?;
        let body = [0u8; PING_BYTES];
        for _ in 0..count {
            self.send_to_slot(slot, KIND_PING | REQUEST, &[&0u32.to_le_bytes(), &body], SendMode::Wait { timeout_ms: PING_TIMEOUT_MS })?;
            if kernel::current!().signal_pending() {
                return Err(EINTR);
            }
        }
        Ok(())
    }

    /// Overwrites table entry `slot` (this kernel's own for `None`) with a
    /// forged notify APIC ID, kernel id and generation, as a broken or
    /// hostile kernel would, and pings the primary `rounds` times, forging
    /// again before each. For the robustness test (`msgtest/forge_entry`):
    /// the primary must interrupt none but this kernel's CPUs, keep calling
    /// it by its real id, and write its own values back. Another kernel's
    /// entry, which a secondary maps read-only, is not written: `EACCES`.
    #[cfg(popcorn_test_hooks)]
    pub fn forge_entry(&self, slot: Option<usize>, apic_id: u32, kernel_id: u32, generation: u32, rounds: u32) -> Result {
        let slot = slot.unwrap_or(self.self_slot);
        let Some(page) = self.window.entry_page(slot).ok_or(EINVAL)?.writable() else {
            pr_warn!("message layer: slot {}'s table entry is mapped read-only here: not forged (test)\n", slot);
            return Err(EACCES);
        };
        let forge = || {
            for (at, value) in [(4, generation), (8, kernel_id), (12, apic_id)] {
                if let Some(word) = page.atomic_u32(at) {
                    word.store(value, Ordering::Release);
                }
            }
        };
        pr_warn!(
            "message layer: forging slot {}'s table entry: notify APIC ID {:#x}, kernel id {}, generation {} (test)\n",
            slot,
            apic_id,
            kernel_id,
            generation
        );
        for _ in 0..rounds {
            forge();
            self.ping(0)?;
        }
        Ok(())
    }

    /// Whether the page tables let this kernel write the header page
    /// (first) and each entry page, by slot (`msgtest/table_access`).
    #[cfg(popcorn_test_hooks)]
    pub fn table_access(&self) -> [Option<bool>; KERNEL_SLOTS + 1] {
        let mut access = [None; KERNEL_SLOTS + 1];
        let pages = Iterator::chain(
            core::iter::once(Some(&self.window.header)),
            self.window.entries.iter().map(Option::as_ref),
        );
        for (place, page) in access.iter_mut().zip(pages) {
            *place = page.and_then(TablePage::hardware_writable);
        }
        access
    }

    /// The table as the peer watcher sees it.
    fn peer_entry(&self, slot: usize) -> Option<KernelEntry> {
        if slot == self.self_slot {
            return None;
        }
        let peer = self.peer(slot)?;
        Some(KernelEntry {
            state: peer.state?,
            generation: peer.generation,
            kernel_id: peer.kernel_id,
            notify_apic_id: peer.notify_apic_id,
            ..KernelEntry::EMPTY
        })
    }
}

#[pinned_drop]
impl PinnedDrop for MsgLayer {
    fn drop(self: Pin<&mut Self>) {
        // Present but not talking: peers stop sending to us. The primary
        // going away ends every kernel, so it simply leaves.
        let state = if self.self_slot == 0 {
            SlotState::Gone
        } else {
            SlotState::Starting
        };
        let _ = self.window.set_state(self.self_slot, state);
    }
}

fn copy_of(bytes: &[u8]) -> Result<KVec<u8>> {
    let mut copy = KVec::new();
    copy.extend_from_slice(bytes, GFP_KERNEL)?;
    Ok(copy)
}

fn fill_random(bytes: &mut [u8]) {
    // SAFETY: writes exactly `bytes.len()` bytes into `bytes`.
    unsafe { kernel::bindings::get_random_bytes(bytes.as_mut_ptr().cast(), bytes.len()) };
}

/// Gives the other side a moment: a short sleep, or in polling mode a
/// reschedule point only.
fn wait_a_little(polling: bool) {
    if polling {
        crate::kthread::cond_resched();
    } else {
        crate::kthread::sleep_us(20, 100);
    }
}

/// The receive thread's body.
struct RxThread(Arc<MsgLayer>);

impl ThreadBody for RxThread {
    fn run(&self, ctx: &ThreadContext) {
        let msg = &self.0;
        let mut buf = KVec::new();
        if buf.extend_with(msg.max_payload(), 0u8, GFP_KERNEL).is_err() {
            pr_err!("message layer: no memory for the receive buffer; not receiving\n");
            return;
        }
        let mut sides = msg.rx_sides();
        let mut woken = false;
        while !ctx.should_stop() {
            if msg.rx_paused.load(Ordering::Relaxed) {
                ctx.sleep_ms(10);
                continue;
            }
            let got = msg.drain_all(&mut sides, buf.as_mut_slice(), woken);
            msg.answer_room_waiters();
            woken = false;
            if got > 0 || msg.polling() {
                crate::kthread::cond_resched();
                continue;
            }
            // Announce the sleep on every ring (while still running), then
            // queue on the wait queue and sleep unless an interrupt came in
            // between: a sender that published after our last look saw
            // `waiting` and interrupted us, which set KICKED, or wakes us
            // once we are queued.
            KICKED.store(false, Ordering::SeqCst);
            if !MsgLayer::prepare_to_sleep(&sides) {
                continue;
            }
            RX_WAIT.sleep_unless(RX_IDLE_MS, || {
                KICKED.load(Ordering::SeqCst) || ctx.should_stop()
            });
            MsgLayer::woken(&sides);
            woken = true;
        }
    }
}

/// Refreshes `peers/` and fails requests to kernels that left.
#[pin_data]
struct PeerWatch {
    msg: Arc<MsgLayer>,
    #[pin]
    dirs: Mutex<PeerDirs>,
}

struct PeerDirs {
    /// Per slot: the generation shown and its directory. Declared before
    /// `root` so that the children go first.
    shown: [Option<(u32, Dir)>; KERNEL_SLOTS],
    root: Dir,
    /// Per slot: whether it was live at the last look.
    live: [bool; KERNEL_SLOTS],
}

impl ThreadBody for PeerWatch {
    fn run(&self, ctx: &ThreadContext) {
        while !ctx.should_stop() {
            self.msg.check_table();
            self.refresh();
            ctx.sleep_ms(PEER_WATCH_MS);
        }
    }
}

impl PeerWatch {
    fn refresh(&self) {
        let mut dirs = self.dirs.lock();
        let dirs = &mut *dirs;
        let mut live_peers = 0;
        for slot in 0..KERNEL_SLOTS {
            let entry = self.msg.peer_entry(slot);
            let live = entry.is_some_and(|e| e.state == SlotState::Live);
            live_peers += usize::from(live);
            let was_live = dirs.live.get(slot).copied().unwrap_or(false);
            if was_live && !live {
                self.msg.fail_requests_to(slot);
            }
            if let Some(place) = dirs.live.get_mut(slot) {
                *place = live;
            }
            let Some(entry) = entry else { continue };
            let Some(shown) = dirs.shown.get_mut(slot) else { continue };
            let current = shown.as_ref().map(|(generation, _)| *generation);
            let wanted = match entry.state {
                SlotState::Empty => None,
                _ if entry.generation == 0 => None,
                _ => Some(entry.generation),
            };
            if current == wanted {
                continue;
            }
            // A new kernel in the slot (or none): its directory replaces
            // the old one, with counters from zero.
            *shown = None;
            if let (Some(generation), Some(channel)) = (wanted, self.msg.channel(slot)) {
                channel.stats.reset();
                match peer_dir(&dirs.root, &self.msg, channel, entry.kernel_id) {
                    Ok(dir) => *shown = Some((generation, dir)),
                    Err(e) => pr_err!("cannot create peers/{}: {:?}\n", entry.kernel_id, e),
                }
            }
        }
        self.msg.peers_now(live_peers);
        // A sender waiting for room from a kernel that left waits no more.
        self.msg.answer_room_waiters();
    }
}

/// `peers/<id>/`: one directory per kernel this one can talk to.
fn peer_dir(root: &Dir, msg: &Arc<MsgLayer>, channel: &Arc<Channel>, id: u32) -> Result<Dir> {
    let name = CString::try_from_fmt(fmt!("{}", id))?;
    let mut dir = root.new_child(&name)?;
    dir.add_file(c_str!("id"), Constant(id))?;
    dir.add_file(c_str!("slot"), Constant(channel.slot))?;
    dir.add_file(c_str!("state"), PeerStateFile(msg.clone(), channel.slot))?;
    for (index, name) in PeerStats::NAMES.iter().enumerate() {
        dir.add_file(name, CounterFile(channel.clone(), index))?;
    }
    dir.add_file(c_str!("ping"), PingFile(msg.clone(), id))?;
    Ok(dir)
}

/// `peers/<id>/state`: the peer's state in the table, now.
struct PeerStateFile(Arc<MsgLayer>, usize);

#[vtable]
impl AttributeOps for PeerStateFile {
    fn show(&self, out: &mut Page<'_>) -> Result {
        let name = match self.0.peer_entry(self.1).map(|e| e.state) {
            Some(SlotState::Live) => "live",
            Some(SlotState::Starting) => "starting",
            Some(SlotState::Gone) => "gone",
            Some(SlotState::Empty) | None => "empty",
        };
        writeln!(out, "{}", name).map_err(|_| EFBIG)
    }
}

/// One counter of `peers/<id>/`, by its index in [`PeerStats::NAMES`].
struct CounterFile(Arc<Channel>, usize);

#[vtable]
impl AttributeOps for CounterFile {
    fn show(&self, out: &mut Page<'_>) -> Result {
        let counters = self.0.stats.all();
        let value = counters.get(self.1).ok_or(EINVAL)?.load(Ordering::Relaxed);
        writeln!(out, "{}", value).map_err(|_| EFBIG)
    }
}

/// `peers/<id>/ping`: each read is one round trip; it shows the time in
/// nanoseconds, or fails with the request's errno. Root only (`0400`):
/// each read takes one of the kernel's request slots until the answer.
struct PingFile(Arc<MsgLayer>, u32);

#[vtable]
impl AttributeOps for PingFile {
    const ROOT_ONLY: bool = true;

    fn show(&self, out: &mut Page<'_>) -> Result {
        let rtt = self.0.ping(self.1)?;
        writeln!(out, "{}", rtt).map_err(|_| EFBIG)
    }
}

/// `msg/poll`: 1 for polling mode, 0 for interrupts (the default).
struct PollFile(Arc<MsgLayer>);

#[vtable]
impl AttributeOps for PollFile {
    fn show(&self, out: &mut Page<'_>) -> Result {
        writeln!(out, "{}", u8::from(self.0.polling())).map_err(|_| EFBIG)
    }

    fn store(&self, input: &[u8]) -> Result {
        match input.strip_suffix(b"\n").unwrap_or(input) {
            b"0" => self.0.set_polling(false),
            b"1" => self.0.set_polling(true),
            _ => {
                pr_err!("msg/poll: write 0 (interrupts) or 1 (polling)\n");
                return Err(EINVAL);
            }
        }
        Ok(())
    }
}

/// The running message layer: its threads and files.
/// Dropping it stops them (receive thread, watcher and its directories)
/// before the layer itself goes.
pub struct MsgService {
    // Field order is drop order; the receive thread goes first, in `drop`,
    // then the jobs it queued.
    rx: Option<KThread<RxThread>>,
    _watch: KThread<PeerWatch>,
    _dir: Dir,
    layer: Arc<MsgLayer>,
}

impl MsgService {
    /// Starts the layer's threads and files under `root` (`msg/`, `peers/`).
    pub fn start(root: &Dir, layer: Arc<MsgLayer>) -> Result<Self> {
        RX_WAIT.init(c_str!("popcorn_rx"));
        let mut dir = root.new_child(c_str!("msg"))?;
        dir.add_file(c_str!("slot"), Constant(layer.self_slot()))?;
        dir.add_file(c_str!("ring_slots"), Constant(layer.ring_slots()))?;
        dir.add_file(c_str!("max_payload"), Constant(layer.max_payload()))?;
        dir.add_file(c_str!("poll"), PollFile(layer.clone()))?;
        let peers_root = root.new_child(c_str!("peers"))?;
        let watched = layer.clone();
        let watch = Arc::pin_init(
            pin_init!(PeerWatch {
                msg: watched,
                dirs <- new_mutex!(PeerDirs {
                    root: peers_root,
                    shown: [const { None }; KERNEL_SLOTS],
                    live: [false; KERNEL_SLOTS],
                }),
            }),
            GFP_KERNEL,
        )?;
        let watch = KThread::spawn(c_str!("popcorn-peers"), watch)?;
        // On the CPU the message interrupt arrives at (every kernel's
        // notify CPU is its boot CPU, 0): the interrupt then wakes a thread
        // on its own CPU instead of interrupting a second one.
        let rx = KThread::spawn_bound(
            c_str!("popcorn-rx"),
            Arc::new(RxThread(layer.clone()), GFP_KERNEL)?,
            RX_CPU,
        )?;
        Ok(MsgService {
            rx: Some(rx),
            _watch: watch,
            _dir: dir,
            layer,
        })
    }

    pub fn layer(&self) -> &Arc<MsgLayer> {
        &self.layer
    }
}

impl Drop for MsgService {
    fn drop(&mut self) {
        // Nothing queues jobs once the receive thread is gone; they hold
        // the layer, so they end before it can.
        drop(self.rx.take());
        self.layer.flush_jobs();
    }
}
