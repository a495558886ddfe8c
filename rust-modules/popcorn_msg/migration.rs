// SPDX-License-Identifier: GPL-2.0

//! Task migration: moving a running process to another kernel
//! (`docs/migration.md`).
//!
//! ```text
//! /sys/kernel/popcorn/migration/
//!     migrate     write "PID KERNEL": move process PID to kernel KERNEL;
//!                 returns when the destination has the process (or with
//!                 the errno saying why not: the process then runs on here)
//!     restore     (popcornctl restore) write an id: become that process
//!     exited      (popcornctl restore) write "ID STATUS": it ended
//!     processes   one line per migrated process: "PID KERNEL" for ours
//!                 running elsewhere, "PID from KERNEL (pid N there)" for
//!                 others' here (KERNEL: its home, where it started)
//!     migrated_out, migrated_in, refused, lost: counters
//!     last_ns     the last migration's capture, transfer and restore
//!                 times in ns (restore: on the destination)
//! ```
//!
//! The origin captures the process in its own context: a task work runs
//! on its way back to user mode ([`Capture`]), reads its registers (ptrace
//! regsets), mappings and memory, and streams them to the destination as
//! messages of [`KIND_MIGRATE`] (`popcorn-core/src/migrate.rs`). Once the
//! destination has committed, the same task work becomes the stub: the
//! process's memory is freed, it sleeps, forwards signals, and exits with
//! the remote process's status, so the parent waits on the same PID as
//! before. The destination stages what it receives ([`Incoming`]), starts
//! `popcornctl restore ID` as a user-mode helper, whose child writes the id
//! to `restore`; a task work on that child replaces its memory, registers
//! and FPU state with the migrated ones, and the return to user mode
//! continues the program. The helper waits for the child and reports its
//! exit status back.
//!
//! A process has one home, the kernel it started on, which keeps its stub
//! wherever it goes next. A kernel holding someone else's process may send
//! it on, to a third kernel or home: it first tells the home (`Moving`),
//! whose stub then holds signals back until the sender says the process
//! arrived (`Arrived`, after the new holder committed) or stayed
//! (`Stayed`).

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::{
    alloc::{KBox, KVVec, KVec},
    bindings, c_str, new_condvar, new_mutex,
    prelude::*,
    sync::{Arc, CondVar, CondVarTimeoutResult, Mutex},
    time::msecs_to_jiffies,
};

use crate::errno;
use kernel::str::CStr;
use crate::admit::{self, PeerLoad};
use crate::migrate::{self as wire, Begin, Creds, Header, Op, Signals, Vma, HEADER_SIZE, PAGE_SIZE};
use crate::msg::{Answer, Deferred, From, MsgHandler, MsgLayer, SendMode, FIRST_USER_KIND};
use crate::sysfs::{AttributeOps, Dir, Page};
use crate::usertask::{self, reg, Current, Task, TaskWork, Unfit, NR_REGS};

/// The message kind of migration.
pub const KIND_MIGRATE: u16 = FIRST_USER_KIND + 3;
/// How long a request to the destination may take.
const REQUEST_MS: u32 = 10_000;
/// How long a send may wait for room in the ring.
const SEND_MS: u32 = 10_000;
/// How long `migrate` waits for the process to take up its capture (it
/// does on its next return to user mode; a stopped process or one in an
/// uninterruptible sleep does not).
const CAPTURE_START_MS: u32 = 30_000;
/// What the user-mode helper runs.
const HELPER: &CStr = c_str!("/usr/bin/popcornctl");
/// Errno values the kernel crate does not name.
const ERESTARTSYS: i64 = -512;
const ERESTARTNOINTR: i64 = -513;
const ERESTARTNOHAND: i64 = -514;
const ERESTART_RESTARTBLOCK: i64 = -516;
/// Most pages in one message.
const MAX_PAGES_PER_MESSAGE: usize = 8;
/// Wait status of a process killed by SIGKILL.
const KILLED: i32 = 9;
/// SIGKILL among pending signals (bit n-1: signal n).
const SIGKILL_BIT: u64 = 1 << 8;
/// How long a stub waits when the kernel sending its process on went away
/// without saying where the process is: only the exit status from the
/// kernel it was going to can still come (docs/migration.md).
const ARRIVAL_GRACE_MS: u32 = 30_000;

#[derive(Default)]
struct Counters {
    migrated_out: AtomicU64,
    migrated_in: AtomicU64,
    refused: AtomicU64,
    lost: AtomicU64,
    /// The last migration's phases, in ns: capture (registers, mappings)
    /// and transfer (pages, state, commit) on the origin, restore on the
    /// destination (`migration/last_ns`, for `make bench`).
    capture_ns: AtomicU64,
    transfer_ns: AtomicU64,
    restore_ns: AtomicU64,
}

/// Task migration while the module is loaded: the files, and the state
/// behind them. Dropping it ends every stub and waits for every task work.
pub struct MigrationService {
    migration: Arc<Migration>,
    /// Taken and dropped first in `drop`: the files go before the stop,
    /// so no new migration starts meanwhile.
    dir: Option<Dir>,
}

impl MigrationService {
    pub fn start(root: &Dir, msg: &Arc<MsgLayer>, self_id: u32) -> Result<Self> {
        let (migration, dir) = Migration::start(root, msg, self_id)?;
        Ok(MigrationService { migration, dir: Some(dir) })
    }
}

impl Drop for MigrationService {
    fn drop(&mut self) {
        drop(self.dir.take());
        self.migration.stop();
    }
}

/// Migration in this kernel.
#[pin_data]
pub struct Migration {
    msg: Arc<MsgLayer>,
    self_id: u32,
    next_id: AtomicU32,
    #[pin]
    outgoing: Mutex<KVec<Arc<Outgoing>>>,
    #[pin]
    incoming: Mutex<KVec<Arc<Incoming>>>,
    /// Held by `begin` from its admission check until the new staging is
    /// in `incoming` (a worker runs each `Begin`; two at once must not
    /// both pass the check). Taken before `incoming`, never on the receive
    /// thread.
    #[pin]
    admitting: Mutex<()>,
    counters: Counters,
    /// Task works queued or running (capture, stub, restore): the module
    /// must not go while one may still call into it.
    busy: AtomicU32,
    /// The module is going: stubs end their processes.
    closing: AtomicBool,
}

/// How far an outgoing migration got.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OutState {
    /// Queued on the process, which has not taken it up yet.
    Queued,
    /// The process is being captured and sent.
    Capturing,
    /// The destination runs the process; we are its stub.
    Remote,
    /// Over (failed, or the stub ended).
    Done,
}

/// A process leaving this kernel: ours (then its stub stays here), or one
/// that came from elsewhere and moves on.
///
/// Its `id` names the transfer; for a process of ours it also names the
/// stub, for good (`Begin::stub`).
#[pin_data]
struct Outgoing {
    id: u64,
    pid: u32,
    /// Where this migration sends it.
    dest: u32,
    /// The process came here from elsewhere: this kernel's record of its
    /// arrival. Its stub is on its home kernel, not here.
    arrived: Option<Arc<Incoming>>,
    #[pin]
    state: Mutex<OutStatus>,
    #[pin]
    changed: CondVar,
}

struct OutStatus {
    state: OutState,
    /// The capture's result, for the writer of `migrate`.
    result: Option<Result>,
    /// The stub's knowledge: the kernel running the process.
    holder: u32,
    /// The holder is sending the process there (`Moving`): signals are
    /// held back until it arrived there or stayed.
    moving_to: Option<u32>,
    /// The remote process's wait status, once it ended.
    exited: Option<i32>,
    /// The process came back, staged here: the stub becomes it again.
    back: Option<Arc<Incoming>>,
}

/// Where an incoming migration is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum InState {
    Staging,
    Launched,
    Restoring,
    Running(u32),
    /// It moved on (home or elsewhere): its end here is not reported.
    Moved,
}

/// A process coming from (or come from) another kernel.
///
/// Two ids name it: `id`, the transfer's (the sender's, for the staging
/// messages), and `begin.stub` on `begin.home`, the stub's (for signals
/// and the exit status).
#[pin_data]
struct Incoming {
    id: u64,
    /// The kernel that sent it here.
    sender: u32,
    /// Bytes set aside for its pages (`admit::staging_bytes`).
    reserved: u64,
    begin: Begin,
    #[pin]
    data: Mutex<Staged>,
}

struct Staged {
    state: InState,
    /// A staging error, reported at commit.
    error: Option<Error>,
    vmas: KVec<Vma>,
    page_addrs: KVec<u64>,
    page_data: KVVec<u8>,
    regs: Option<[u64; NR_REGS]>,
    signals: Signals,
    /// Its identity, given to it before it runs here.
    creds: Creds,
    xsave: KVec<u8>,
    /// Signals forwarded before the process ran (bit n-1: signal n).
    pending: u64,
}

/// A staged image being restored, out of its staging's lock.
struct Shipped {
    vmas: KVec<Vma>,
    page_addrs: KVec<u64>,
    page_data: KVVec<u8>,
    /// Its identity (boxed: it is 344 bytes).
    creds: KBox<Creds>,
}

fn refusal(pid: u32, why: &str, e: Error) -> Error {
    pr_info!("migrate {}: refused: {}\n", pid, why);
    e
}

impl Migration {
    fn start(root: &Dir, msg: &Arc<MsgLayer>, self_id: u32) -> Result<(Arc<Migration>, Dir)> {
        let migration = Arc::pin_init(
            pin_init!(Migration {
                msg: msg.clone(),
                self_id,
                next_id: AtomicU32::new(1),
                outgoing <- new_mutex!(KVec::new()),
                incoming <- new_mutex!(KVec::new()),
                admitting <- new_mutex!(()),
                counters: Counters::default(),
                busy: AtomicU32::new(0),
                closing: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )?;
        msg.register(KIND_MIGRATE, migration.clone())?;
        let mut dir = root.new_child(c_str!("migration"))?;
        dir.add_file(c_str!("processes"), ProcessesFile(migration.clone()))?;
        for (name, which) in [
            (c_str!("migrated_out"), 0u8),
            (c_str!("migrated_in"), 1),
            (c_str!("refused"), 2),
            (c_str!("lost"), 3),
        ] {
            dir.add_file(name, CounterFile(migration.clone(), which))?;
        }
        dir.add_file(c_str!("last_ns"), LastFile(migration.clone()))?;
        dir.add_file(c_str!("restore"), RestoreFile(migration.clone()))?;
        dir.add_file(c_str!("exited"), ExitedFile(migration.clone()))?;
        dir.add_file(c_str!("migrate"), MigrateFile(migration.clone()))?;
        Ok((migration, dir))
    }

    /// Ends every stub (their processes are lost with the module) and waits
    /// until no task work of ours can run any more.
    fn stop(&self) {
        self.msg.unregister(KIND_MIGRATE);
        self.closing.store(true, Ordering::SeqCst);
        for out in self.outgoing.lock().iter() {
            out.changed.notify_all();
        }
        let mut waited_ms = 0u32;
        while self.busy.load(Ordering::SeqCst) != 0 {
            if waited_ms % 5000 == 0 {
                pr_info!("migration: waiting for {} processes to leave\n", self.busy.load(Ordering::SeqCst));
            }
            crate::kthread::sleep_us(10_000, 20_000);
            waited_ms += 10;
        }
    }

    fn new_id(&self) -> u64 {
        (u64::from(self.self_id) << 32) | u64::from(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    // ---- the origin ----

    fn migrate(self: &Arc<Self>, pid: u32, dest: u32) -> Result {
        if dest == self.self_id {
            return Err(refusal(pid, "it already runs on this kernel", EINVAL));
        }
        if !self.msg.peer_live(dest) {
            return Err(refusal(pid, "no such kernel is running", errno::ehostunreach()));
        }
        let task = Task::find(pid).map_err(|why| match why {
            Unfit::NoSuchProcess | Unfit::Exiting => refusal(pid, "no such process", ESRCH),
            Unfit::KernelThread => refusal(pid, "a kernel thread", EPERM),
            Unfit::Threads(n) => {
                pr_info!("migrate {}: refused: {} threads (single-threaded processes only)\n", pid, n);
                errno::eopnotsupp()
            }
        })?;
        if task.is_init() {
            return Err(refusal(
                pid,
                "it is an init (PID 1 or a PID namespace's first process), whose end would panic this kernel or end its namespace",
                EPERM,
            ));
        }
        if self.outgoing.lock().iter().any(|o| o.pid == pid) {
            return Err(refusal(pid, "it runs on another kernel already (its stub is here)", EBUSY));
        }
        // A process that came from elsewhere may go back there.
        let arrived = self
            .incoming
            .lock()
            .iter()
            .find(|i| i.data.lock().state == InState::Running(pid))
            .cloned();
        if let Some(i) = &arrived {
            // Its home keeps the stub: it must hear where the process goes.
            if !self.msg.peer_live(i.begin.home) {
                pr_info!("migrate {}: refused: its home, kernel {}, is not running\n", pid, i.begin.home);
                return Err(errno::ehostunreach());
            }
        }
        let first_holder = dest;
        let out = Arc::pin_init(
            pin_init!(Outgoing {
                id: self.new_id(),
                pid,
                dest,
                arrived,
                state <- new_mutex!(OutStatus {
                    state: OutState::Queued,
                    result: None,
                    // Once it runs there, the destination holds it.
                    holder: first_holder,
                    moving_to: None,
                    exited: None,
                    back: None,
                }),
                changed <- new_condvar!(),
            }),
            GFP_KERNEL,
        )?;
        self.outgoing.lock().push(out.clone(), GFP_KERNEL)?;
        self.busy.fetch_add(1, Ordering::SeqCst);
        let capture = Arc::new(Capture { migration: self.clone(), out: out.clone() }, GFP_KERNEL);
        let queued = capture.map_err(Error::from).and_then(|c| task.queue(c, usertask::Notify::Signal));
        if let Err(e) = queued {
            self.busy.fetch_sub(1, Ordering::SeqCst);
            self.forget_outgoing(out.id);
            return Err(e);
        }
        drop(task);
        // The process answers at its next return to user mode. Until it
        // does, a signal or the time limit withdraws the request; once the
        // capture runs, its own time limits bound it.
        let mut status = out.state.lock();
        let mut waited_ms = 0u32;
        while status.result.is_none() {
            if status.state == OutState::Queued {
                let woken = out.changed.wait_interruptible_timeout(&mut status, msecs_to_jiffies(1000));
                waited_ms += 1000;
                let withdraw = match woken {
                    CondVarTimeoutResult::Signal { .. } => Some(EINTR),
                    _ if waited_ms >= CAPTURE_START_MS => Some(errno::etimedout()),
                    _ => None,
                };
                if let (Some(e), OutState::Queued) = (withdraw, status.state) {
                    // The task work finds this and leaves the process be.
                    status.state = OutState::Done;
                    drop(status);
                    if e != EINTR {
                        pr_info!("migrate {}: refused: it did not stop in {} s (stopped, or in an uninterruptible sleep?)\n", pid, CAPTURE_START_MS / 1000);
                    }
                    self.counters.refused.fetch_add(1, Ordering::Relaxed);
                    self.forget_outgoing(out.id);
                    return Err(e);
                }
            } else {
                out.changed.wait(&mut status);
            }
        }
        status.result.unwrap_or(Err(EIO))
    }

    fn forget_outgoing(&self, id: u64) {
        crate::kvec::remove_where(&mut self.outgoing.lock(), |o| o.id == id);
    }

    fn finish_capture(&self, out: &Outgoing, result: Result) {
        let mut status = out.state.lock();
        status.result = Some(result);
        status.state = if result.is_ok() { OutState::Remote } else { OutState::Done };
        drop(status);
        out.changed.notify_all();
        if result.is_err() {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            self.forget_outgoing(out.id);
        } else {
            self.counters.migrated_out.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends a one-way message: the header, then up to three parts.
    fn send(&self, dest: u32, op: Op, id: u64, parts: &[&[u8]]) -> Result {
        let header = Header { op, id }.encode();
        let part = |n: usize| parts.get(n).copied().unwrap_or(&[]);
        let all: [&[u8]; 4] = [&header, part(0), part(1), part(2)];
        self.msg.send_parts(dest, KIND_MIGRATE, &all, SendMode::Wait { timeout_ms: SEND_MS })
    }

    fn request(&self, dest: u32, op: Op, id: u64, body: &[u8]) -> Result {
        let mut message = KVec::new();
        message.extend_from_slice(&Header { op, id }.encode(), GFP_KERNEL)?;
        message.extend_from_slice(body, GFP_KERNEL)?;
        self.msg.request(dest, KIND_MIGRATE, &message, REQUEST_MS).map(drop)
    }

    /// Captures `current` and sends it to `out.dest`. Runs as the process.
    fn capture(&self, current: &Current, out: &Outgoing) -> Result {
        let started = crate::kthread::monotonic_ns();
        let pid = out.pid;
        if current.threads() != 1 {
            return Err(refusal(pid, "it started a thread meanwhile", errno::eopnotsupp()));
        }
        // Its identity goes with it; what confines it beyond that cannot.
        if let Some(why) = wire::confinement_refusal(current.confinement()) {
            return Err(refusal(pid, why, errno::eopnotsupp()));
        }
        let mut creds = KBox::new(Creds::default(), GFP_KERNEL)?;
        if let Err(n) = current.creds(&mut creds) {
            pr_info!("migrate {}: refused: {} supplementary groups (at most {})\n", pid, n, wire::MAX_GROUPS);
            return Err(errno::eopnotsupp());
        }
        let mappings = current.mappings()?;
        let (layout, vdso) = current.layout();
        for m in mappings.iter() {
            if m.shared {
                return Err(refusal(pid, "it has shared memory", errno::eopnotsupp()));
            }
            if m.other_file {
                return Err(refusal(pid, "it maps files other than its program (dynamically linked?)", errno::eopnotsupp()));
            }
            // The vDSO's data pages sit right below its code.
            if m.special && !(m.end == vdso) && !m.vdso {
                return Err(refusal(pid, "it maps device memory", errno::eopnotsupp()));
            }
        }
        if let Err(fd) = current.files_are_consoles() {
            pr_info!("migrate {}: refused: file descriptor {} is not a console\n", pid, fd);
            return Err(errno::eopnotsupp());
        }
        // The vDSO is mapped as a whole, its data pages first: where those
        // begin is what the destination needs (same kernel image, same
        // layout).
        let vdso_base = mappings.iter().find(|m| m.special && m.end == vdso).map_or(vdso, |m| m.start);
        let mut regs = current.regs()?;
        restart_interrupted_syscall(&mut regs);
        let xsave = current.xsave()?;
        // Signal state and identity, encoded right away: 2 KiB, off the
        // stack.
        let mut signals = KBox::new(Signals::default(), GFP_KERNEL)?;
        current.signals(&mut signals)?;
        let mut state_bytes = KVec::new();
        state_bytes.extend_with(wire::SIGNALS_SIZE + wire::CREDS_SIZE, 0u8, GFP_KERNEL)?;
        let (signal_part, creds_part) = state_bytes.split_at_mut(wire::SIGNALS_SIZE);
        signals.encode_into(signal_part);
        creds.encode_into(creds_part);
        drop(signals);
        drop(creds);

        // What travels: ordinary memory, not the vDSO (mapped anew).
        let moving = |m: &&usertask::Mapping| !m.special && !m.vdso;
        // Mappings that were the program's text where the process came
        // from are its text here too, even if they came as shipped memory.
        let mut arrived_text = KVec::new();
        if let Some(arrived) = &out.arrived {
            for v in arrived.data.lock().vmas.iter().filter(|v| v.flags & Vma::FILE != 0) {
                arrived_text.push((v.start, v.end, v.offset), GFP_KERNEL)?;
            }
        }
        let mut vmas = KVec::new();
        let mut readable_pages = 0u64;
        for m in mappings.iter().filter(moving) {
            let mut flags = 0;
            flags |= if m.read { Vma::READ } else { 0 };
            flags |= if m.write { Vma::WRITE } else { 0 };
            flags |= if m.exec { Vma::EXEC } else { 0 };
            flags |= if m.grows_down { Vma::GROWSDOWN } else { 0 };
            // Text and read-only data of the program: the destination may
            // take them from its own copy of the file (if the same).
            // Not one written to (relocated read-only data is: its pages
            // are not the file's). Text that arrived as shipped memory was
            // written here only by the restore; the next destination
            // checks its bytes anyway.
            let text_offset = match (m.write, m.program_file) {
                (true, _) => None,
                (false, true) => (!m.written).then_some(m.file_offset),
                (false, false) => arrived_text.iter().find(|t| t.0 == m.start && t.1 == m.end).map(|t| t.2),
            };
            flags |= if text_offset.is_some() { Vma::FILE } else { 0 };
            let offset = text_offset.unwrap_or(0);
            vmas.push(Vma { start: m.start, end: m.end, flags, offset }, GFP_KERNEL)?;
            if m.read {
                readable_pages += (m.end - m.start) / PAGE_SIZE as u64;
            }
        }
        let mut begin = Begin {
            origin_pid: pid,
            vmas: u32::try_from(vmas.len()).map_err(|_| E2BIG)?,
            pages: u32::try_from(readable_pages).map_err(|_| E2BIG)?,
            xsave_len: u32::try_from(xsave.len()).map_err(|_| E2BIG)?,
            mm: layout,
            vdso: vdso_base,
            comm: current.comm(),
            home: out.arrived.as_ref().map_or(self.self_id, |i| i.begin.home),
            stub: out.arrived.as_ref().map_or(out.id, |i| i.begin.stub),
            ..Begin::default()
        };
        // The program's path where it started (here, its own executable's).
        // A path that does not fit (or is not absolute) is not sent: the
        // destination then uses the shipped text.
        let mut path = [0u8; wire::MAX_PATH + 1];
        match &out.arrived {
            Some(arrived) => {
                begin.set_path(arrived.begin.path());
            }
            None => {
                if let Some(len) = current.program_path(&mut path) {
                    begin.set_path(path.get(..len).unwrap_or(&[]));
                }
            }
        }
        let dest = out.dest;
        let id = out.id;
        let captured = crate::kthread::monotonic_ns();
        self.counters.capture_ns.store(captured - started, Ordering::Relaxed);
        if out.arrived.is_some() {
            // Its stub holds signals back from now on.
            self.request(begin.home, Op::Moving, begin.stub, &dest.to_le_bytes()).map_err(|e| {
                pr_info!("migrate {}: refused: its home, kernel {}, did not agree to the move: {:?}\n", pid, begin.home, e);
                e
            })?;
        }
        let mut begin_body = KVec::new();
        begin_body.extend_from_slice(&begin.encode(), GFP_KERNEL)?;
        begin_body.extend_from_slice(begin.path(), GFP_KERNEL)?;
        let committed = self
            .request(dest, Op::Begin, id, &begin_body)
            .and_then(|()| self.send_image(current, dest, id, &vmas, &regs, &state_bytes, &xsave))
            .and_then(|()| self.request(dest, Op::Commit, id, &[]));
        if let Err(e) = committed {
            pr_warn!("migrate {}: sending it to kernel {} failed ({:?}); it stays here\n", pid, dest, e);
            // Whatever the destination staged goes; the process stays.
            let _ = self.send(dest, Op::Abort, id, &[]);
            if out.arrived.is_some() {
                let _ = self.send(begin.home, Op::Stayed, begin.stub, &[]);
            }
            return Err(e);
        }
        if out.arrived.is_some() && dest != begin.home {
            // The new holder has it (signals for it wait there until it
            // runs): the stub may send them on. Going home, the commit
            // itself put it into the stub.
            if let Err(e) = self.send(begin.home, Op::Arrived, begin.stub, &[]) {
                pr_warn!("migrate {}: could not tell kernel {} where it went: {:?}\n", pid, begin.home, e);
            }
        }
        self.counters.transfer_ns.store(crate::kthread::monotonic_ns() - captured, Ordering::Relaxed);
        Ok(())
    }

    fn send_image(
        &self,
        current: &Current,
        dest: u32,
        id: u64,
        vmas: &[Vma],
        regs: &[u64; NR_REGS],
        signals_and_creds: &[u8],
        xsave: &[u8],
    ) -> Result {
        // Mappings, as many per message as fit in half a ring.
        let budget = (self.msg.max_payload() / 2).saturating_sub(HEADER_SIZE + 8);
        let per_message = (budget / wire::VMA_SIZE).max(1);
        for chunk in vmas.chunks(per_message) {
            let mut body = KVec::new();
            body.extend_from_slice(&wire::vmas_header(chunk.len() as u32), GFP_KERNEL)?;
            for v in chunk {
                body.extend_from_slice(&v.encode(), GFP_KERNEL)?;
            }
            self.send(dest, Op::Vmas, id, &[&body])?;
        }
        // Pages with anything in them (a fresh anonymous mapping on the
        // other side is zeros already).
        let per_message = (budget / (8 + PAGE_SIZE)).clamp(1, MAX_PAGES_PER_MESSAGE);
        let mut addrs = [0u8; 8 * MAX_PAGES_PER_MESSAGE];
        let mut data = KVec::new();
        data.extend_with(per_message * PAGE_SIZE, 0u8, GFP_KERNEL)?;
        let mut count = 0usize;
        for v in vmas.iter().filter(|v| v.flags & Vma::READ != 0) {
            let mut addr = v.start;
            while addr < v.end {
                let slot = data.get_mut(count * PAGE_SIZE..(count + 1) * PAGE_SIZE).ok_or(EINVAL)?;
                current.read(addr, slot)?;
                if slot.iter().any(|&b| b != 0) {
                    if let Some(place) = addrs.get_mut(count * 8..count * 8 + 8) {
                        place.copy_from_slice(&addr.to_le_bytes());
                    }
                    count += 1;
                    if count == per_message {
                        self.send_pages(dest, id, &addrs, &data, count)?;
                        count = 0;
                    }
                }
                addr += PAGE_SIZE as u64;
            }
            crate::kthread::cond_resched();
        }
        if count > 0 {
            self.send_pages(dest, id, &addrs, &data, count)?;
        }
        self.send(dest, Op::State, id, &[&wire::encode_regs(regs), signals_and_creds, xsave])
    }

    fn send_pages(&self, dest: u32, id: u64, addrs: &[u8], data: &[u8], count: usize) -> Result {
        let head = wire::pages_header(count as u32);
        let addrs = addrs.get(..count * 8).ok_or(EINVAL)?;
        let pages = data.get(..count * PAGE_SIZE).ok_or(EINVAL)?;
        self.send(dest, Op::Pages, id, &[&head, addrs, pages])
    }

    /// The stub: waits for the remote process to end, forwarding signals.
    /// Returns only if the process came back: then `current` is it again,
    /// on its way to user mode.
    fn stub(&self, current: Current, out: &Outgoing) {
        let _ = current.unmap_all();
        current.catch_all_signals();
        // Signals held back while the process moves between kernels.
        let mut held = 0u64;
        let mut killed = false;
        // When the kernel sending the process on was first seen gone.
        let mut orphaned_at: Option<u64> = None;
        let status = loop {
            let mut status = out.state.lock();
            if status.exited.is_none() && status.back.is_none() {
                let _ = out.changed.wait_interruptible_timeout(&mut status, msecs_to_jiffies(1000));
            }
            let (exited, back) = (status.exited, status.back.take());
            let (holder, moving_to) = (status.holder, status.moving_to);
            drop(status);
            if let Some(exited) = exited {
                break exited;
            }
            let signals = current.take_signals();
            killed |= signals & SIGKILL_BIT != 0;
            held |= signals & !SIGKILL_BIT;
            if let Some(incoming) = back {
                match self.take_back(&current, out, &incoming, held) {
                    Ok(()) => return,
                    Err(e) => {
                        pr_err!("migrate {}: could not take it back: {:?}; it is lost\n", out.pid, e);
                        self.counters.lost.fetch_add(1, Ordering::Relaxed);
                        break KILLED;
                    }
                }
            }
            if self.closing.load(Ordering::SeqCst) {
                for kernel in [Some(holder), moving_to].into_iter().flatten() {
                    let _ = self.send(kernel, Op::Signal, out.id, &[&9u32.to_le_bytes()]);
                }
                pr_warn!("migrate {}: ended with the module\n", out.pid);
                break KILLED;
            }
            let lost = match moving_to {
                None => {
                    // SIGKILL last: the others would be pointless after it.
                    for sig in (1..=64u32).filter(|sig| held & (1 << (sig - 1)) != 0) {
                        let _ = self.send(holder, Op::Signal, out.id, &[&sig.to_le_bytes()]);
                    }
                    held = 0;
                    if killed {
                        let _ = self.send(holder, Op::Signal, out.id, &[&9u32.to_le_bytes()]);
                        break KILLED;
                    }
                    !self.msg.peer_live(holder)
                }
                // On its way: where it ends up says where signals go (a
                // kill included: sent now it could miss the process). The
                // sender says which, unless it went away: then only the
                // process's end reported by the other side can save it.
                Some(to) => {
                    let to_live = to == self.self_id || self.msg.peer_live(to);
                    match (self.msg.peer_live(holder), to_live) {
                        (true, _) => false,
                        (false, false) => true,
                        (false, true) => {
                            let now = crate::kthread::monotonic_ns() / 1_000_000;
                            now - *orphaned_at.get_or_insert(now) > u64::from(ARRIVAL_GRACE_MS)
                        }
                    }
                }
            };
            if lost {
                self.counters.lost.fetch_add(1, Ordering::Relaxed);
                pr_err!("migrate {}: lost with kernel {}\n", out.pid, holder);
                break KILLED;
            }
        };
        out.state.lock().state = OutState::Done;
        self.forget_outgoing(out.id);
        self.busy.fetch_sub(1, Ordering::SeqCst);
        current.exit_group(status)
    }

    /// The process came back from the kernel that held it: the stub becomes
    /// it again, with the same PID, parent and files, and the signals it
    /// held back pending.
    fn take_back(&self, current: &Current, out: &Outgoing, incoming: &Arc<Incoming>, held: u64) -> Result {
        {
            let mut staged = incoming.data.lock();
            staged.state = InState::Restoring;
            staged.pending |= held;
        }
        let result = self.restore(current, incoming, false);
        self.drop_incoming(incoming.id);
        result?;
        out.state.lock().state = OutState::Done;
        self.forget_outgoing(out.id);
        self.busy.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }

    /// The stub `id` of ours, if the process runs on kernel `holder`.
    fn stub_held_by(&self, id: u64, holder: u32) -> Option<Arc<Outgoing>> {
        let outgoing = self.outgoing.lock();
        let out = outgoing.iter().find(|o| o.id == id)?;
        let status = out.state.lock();
        (status.state == OutState::Remote && status.holder == holder).then(|| out.clone())
    }

    /// `Moving`: the holder is about to send the process to `body`'s kernel.
    fn moving(&self, from: From, id: u64, body: &[u8]) -> Result {
        let to = wire::parse_word(body).map_err(|_| EINVAL)?;
        let out = self.stub_held_by(id, from.id).ok_or(ENOENT)?;
        let mut status = out.state.lock();
        if status.moving_to.is_some() || to == from.id {
            return Err(EBUSY);
        }
        status.moving_to = Some(to);
        Ok(())
    }

    /// `Arrived` or `Stayed`, from the holder that announced a move.
    fn moved(&self, from: From, id: u64, arrived: bool) {
        let Some(out) = self.stub_held_by(id, from.id) else { return };
        let mut status = out.state.lock();
        let Some(to) = status.moving_to.take() else { return };
        if arrived {
            pr_info!("migrate {}: now runs on kernel {}\n", out.pid, to);
            status.holder = to;
        }
        drop(status);
        out.changed.notify_all();
    }

    // ---- the destination ----

    fn find_incoming(&self, id: u64) -> Option<Arc<Incoming>> {
        self.incoming.lock().iter().find(|i| i.id == id).cloned()
    }

    fn begin(&self, from: From, id: u64, body: &[u8]) -> Result {
        // At most as many pages as this kernel has memory for, roughly.
        let max_pages = u32::try_from(crate::system::total_ram_bytes() / PAGE_SIZE as u64).unwrap_or(u32::MAX);
        let begin = Begin::parse(body, max_pages).map_err(|e| {
            pr_warn!("migration from kernel {}: {}\n", from.id, e);
            EINVAL
        })?;
        if begin.xsave_len as usize != usertask::xsave_size() {
            pr_warn!(
                "migration from kernel {}: FPU state of {} bytes, ours is {}\n",
                from.id,
                begin.xsave_len,
                usertask::xsave_size()
            );
            return Err(errno::eopnotsupp());
        }
        if self.find_incoming(id).is_some() || (id >> 32) as u32 != from.id {
            return Err(EEXIST);
        }
        if begin.home == self.self_id {
            // Home: only into a stub of ours whose process that kernel
            // holds and said it is sending here.
            let waiting = self
                .stub_held_by(begin.stub, from.id)
                .is_some_and(|o| o.state.lock().moving_to == Some(self.self_id));
            if !waiting {
                pr_warn!("migration from kernel {}: no stub {:#x} to return into\n", from.id, begin.stub);
                return Err(ENOENT);
            }
        } else if begin.home == from.id && begin.stub != id {
            // A first migration: the stub is the transfer's own id.
            return Err(EINVAL);
        }
        let admitting = self.admitting.lock();
        // Staging left behind by a kernel that went away in the middle.
        crate::kvec::remove_where(&mut self.incoming.lock(), |i| {
            i.data.lock().state == InState::Staging && !self.msg.peer_live(i.sender)
        });
        // What the sender may make this kernel set aside (admit.rs).
        let reserved = admit::staging_bytes(u64::from(begin.pages), PAGE_SIZE as u64).unwrap_or(u64::MAX);
        let (peer, all) = self.staging_load(from.id);
        if let Err(refusal) = admit::admit(peer, all, reserved, crate::system::available_ram_bytes()) {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            if crate::msg::log_allowed() {
                pr_warn!("migration from kernel {}: refused: {}\n", from.id, refusal);
            }
            return Err(Error::from_errno(-refusal.errno()));
        }
        // Room for every page it may send, up front: ENOMEM now rather
        // than half-way, and no copying as the buffer grows.
        let pages = begin.pages as usize;
        let page_data = KVVec::with_capacity(pages.checked_mul(PAGE_SIZE).ok_or(EINVAL)?, GFP_KERNEL)?;
        let page_addrs = KVec::with_capacity(pages, GFP_KERNEL)?;
        let incoming = Arc::pin_init(
            pin_init!(Incoming {
                id,
                sender: from.id,
                reserved,
                begin,
                data <- new_mutex!(Staged {
                    state: InState::Staging,
                    error: None,
                    vmas: KVec::new(),
                    page_addrs,
                    page_data,
                    regs: None,
                    signals: Signals::default(),
                    creds: Creds::default(),
                    xsave: KVec::new(),
                    pending: 0,
                }),
            }),
            GFP_KERNEL,
        )?;
        self.incoming.lock().push(incoming, GFP_KERNEL)?;
        drop(admitting);
        Ok(())
    }

    /// Migrations not running yet, and the bytes set aside for them: those
    /// from kernel `sender`, and the bytes of all.
    fn staging_load(&self, sender: u32) -> (PeerLoad, u64) {
        let mut peer = PeerLoad::default();
        let mut all = 0u64;
        for i in self.incoming.lock().iter() {
            if matches!(i.data.lock().state, InState::Running(_) | InState::Moved) {
                continue;
            }
            all = all.saturating_add(i.reserved);
            if i.sender == sender {
                peer.pending = peer.pending.saturating_add(1);
                peer.bytes = peer.bytes.saturating_add(i.reserved);
            }
        }
        (peer, all)
    }

    fn stage(&self, from: From, header: Header, body: &[u8]) {
        let Some(incoming) = self.find_incoming(header.id).filter(|i| i.sender == from.id) else {
            return;
        };
        let mut staged = incoming.data.lock();
        if staged.state != InState::Staging || staged.error.is_some() {
            return;
        }
        let result = match header.op {
            Op::Vmas => stage_vmas(&mut staged, &incoming.begin, body),
            Op::Pages => stage_pages(&mut staged, &incoming.begin, body),
            Op::State => stage_state(&mut staged, &incoming.begin, body),
            _ => Ok(()),
        };
        if let Err(e) = result {
            pr_warn!("migration from kernel {}: bad {:?} message; dropping it\n", from.id, header.op as u16);
            staged.error = Some(e);
        }
    }

    fn commit(&self, id: u64) -> Result {
        let incoming = self.find_incoming(id).ok_or(ENOENT)?;
        {
            let mut staged = incoming.data.lock();
            if let Some(e) = staged.error {
                drop(staged);
                self.drop_incoming(id);
                return Err(e);
            }
            if staged.state != InState::Staging
                || staged.vmas.len() != incoming.begin.vmas as usize
                || staged.regs.is_none()
            {
                drop(staged);
                self.drop_incoming(id);
                return Err(errno::eproto());
            }
            staged.state = InState::Launched;
        }
        if incoming.begin.home == self.self_id {
            // Back home: the stub takes it.
            let out = self.outgoing.lock().iter().find(|o| o.id == incoming.begin.stub).cloned();
            let Some(out) = out else {
                self.drop_incoming(id);
                return Err(ENOENT);
            };
            out.state.lock().back = Some(incoming);
            out.changed.notify_all();
            return Ok(());
        }
        if let Err(e) = start_helper(id, incoming.begin.origin_pid) {
            pr_err!("migration: cannot start {:?}: {:?}\n", HELPER, e);
            self.drop_incoming(id);
            return Err(e);
        }
        Ok(())
    }

    fn drop_incoming(&self, id: u64) {
        crate::kvec::remove_where(&mut self.incoming.lock(), |i| i.id == id);
    }

    /// The process of stub `stub` on kernel `home`, as this kernel holds
    /// it (or is about to).
    fn find_by_stub(&self, home: u32, stub: u64) -> Option<Arc<Incoming>> {
        self.incoming
            .lock()
            .iter()
            .find(|i| i.begin.home == home && i.begin.stub == stub && i.data.lock().state != InState::Moved)
            .cloned()
    }

    fn deliver_signal(&self, from: From, stub: u64, body: &[u8]) {
        let Some(incoming) = self.find_by_stub(from.id, stub) else {
            return;
        };
        let Ok(sig) = wire::parse_word(body) else { return };
        if !(1..=64).contains(&sig) {
            return;
        }
        let mut staged = incoming.data.lock();
        match staged.state {
            InState::Running(pid) => {
                drop(staged);
                kill(pid, sig);
            }
            // Not started yet: delivered as soon as it is.
            _ => staged.pending |= 1u64 << (sig - 1),
        }
    }

    /// The helper saw the process end: its home hears the status.
    fn exited(&self, id: u64, status: i32) -> Result {
        let incoming = self.find_incoming(id).ok_or(ENOENT)?;
        self.drop_incoming(id);
        if incoming.data.lock().state == InState::Moved {
            // It moved on; whoever runs it now reports its end.
            return Ok(());
        }
        let begin = &incoming.begin;
        self.send(begin.home, Op::Exited, begin.stub, &[&status.to_le_bytes()])
    }

    /// `Exited` from the kernel running a process of ours (or the one it
    /// was moving to: that one may report before it said it arrived, if
    /// the process could not be restored there).
    fn remote_exited(&self, from: From, id: u64, body: &[u8]) {
        let Ok(status) = wire::parse_word(body) else { return };
        let out = self.outgoing.lock().iter().find(|o| o.id == id).cloned();
        if let Some(out) = out {
            let mut state = out.state.lock();
            if state.holder == from.id || state.moving_to == Some(from.id) {
                state.exited = Some(status as i32);
                drop(state);
                out.changed.notify_all();
            }
        }
    }

    /// Makes `current` the process staged as `incoming`. Runs as the new
    /// process on its way to user mode; on success it returns into the
    /// migrated program.
    fn restore(&self, current: &Current, incoming: &Incoming, helper: bool) -> Result {
        let started = crate::kthread::monotonic_ns();
        // The image is taken out of the staging: its lock is not held while
        // files open or memory is written (the receive thread takes it to
        // deliver signals).
        let mut creds = KBox::new(Creds::default(), GFP_KERNEL)?;
        let staged = {
            let mut locked = incoming.data.lock();
            *creds = locked.creds;
            Shipped {
                vmas: core::mem::replace(&mut locked.vmas, KVec::new()),
                page_addrs: core::mem::replace(&mut locked.page_addrs, KVec::new()),
                page_data: core::mem::replace(&mut locked.page_data, KVVec::new()),
                creds,
            }
        };
        let begin = &incoming.begin;
        // Its identity first: nothing of the helper's (root) stays, and
        // the rest is done with the process's own rights.
        give_identity(current, &staged.creds, begin.origin_pid)?;
        // From here the helper's own memory is gone: any failure must end
        // the process rather than return to it.
        current.unmap_all()?;
        let from_file = map_program_text(current, begin, &staged)?;
        for (v, _) in staged.vmas.iter().zip(from_file.iter()).filter(|(_, &file)| !file) {
            current.map_anonymous(
                v.start,
                v.end,
                v.flags & Vma::READ != 0,
                v.flags & Vma::WRITE != 0,
                v.flags & Vma::EXEC != 0,
                v.flags & Vma::GROWSDOWN != 0,
            )?;
        }
        if begin.vdso != 0 {
            current.map_vdso(begin.vdso)?;
        }
        // Pages come in the order of the mappings: follow along to know
        // which can take a plain copy_to_user (writable ones, most of
        // them) and which need the ptrace way (text, read-only data).
        let mut mappings = staged.vmas.iter().zip(from_file.iter()).peekable();
        for (i, &addr) in staged.page_addrs.iter().enumerate() {
            let page = page_at(&staged.page_data, i).ok_or(EINVAL)?;
            while mappings.next_if(|(v, _)| v.end <= addr).is_some() {}
            let here = mappings.peek().filter(|(v, _)| v.start <= addr);
            if here.is_some_and(|(_, &file)| file) {
                // The same bytes are there already, from the file.
                continue;
            }
            let writable = here.is_some_and(|(v, _)| v.flags & Vma::WRITE != 0);
            if writable {
                current.write_writable(addr, page)?;
            } else {
                current.write(addr, page)?;
            }
            if i % 256 == 0 {
                crate::kthread::cond_resched();
            }
        }
        current.set_layout(&begin.mm);
        // The console is 0-2, as on the origin; the helper's sysfs file
        // (still open: this runs on the way out of its write) goes. A stub
        // taking its process back has the process's own files.
        if helper {
            current.close_files_from(3);
        }
        let mut staged_vmas = staged.vmas;
        drop(staged.page_addrs);
        drop(staged.page_data);
        let mut staged = incoming.data.lock();
        // Moving on later marks its text from these.
        core::mem::swap(&mut staged.vmas, &mut staged_vmas);
        current.set_signals(&staged.signals)?;
        let regs = staged.regs.ok_or(EINVAL)?;
        current.set_user_state(&regs, &staged.xsave)?;
        let pid = current.pid();
        self.counters.restore_ns.store(crate::kthread::monotonic_ns() - started, Ordering::Relaxed);
        staged.state = InState::Running(pid);
        // Signals sent to it while it was on its way, delivered when it
        // returns to user mode now.
        let pending = core::mem::take(&mut staged.pending);
        drop(staged);
        for sig in (1..=64u32).filter(|sig| pending & (1 << (sig - 1)) != 0) {
            kill(pid, sig);
        }
        Ok(())
    }
}

/// Gives `current` exactly the identity `creds` and checks that it has it
/// (a failure ends the process before it runs a user instruction).
fn give_identity(current: &Current, creds: &Creds, pid: u32) -> Result {
    let mut now = KBox::new(Creds::default(), GFP_KERNEL)?;
    let result = current.set_creds(creds).and_then(|()| match current.creds(&mut now) {
        Ok(()) if *now == *creds => Ok(()),
        _ => Err(EPERM),
    });
    if let Err(e) = result {
        pr_err!("migrate {}: cannot give it its credentials here ({:?})\n", pid, e);
    }
    result
}

/// Maps the program's text and read-only data from this kernel's copy of
/// its file where that holds the very bytes the process had (compared
/// page by page with what was shipped), and says which mappings it did:
/// the rest, and everything when the file is missing or differs, is
/// mapped anonymously and written from the shipped pages. One log line
/// says which way it went.
fn map_program_text(current: &Current, begin: &Begin, staged: &Shipped) -> Result<KVec<bool>> {
    let mut from_file = KVec::with_capacity(staged.vmas.len(), GFP_KERNEL)?;
    let candidate = |v: &Vma| v.flags & Vma::FILE != 0 && v.flags & Vma::WRITE == 0;
    let mut path = [0u8; wire::MAX_PATH + 1];
    let len = begin.path().len();
    if let Some(place) = path.get_mut(..len) {
        place.copy_from_slice(begin.path());
    }
    let shown = core::str::from_utf8(begin.path()).unwrap_or("(not UTF-8)");
    let path = CStr::from_bytes_with_nul(path.get(..=len).unwrap_or(&[])).ok().filter(|_| len > 0);
    let mut page = KVec::new();
    page.extend_with(PAGE_SIZE, 0u8, GFP_KERNEL)?;
    /// Why the file was not used.
    enum Unused {
        Differs,
        CannotMap(Error),
    }
    let mut failure: Option<Unused> = None;
    let any = staged.vmas.iter().any(candidate);
    // A path the sender chose: only a regular file, opened without waiting
    // (a FIFO there must not hold the restore forever).
    let file = match path.filter(|_| any).map(usertask::OpenFile::open_regular) {
        Some(Ok(file)) => Some(file),
        Some(Err(e)) => {
            failure = Some(Unused::CannotMap(e));
            None
        }
        None => None,
    };
    let mut mapped = 0usize;
    for v in staged.vmas.iter() {
        let use_file = match &file {
            Some(file) if candidate(v) && failure.is_none() => {
                match current.map_file(file, v.start, v.end, v.flags & Vma::EXEC != 0, v.offset) {
                    Ok(()) if same_bytes(current, v, staged, &mut page) => true,
                    // The anonymous mapping made below replaces it.
                    Ok(()) => {
                        failure = Some(Unused::Differs);
                        false
                    }
                    Err(e) => {
                        failure = Some(Unused::CannotMap(e));
                        false
                    }
                }
            }
            _ => false,
        };
        mapped += usize::from(use_file);
        from_file.push(use_file, GFP_KERNEL)?;
    }
    // Its text is the program's now: /proc/PID/exe, and moving on later
    // marks it as the program's again.
    if let (Some(file), None, true) = (&file, &failure, mapped > 0) {
        if let Err(e) = current.set_exe_file(file) {
            failure = Some(Unused::CannotMap(e));
        }
    }
    let pid = begin.origin_pid;
    match failure {
        Some(Unused::Differs) => {
            pr_info!("migrate {}: {} here is not the program it ran; its text was shipped\n", pid, shown)
        }
        Some(Unused::CannotMap(e)) => pr_info!("migrate {}: cannot map {} here ({:?}); its text was shipped\n", pid, shown, e),
        None if mapped > 0 => {
            pr_info!("migrate {}: {} mappings from this kernel's {} (the same bytes)\n", pid, mapped, shown)
        }
        None => {}
    }
    if failure.is_some() {
        // All or nothing: one program, one file.
        from_file.iter_mut().for_each(|f| *f = false);
    }
    Ok(from_file)
}

/// Whether the memory now at `v` holds exactly the pages shipped for it
/// (zeros where none was shipped). `page`: a page-sized buffer.
fn same_bytes(current: &Current, v: &Vma, staged: &Shipped, page: &mut [u8]) -> bool {
    let mut addr = v.start;
    while addr < v.end {
        if current.read(addr, page).is_err() {
            return false;
        }
        let shipped = staged
            .page_addrs
            .binary_search(&addr)
            .ok()
            .and_then(|i| page_at(&staged.page_data, i));
        let same = match shipped {
            Some(shipped) => shipped == &page[..],
            None => page.iter().all(|&b| b == 0),
        };
        if !same {
            return false;
        }
        let Some(next) = addr.checked_add(PAGE_SIZE as u64) else { return false };
        addr = next;
    }
    true
}

/// Page `i` of the pages a peer sent, if it sent that many (checked: `i`
/// counts what the peer's messages said).
fn page_at(data: &[u8], i: usize) -> Option<&[u8]> {
    data.get(i.checked_mul(PAGE_SIZE)?..)?.get(..PAGE_SIZE)
}

fn stage_vmas(staged: &mut Staged, begin: &Begin, body: &[u8]) -> Result {
    for vma in wire::parse_vmas(body).map_err(|_| EINVAL)? {
        let vma = vma.map_err(|_| EINVAL)?;
        if staged.vmas.len() >= begin.vmas as usize {
            return Err(EINVAL);
        }
        // In order and not overlapping.
        if staged.vmas.last().is_some_and(|last| last.end > vma.start) {
            return Err(EINVAL);
        }
        staged.vmas.push(vma, GFP_KERNEL)?;
    }
    Ok(())
}

fn stage_pages(staged: &mut Staged, begin: &Begin, body: &[u8]) -> Result {
    for page in wire::parse_pages(body).map_err(|_| EINVAL)? {
        let (addr, data) = page.map_err(|_| EINVAL)?;
        if staged.page_addrs.len() >= begin.pages as usize {
            return Err(EINVAL);
        }
        // Inside a readable mapping announced before.
        if !staged.vmas.iter().any(|v| v.flags & Vma::READ != 0 && v.start <= addr && addr < v.end) {
            return Err(EINVAL);
        }
        staged.page_addrs.push(addr, GFP_KERNEL)?;
        staged.page_data.extend_from_slice(data, GFP_KERNEL)?;
    }
    Ok(())
}

fn stage_state(staged: &mut Staged, begin: &Begin, body: &[u8]) -> Result {
    let (regs, xsave) = wire::parse_state(body, begin.xsave_len as usize, &mut staged.signals, &mut staged.creds)
        .map_err(|_| EINVAL)?;
    let mut copy = KVec::new();
    copy.extend_from_slice(xsave, GFP_KERNEL)?;
    staged.xsave = copy;
    staged.regs = Some(regs);
    Ok(())
}

/// A syscall the process was in when the capture interrupted it is
/// restarted on the destination (as a signal handler's return would):
/// `ax` back to the syscall number, `ip` back onto the `syscall`
/// instruction. A sleep restarts with its full time.
fn restart_interrupted_syscall(regs: &mut [u64; NR_REGS]) {
    let orig_ax = regs[reg::ORIG_AX] as i64;
    let ax = regs[reg::AX] as i64;
    if orig_ax >= 0 && matches!(ax, ERESTARTSYS | ERESTARTNOINTR | ERESTARTNOHAND | ERESTART_RESTARTBLOCK) {
        regs[reg::AX] = orig_ax as u64;
        regs[reg::IP] = regs[reg::IP].wrapping_sub(2);
    }
}

/// Sends signal `sig` to process `pid` of this kernel, if it still exists.
fn kill(pid: u32, sig: u32) {
    // SAFETY: a counted reference to the pid, released after use;
    // kill_pid finds the task under RCU itself (none if it exited).
    unsafe {
        let p = bindings::find_get_pid(pid as i32);
        if !p.is_null() {
            bindings::kill_pid(p, sig as i32, 1);
            bindings::put_pid(p);
        }
    }
}

/// Starts `popcornctl restore ID --pid PID` as a user-mode helper: PID
/// is the one the process had where it comes from, which the helper gives
/// it here too if it is free.
fn start_helper(id: u64, pid: u32) -> Result {
    let mut id_arg = [0u8; 24];
    write!(crate::text::SliceWriter::new(&mut id_arg), "{}\0", id).map_err(|_| EINVAL)?;
    let mut pid_arg = [0u8; 16];
    write!(crate::text::SliceWriter::new(&mut pid_arg), "{}\0", pid).map_err(|_| EINVAL)?;
    let mut argv: [*mut kernel::ffi::c_char; 6] = [
        c_str!("popcornctl").as_char_ptr() as *mut _,
        c_str!("restore").as_char_ptr() as *mut _,
        id_arg.as_mut_ptr().cast(),
        c_str!("--pid").as_char_ptr() as *mut _,
        pid_arg.as_mut_ptr().cast(),
        core::ptr::null_mut(),
    ];
    let mut envp: [*mut kernel::ffi::c_char; 3] = [
        c_str!("HOME=/").as_char_ptr() as *mut _,
        c_str!("PATH=/usr/bin:/bin:/usr/sbin:/sbin").as_char_ptr() as *mut _,
        core::ptr::null_mut(),
    ];
    // SAFETY: NUL-terminated strings and NULL-terminated arrays that live
    // until the helper has exec'd (UMH_WAIT_EXEC), which copies them.
    let ret = unsafe {
        bindings::call_usermodehelper(
            HELPER.as_char_ptr(),
            argv.as_mut_ptr(),
            envp.as_mut_ptr(),
            bindings::UMH_WAIT_EXEC as i32,
        )
    };
    kernel::error::to_result(ret)
}

impl MsgHandler for Migration {
    fn on_message(&self, from: From, body: &[u8]) {
        let (header, body) = match Header::parse(body) {
            Ok(parsed) => parsed,
            Err(e) => {
                if crate::msg::log_allowed() {
                    pr_warn!("migration: dropped a message from kernel {}: {}\n", from.id, e);
                }
                return;
            }
        };
        match header.op {
            Op::Vmas | Op::Pages | Op::State => self.stage(from, header, body),
            Op::Abort => {
                if self.find_incoming(header.id).is_some_and(|i| i.sender == from.id) {
                    self.drop_incoming(header.id);
                }
            }
            Op::Signal => self.deliver_signal(from, header.id, body),
            Op::Exited => self.remote_exited(from, header.id, body),
            Op::Arrived => self.moved(from, header.id, true),
            Op::Stayed => self.moved(from, header.id, false),
            Op::Begin | Op::Commit | Op::Moving => {}
        }
    }

    fn on_request(self: Arc<Self>, from: From, body: &[u8]) -> Answer {
        let Ok((header, rest)) = Header::parse(body) else {
            return Answer::Now(Err(EINVAL));
        };
        match header.op {
            // A large allocation, the user-mode helper: on a worker, off
            // the receive thread.
            Op::Begin | Op::Commit => {
                let mut copy = KVec::new();
                if let Err(e) = copy.extend_from_slice(body, GFP_KERNEL) {
                    return Answer::Now(Err(e.into()));
                }
                match Arc::new(RequestJob { migration: self, from, body: copy }, GFP_KERNEL) {
                    Ok(job) => Answer::Later(job),
                    Err(e) => Answer::Now(Err(e.into())),
                }
            }
            Op::Moving => Answer::Now(self.moving(from, header.id, rest).map(|()| KVec::new())),
            _ => Answer::Now(Err(EINVAL)),
        }
    }
}

/// A request whose handling must not run on the receive thread.
struct RequestJob {
    migration: Arc<Migration>,
    from: From,
    body: KVec<u8>,
}

impl Deferred for RequestJob {
    fn run(&self) -> Result<KVec<u8>> {
        self.migration.on_slow_request(self.from, &self.body)
    }
}

impl Migration {
    /// `Begin` and `Commit`, on a worker.
    fn on_slow_request(&self, from: From, body: &[u8]) -> Result<KVec<u8>> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(errno::ehostdown());
        }
        let (header, body) = Header::parse(body).map_err(|_| EINVAL)?;
        match header.op {
            Op::Begin => self.begin(from, header.id, body)?,
            Op::Commit => {
                if !self.find_incoming(header.id).is_some_and(|i| i.sender == from.id) {
                    return Err(ENOENT);
                }
                self.commit(header.id)?;
                self.counters.migrated_in.fetch_add(1, Ordering::Relaxed);
            }
            _ => return Err(EINVAL),
        }
        Ok(KVec::new())
    }
}

/// The origin's task work: capture, send, then stand in for the process.
struct Capture {
    migration: Arc<Migration>,
    out: Arc<Outgoing>,
}

impl TaskWork for Capture {
    fn run(self: Arc<Self>, current: Option<Current>) {
        let migration = &self.migration;
        {
            let mut status = self.out.state.lock();
            if status.state != OutState::Queued {
                // Withdrawn by the writer of `migrate` (a signal, or it
                // took too long to come here).
                drop(status);
                migration.busy.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            status.state = OutState::Capturing;
        }
        let Some(current) = current else {
            migration.finish_capture(&self.out, Err(ESRCH));
            migration.busy.fetch_sub(1, Ordering::SeqCst);
            return;
        };
        let result = migration.capture(&current, &self.out);
        migration.finish_capture(&self.out, result);
        if result.is_err() {
            // Back to the program, here, as if nothing happened.
            migration.busy.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        if let Some(arrived) = &self.out.arrived {
            // Moved on (home, or to a third kernel): nothing stays here.
            // The helper that started it will see it killed; not reported.
            arrived.data.lock().state = InState::Moved;
            migration.forget_outgoing(self.out.id);
            migration.busy.fetch_sub(1, Ordering::SeqCst);
            current.exit_group(KILLED);
        }
        migration.stub(current, &self.out)
    }
}

/// The destination's task work on the helper's child.
struct Restore {
    migration: Arc<Migration>,
    incoming: Arc<Incoming>,
}

impl TaskWork for Restore {
    fn run(self: Arc<Self>, current: Option<Current>) {
        let migration = &self.migration;
        let Some(current) = current else {
            migration.busy.fetch_sub(1, Ordering::SeqCst);
            return;
        };
        let result = migration.restore(&current, &self.incoming, true);
        migration.busy.fetch_sub(1, Ordering::SeqCst);
        if let Err(e) = result {
            pr_err!(
                "migration: process {} from kernel {} could not be restored: {:?}\n",
                self.incoming.begin.origin_pid,
                self.incoming.sender,
                e
            );
            // Its memory is gone: it cannot go back to the helper's code.
            current.exit_group(KILLED);
        }
    }
}

struct MigrateFile(Arc<Migration>);

#[kernel::macros::vtable]
impl AttributeOps for MigrateFile {
    fn store(&self, input: &[u8]) -> Result {
        let (pid, kernel) = wire::parse_request(input).ok_or_else(|| {
            pr_err!("migration/migrate: write 'PID KERNEL' (two decimal numbers)\n");
            EINVAL
        })?;
        self.0.migrate(pid, kernel)
    }
}

struct RestoreFile(Arc<Migration>);

#[kernel::macros::vtable]
impl AttributeOps for RestoreFile {
    fn store(&self, input: &[u8]) -> Result {
        let id = crate::number::parse_one(input, u64::MAX).map_err(|e| {
            pr_err!("migration/restore: not a migration id: {}\n", e);
            EINVAL
        })?;
        let incoming = self.0.find_incoming(id).ok_or(ENOENT)?;
        {
            let mut staged = incoming.data.lock();
            if staged.state != InState::Launched {
                return Err(EBUSY);
            }
            staged.state = InState::Restoring;
        }
        // SAFETY: we are in the writer's own syscall.
        let writer = unsafe { Current::in_task_work() }.ok_or(EPERM)?;
        if writer.threads() != 1 {
            return Err(EPERM);
        }
        self.0.busy.fetch_add(1, Ordering::SeqCst);
        let work = Arc::new(Restore { migration: self.0.clone(), incoming }, GFP_KERNEL)
            .map_err(Error::from)
            .and_then(usertask::queue_on_current);
        if let Err(e) = work {
            self.0.busy.fetch_sub(1, Ordering::SeqCst);
            return Err(e);
        }
        Ok(())
    }
}

struct ExitedFile(Arc<Migration>);

#[kernel::macros::vtable]
impl AttributeOps for ExitedFile {
    fn store(&self, input: &[u8]) -> Result {
        // A wait status (never negative) after the id.
        let status_max = u64::try_from(i32::MAX).unwrap_or(0);
        let ([id, status], _) = crate::number::parse_many::<2>(input, 2, u64::MAX)
            .ok()
            .filter(|([_, status], _)| *status <= status_max)
            .ok_or_else(|| {
                pr_err!("migration/exited: write 'ID STATUS' (two decimal numbers)\n");
                EINVAL
            })?;
        let status = i32::try_from(status).map_err(|_| EINVAL)?;
        self.0.exited(id, status)
    }
}

struct ProcessesFile(Arc<Migration>);

#[kernel::macros::vtable]
impl AttributeOps for ProcessesFile {
    fn show(&self, out: &mut Page<'_>) -> Result {
        for o in self.0.outgoing.lock().iter() {
            let status = o.state.lock();
            if status.state == OutState::Remote {
                writeln!(out, "{} {}", o.pid, status.holder).map_err(|_| EFBIG)?;
            }
        }
        for i in self.0.incoming.lock().iter() {
            if let InState::Running(pid) = i.data.lock().state {
                writeln!(out, "{} from {} (pid {} there)", pid, i.begin.home, i.begin.origin_pid)
                    .map_err(|_| EFBIG)?;
            }
        }
        Ok(())
    }
}

struct CounterFile(Arc<Migration>, u8);

#[kernel::macros::vtable]
impl AttributeOps for CounterFile {
    fn show(&self, out: &mut Page<'_>) -> Result {
        let c = &self.0.counters;
        let counter = match self.1 {
            0 => &c.migrated_out,
            1 => &c.migrated_in,
            2 => &c.refused,
            _ => &c.lost,
        };
        writeln!(out, "{}", counter.load(Ordering::Relaxed)).map_err(|_| EFBIG)
    }
}

struct LastFile(Arc<Migration>);

#[kernel::macros::vtable]
impl AttributeOps for LastFile {
    fn show(&self, out: &mut Page<'_>) -> Result {
        let c = &self.0.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        writeln!(out, "{} {} {}", get(&c.capture_ns), get(&c.transfer_ns), get(&c.restore_ns)).map_err(|_| EFBIG)
    }
}
