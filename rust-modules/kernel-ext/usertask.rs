// SPDX-License-Identifier: GPL-2.0

//! What task migration needs of a user process, as safe functions.
//!
//! Migration works on a process from the inside: a [`task work`](queue_work)
//! queued on it runs in its own context on its way back to user mode, with
//! no lock held, where it may sleep. There, [`Current`] reads the process's
//! registers (the ptrace regsets), its mappings and its memory, and on the
//! destination replaces all of them, so that the return to user mode
//! continues the migrated program (linux-patches/0010 exports the few
//! pieces 6.12 keeps to itself).
//!
//! [`Current`] can only be had on the way to user mode of a user process
//! ([`Current::in_task_work`]), which is what makes its methods safe: no
//! other thread shares the memory (migration takes single-threaded
//! processes only) and nothing of the kernel's runs on the user state
//! being replaced.

use core::ptr::NonNull;
use kernel::{
    alloc::KVec,
    bindings,
    error::{code::*, to_result, Error, Result},
    str::CStr,
    ffi::{c_int, c_ulong, c_void},
    prelude::*,
    sync::Arc,
};

use crate::migrate::{Creds, SigAction, Signals, MAX_GROUPS};

const SIGKILL: c_int = 9;
const SIGSTOP: c_int = 19;

/// Registers in `struct user_regs_struct` (x86-64), in its order: r15 r14
/// r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di orig_ax ip cs flags sp ss
/// fs_base gs_base ds es fs gs.
pub const NR_REGS: usize = 27;
/// Indexes into the registers.
pub mod reg {
    pub const AX: usize = 10;
    pub const ORIG_AX: usize = 15;
    pub const IP: usize = 16;
    pub const CS: usize = 17;
    pub const FLAGS: usize = 18;
    pub const SS: usize = 20;
    pub const FS_BASE: usize = 21;
    pub const GS_BASE: usize = 22;
    pub const DS: usize = 23;
}
/// `struct pt_regs` is the first 21 of them, in the same order.
const PT_REGS_WORDS: usize = 21;
const _: () = assert!(core::mem::size_of::<bindings::pt_regs>() == PT_REGS_WORDS * 8);

/// 64-bit user code and stack selectors (`__USER_CS`, `__USER_DS`).
const USER_CS: u64 = 0x33;
const USER_DS: u64 = 0x2b;
/// Flags user code may set (`FLAG_MASK` of ptrace: CF PF AF ZF SF TF DF OF
/// NT AC and friends), without TF: a migrated program is not single-stepped.
const USER_FLAGS: u64 = 0x0004_0dd5;
/// Interrupts on, and the bit that is always 1.
const FLAGS_ALWAYS: u64 = 0x0202;

/// A process mapping, as migration sees it.
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    pub grows_down: bool,
    /// `MAP_SHARED` memory (or shared file pages).
    pub shared: bool,
    /// Device or special memory (the vDSO's data pages, I/O mappings).
    pub special: bool,
    /// The vDSO's code.
    pub vdso: bool,
    /// Mapped from a file other than the program's own (a shared library,
    /// an mmapped file).
    pub other_file: bool,
    /// Mapped from the program's own file, at `file_offset` in it.
    pub program_file: bool,
    pub file_offset: u64,
    /// Holds anonymous pages: written since it was mapped (a file
    /// mapping's pages then differ from the file's).
    pub written: bool,
}

/// The process's memory layout fields (`mm_struct`): start_code,
/// end_code, start_data, end_data, start_brk, brk, start_stack, arg_start,
/// arg_end, env_start, env_end.
pub type Layout = [u64; 11];

/// The process this code runs for, on its way to user mode.
///
/// # Invariants
///
/// `0` is `current`, a user process (it has an mm, it is not a kernel
/// thread), running a task work queued by [`queue_work`] (or a sysfs write
/// that queues one): on its way to user mode, holding no lock.
pub struct Current(NonNull<bindings::task_struct>);

impl Current {
    /// `current`, if it is a user process (always, for a task work queued
    /// on one; `None` for a work run by an exiting task).
    ///
    /// # Safety
    ///
    /// Call only from a task work callback or from a syscall of the
    /// process (a sysfs write), on the process's own thread.
    pub unsafe fn in_task_work() -> Option<Current> {
        // SAFETY: `current` is always valid on its own thread.
        let task = unsafe { bindings::get_current() };
        let task = NonNull::new(task)?;
        // SAFETY: reading our own task's fields (through C: see
        // linux-patches/0010 on why not directly).
        let (flags, mm) = unsafe { (bindings::popcorn_task_flags(task.as_ptr()), bindings::popcorn_task_mm(task.as_ptr())) };
        if mm.is_null() || flags & (bindings::PF_KTHREAD | bindings::PF_EXITING) != 0 {
            return None;
        }
        // INVARIANT: as checked and as the caller promises.
        Some(Current(task))
    }

    fn task(&self) -> *mut bindings::task_struct {
        self.0.as_ptr()
    }

    fn mm(&self) -> *mut bindings::mm_struct {
        // SAFETY: our task (invariant); its mm does not change under us.
        unsafe { bindings::popcorn_task_mm(self.task()) }
    }

    /// Process id (the thread group's).
    pub fn pid(&self) -> u32 {
        // SAFETY: our task (invariant).
        unsafe { bindings::popcorn_task_tgid(self.task()) as u32 }
    }

    /// Threads in the process.
    pub fn threads(&self) -> i32 {
        // SAFETY: our task (invariant).
        unsafe { bindings::get_nr_threads(self.task()) }
    }

    /// The process's name.
    pub fn comm(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        // SAFETY: our task (invariant); copies TASK_COMM_LEN (16) bytes.
        unsafe { bindings::popcorn_task_comm(self.task(), out.as_mut_ptr().cast()) };
        out
    }

    fn regset(&self, note: u32) -> Result<*const bindings::user_regset> {
        // SAFETY: our task (invariant); the view is static data.
        let view = unsafe { bindings::task_user_regset_view(self.task()) };
        // SAFETY: a valid view with `n` regsets.
        let (regsets, n) = unsafe { ((*view).regsets, (*view).n as usize) };
        (0..n)
            // SAFETY: index within the view's `n` regsets.
            .map(|i| unsafe { regsets.add(i) })
            // SAFETY: a regset of the view.
            .find(|&r| unsafe { (*r).core_note_type } == note)
            .ok_or_else(crate::errno::eopnotsupp)
    }

    /// The general registers, as `PTRACE_GETREGS` gives them.
    pub fn regs(&self) -> Result<[u64; NR_REGS]> {
        let regset = self.regset(bindings::NT_PRSTATUS)?;
        let mut regs = [0u64; NR_REGS];
        // SAFETY: our task, our buffer of exactly the size passed; the
        // regset reads the live FS/GS bases of `current` itself.
        let got = unsafe {
            bindings::regset_get(self.task(), regset, (NR_REGS * 8) as u32, regs.as_mut_ptr().cast())
        };
        if got < 0 {
            return Err(Error::from_errno(got));
        }
        Ok(regs)
    }

    /// The FPU/SSE/AVX state: a non-compacted XSAVE image, as
    /// `PTRACE_GETREGSET(NT_X86_XSTATE)` gives it, of
    /// [`xsave_size`] bytes.
    pub fn xsave(&self) -> Result<KVec<u8>> {
        let size = xsave_size();
        let regset = self.regset(bindings::NT_X86_XSTATE)?;
        let mut buf = KVec::new();
        buf.extend_with(size, 0u8, GFP_KERNEL)?;
        // SAFETY: our task; a buffer of `size` bytes. For `current` the
        // regset first saves the live registers to memory.
        let got = unsafe { bindings::regset_get(self.task(), regset, size as u32, buf.as_mut_ptr().cast()) };
        if got < 0 {
            return Err(Error::from_errno(got));
        }
        Ok(buf)
    }

    /// The memory layout fields and where the vDSO is.
    pub fn layout(&self) -> (Layout, u64) {
        let mut fields = [0 as c_ulong; 12];
        // SAFETY: our mm (invariant); plain reads of fields that only
        // exec, brk() and prctl() of this single-threaded process change.
        unsafe { bindings::popcorn_mm_layout(self.mm(), fields.as_mut_ptr()) };
        let mut layout = [0u64; 11];
        for (l, f) in layout.iter_mut().zip(fields.iter()) {
            *l = *f as u64;
        }
        (layout, fields[11] as u64)
    }

    /// Every mapping, in address order.
    pub fn mappings(&self) -> Result<KVec<Mapping>> {
        let mm = self.mm();
        let (_, vdso) = self.layout();
        let mut out = KVec::new();
        // SAFETY: our mm; the read lock keeps every VMA alive while we
        // read it; nothing below sleeps except the allocation, which is
        // allowed under the mmap lock.
        unsafe {
            bindings::mmap_read_lock(mm);
            let exe = bindings::popcorn_mm_exe_file(mm);
            let mut addr: c_ulong = 0;
            let mut result: Result = Ok(());
            loop {
                let vma = bindings::find_vma(mm, addr);
                if vma.is_null() {
                    break;
                }
                let (mut start, mut end, mut flags, mut offset, mut anon) = (0, 0, 0, 0, false);
                let mut file = core::ptr::null_mut();
                bindings::popcorn_vma_info(vma, &mut start, &mut end, &mut flags, &mut file, &mut offset, &mut anon);
                let flags = flags as u64;
                let has = |bit: u32| flags & u64::from(bit) != 0;
                let mapping = Mapping {
                    start: start as u64,
                    end: end as u64,
                    read: has(bindings::VM_READ),
                    write: has(bindings::VM_WRITE),
                    exec: has(bindings::VM_EXEC),
                    grows_down: has(bindings::VM_GROWSDOWN),
                    shared: has(bindings::VM_SHARED),
                    special: has(bindings::VM_PFNMAP) || has(bindings::VM_IO) || has(bindings::VM_MIXEDMAP),
                    vdso: start as u64 == vdso && vdso != 0,
                    other_file: !file.is_null() && !bindings::popcorn_same_file(file, exe),
                    program_file: bindings::popcorn_same_file(file, exe),
                    file_offset: offset as u64,
                    written: anon,
                };
                if let Err(e) = out.push(mapping, GFP_KERNEL) {
                    result = Err(e.into());
                    break;
                }
                addr = end;
            }
            bindings::mmap_read_unlock(mm);
            result?;
        }
        Ok(out)
    }

    /// Copies the process's memory at `addr` into `out` (a fault on a page
    /// never touched maps the zero page, nothing more).
    pub fn read(&self, addr: u64, out: &mut [u8]) -> Result {
        // SAFETY: `current`'s own address space; the destination is ours.
        let left = unsafe {
            bindings::_copy_from_user(out.as_mut_ptr().cast(), addr as *const c_void, out.len() as c_ulong)
        };
        if left != 0 {
            return Err(EFAULT);
        }
        Ok(())
    }

    /// Writes `data` at `addr` in a writable mapping (`copy_to_user`: the
    /// cheaper way, faulting pages in as the program would).
    pub fn write_writable(&self, addr: u64, data: &[u8]) -> Result {
        // SAFETY: `current`'s own address space; the source is ours.
        let left = unsafe {
            bindings::_copy_to_user(addr as *mut c_void, data.as_ptr().cast(), data.len() as c_ulong)
        };
        if left != 0 {
            return Err(EFAULT);
        }
        Ok(())
    }

    /// Writes `data` at `addr`, even into a read-only mapping (as ptrace
    /// pokes do: a private copy of the page).
    pub fn write(&self, addr: u64, data: &[u8]) -> Result {
        let len = c_int::try_from(data.len()).map_err(|_| EINVAL)?;
        // SAFETY: our task; `data` is readable for `len` bytes (the
        // function only reads from it with FOLL_WRITE).
        let done = unsafe {
            bindings::access_process_vm(
                self.task(),
                addr as c_ulong,
                data.as_ptr() as *mut c_void,
                len,
                bindings::FOLL_FORCE | bindings::FOLL_WRITE,
            )
        };
        if done != len {
            return Err(EFAULT);
        }
        Ok(())
    }

    /// Removes every mapping of the process: its memory is freed.
    pub fn unmap_all(&self) -> Result {
        loop {
            let mm = self.mm();
            // SAFETY: our mm, read-locked to look up the first VMA.
            let range = unsafe {
                bindings::mmap_read_lock(mm);
                let vma = bindings::find_vma(mm, 0);
                let range = (!vma.is_null()).then(|| {
                    let (mut start, mut end, mut flags, mut offset, mut anon) = (0, 0, 0, 0, false);
                    let mut file = core::ptr::null_mut();
                    bindings::popcorn_vma_info(vma, &mut start, &mut end, &mut flags, &mut file, &mut offset, &mut anon);
                    (start, end)
                });
                bindings::mmap_read_unlock(mm);
                range
            };
            let Some((start, end)) = range else { return Ok(()) };
            // SAFETY: unmapping our own process's memory, which no kernel
            // code of ours references.
            let ret = unsafe { bindings::vm_munmap(start, end - start) };
            to_result(ret)?;
        }
    }

    /// The path of the program's file (in our root) into `buf`: its
    /// length, or `None` if there is none or it does not fit.
    pub fn program_path(&self, buf: &mut [u8]) -> Option<usize> {
        let len = c_int::try_from(buf.len()).ok()?;
        let mm = self.mm();
        // SAFETY: our mm; the read lock keeps its exe file alive while
        // d_path writes at most `len` bytes into `buf`.
        let n = unsafe {
            bindings::mmap_read_lock(mm);
            let exe = bindings::popcorn_mm_exe_file(mm);
            let n = if exe.is_null() { -1 } else { bindings::popcorn_file_path(exe, buf.as_mut_ptr().cast(), len) };
            bindings::mmap_read_unlock(mm);
            n
        };
        usize::try_from(n).ok()
    }

    /// Maps `file` privately at exactly `[start, end)`, from `offset` in
    /// it, readable and maybe executable (never writable: that memory is
    /// the process's own).
    pub fn map_file(&self, file: &OpenFile, start: u64, end: u64, exec: bool, offset: u64) -> Result {
        let prot = u64::from(bindings::PROT_READ) | u64::from(exec) * u64::from(bindings::PROT_EXEC);
        let flags = bindings::MAP_PRIVATE | bindings::MAP_FIXED;
        // SAFETY: an open file (invariant of `OpenFile`), which the
        // mapping takes its own reference to.
        unsafe { mmap_fixed(file.0.as_ptr(), start, end, prot, flags.into(), offset) }
    }

    /// Makes `file` the process's executable (`/proc/PID/exe`), once its
    /// text is mapped from it.
    pub fn set_exe_file(&self, file: &OpenFile) -> Result {
        // SAFETY: an open file (invariant of `OpenFile`); current's own mm.
        to_result(unsafe { bindings::popcorn_set_exe_file(file.0.as_ptr()) })
    }

    /// Maps anonymous private memory at exactly `[start, end)`.
    pub fn map_anonymous(&self, start: u64, end: u64, read: bool, write: bool, exec: bool, grows_down: bool) -> Result {
        let prot = u64::from(read) * u64::from(bindings::PROT_READ)
            | u64::from(write) * u64::from(bindings::PROT_WRITE)
            | u64::from(exec) * u64::from(bindings::PROT_EXEC);
        let mut flags = bindings::MAP_PRIVATE | bindings::MAP_ANONYMOUS | bindings::MAP_FIXED;
        if grows_down {
            flags |= bindings::MAP_GROWSDOWN;
        }
        // SAFETY: no file: an anonymous mapping.
        unsafe { mmap_fixed(core::ptr::null_mut(), start, end, prot, flags.into(), 0) }
    }

    /// Maps the vDSO (and its data pages) at `addr`.
    pub fn map_vdso(&self, addr: u64) -> Result {
        // SAFETY: maps into our own process; checks for an existing vDSO.
        to_result(unsafe { bindings::popcorn_map_vdso(addr as c_ulong) })
    }

    /// Sets the memory layout fields (so that `brk()` continues where the
    /// process left it).
    pub fn set_layout(&self, layout: &Layout) {
        let mut fields = [0 as c_ulong; 11];
        for (f, l) in fields.iter_mut().zip(layout.iter()) {
            *f = *l as c_ulong;
        }
        let mm = self.mm();
        // SAFETY: our mm, write-locked: the fields brk() and /proc read.
        unsafe {
            bindings::mmap_write_lock(mm);
            bindings::popcorn_mm_set_layout(mm, fields.as_ptr());
            bindings::mmap_write_unlock(mm);
        }
    }

    /// Makes the return to user mode continue at `regs` (as
    /// `PTRACE_SETREGS` would, segments forced to 64-bit user ones), with
    /// this FPU/SSE/AVX state.
    pub fn set_user_state(&self, regs: &[u64; NR_REGS], xsave: &[u8]) -> Result {
        let len = u32::try_from(xsave.len()).map_err(|_| EINVAL)?;
        // SAFETY: checks the image and loads it as current's state.
        to_result(unsafe { bindings::popcorn_fpu_load_uabi(xsave.as_ptr().cast(), len) })?;
        // SAFETY: sets current's bases.
        to_result(unsafe {
            bindings::popcorn_set_fs_gs_base(regs[reg::FS_BASE] as c_ulong, regs[reg::GS_BASE] as c_ulong)
        })?;
        // SAFETY: our user registers (invariant: on the way to user mode,
        // after any syscall stored its return value in them); `pt_regs` is
        // 21 words in `user_regs_struct`'s order (checked at build time).
        unsafe {
            let words = bindings::task_pt_regs(self.task()).cast::<u64>();
            for (i, value) in regs.iter().take(PT_REGS_WORDS).enumerate() {
                words.add(i).write(*value);
            }
            words.add(reg::CS).write(USER_CS);
            words.add(reg::SS).write(USER_DS);
            words.add(reg::FLAGS).write(regs[reg::FLAGS] & USER_FLAGS | FLAGS_ALWAYS);
            // No syscall to restart: the migrated `ax` stays as it is.
            words.add(reg::ORIG_AX).write(u64::MAX);
        }
        Ok(())
    }

    /// Ends the process with `status` (a wait status: `code << 8`, or a
    /// signal number).
    pub fn exit_group(self, status: i32) -> ! {
        // SAFETY: ends our own process; never returns.
        unsafe { bindings::popcorn_exit_group(status) }
    }

    /// Makes every catchable signal wake the process instead of acting on
    /// it (the stub of a migrated process forwards them), unblocked.
    pub fn catch_all_signals(&self) {
        for sig in 1..=64 {
            if sig == SIGKILL || sig == SIGSTOP {
                continue;
            }
            // SAFETY: SIG_KTHREAD (2) is a handler value the kernel treats
            // as "queue and wake", never called as a function; the
            // transmute only gives it the type `kernel_sigaction` takes.
            unsafe {
                let handler: bindings::__sighandler_t = core::mem::transmute::<usize, _>(2);
                bindings::kernel_sigaction(sig, handler);
            }
        }
        let mut empty: bindings::sigset_t = Default::default();
        // SAFETY: sets our own mask from a valid set.
        unsafe { bindings::sigprocmask(bindings::SIG_SETMASK as c_int, &mut empty, core::ptr::null_mut()) };
    }

    /// Whether every open file is a terminal (the console, a serial line,
    /// a pseudo-terminal): the only files a migrated process may hold.
    /// `Err(fd)` names the first that is not.
    pub fn files_are_consoles(&self) -> Result<(), u32> {
        /// Returns 1 for the first file that is not a terminal, after
        /// storing its number where `ctx` points (an `AtomicU32`).
        unsafe extern "C" fn check(ctx: *const c_void, file: *mut bindings::file, fd: u32) -> c_int {
            // SAFETY: iterate_fd passes each open file, referenced for the
            // call.
            let rdev = unsafe { bindings::popcorn_file_chrdev(file) };
            // TTY_MAJOR (4), TTYAUX_MAJOR (5: /dev/tty, /dev/console),
            // the pseudo-terminal slaves (136-143).
            if matches!(rdev >> 20, 4 | 5 | 136..=143) {
                return 0;
            }
            // SAFETY: `ctx` is the `AtomicU32` of the caller below.
            unsafe { (*ctx.cast::<core::sync::atomic::AtomicU32>()).store(fd, core::sync::atomic::Ordering::Relaxed) };
            1
        }
        let bad_fd = core::sync::atomic::AtomicU32::new(0);
        // SAFETY: our task's file table, alive while we run (no other
        // thread); the callback only reads the files and writes `bad_fd`.
        let found = unsafe {
            let files = bindings::popcorn_task_files(self.task());
            if files.is_null() {
                return Ok(());
            }
            bindings::iterate_fd(files, 0, Some(check), core::ptr::from_ref(&bad_fd).cast())
        };
        if found == 0 {
            Ok(())
        } else {
            Err(bad_fd.load(core::sync::atomic::Ordering::Relaxed))
        }
    }

    /// Closes every file from `first` on (up to 1024): the helper that
    /// became a migrated process leaves nothing of its own open.
    pub fn close_files_from(&self, first: u32) {
        for fd in first..1024 {
            // SAFETY: closes a descriptor of our own process (EBADF if
            // none); the file itself goes when its last user does.
            unsafe { bindings::close_fd(fd) };
        }
    }

    /// The process's signal state: what each signal does, the blocked
    /// set, the alternate stack (into `state`: it is 2 KiB).
    pub fn signals(&self, state: &mut Signals) -> Result {
        for (n, action) in (1..).zip(state.actions.iter_mut()) {
            if n == SIGKILL || n == SIGSTOP {
                continue;
            }
            let mut raw = bindings::popcorn_sigaction::default();
            // SAFETY: reads current's disposition of a valid signal number
            // into a local.
            to_result(unsafe { bindings::popcorn_get_sigaction(n, &mut raw) })?;
            *action = SigAction { handler: raw.handler, flags: raw.flags, restorer: raw.restorer, mask: raw.mask };
        }
        let (mut sp, mut size, mut flags) = (0, 0, 0);
        // SAFETY: current's own fields, into locals.
        unsafe {
            state.blocked = bindings::popcorn_blocked_signals();
            bindings::popcorn_get_altstack(&mut sp, &mut size, &mut flags);
        }
        state.altstack_sp = sp as u64;
        state.altstack_size = size as u64;
        state.altstack_flags = flags;
        Ok(())
    }

    /// Gives the process this signal state (addresses checked to be user
    /// ones by the caller, as [`Signals::parse_into`] does).
    pub fn set_signals(&self, state: &Signals) -> Result {
        for (n, a) in (1..).zip(state.actions.iter()) {
            if n == SIGKILL || n == SIGSTOP {
                continue;
            }
            let raw = bindings::popcorn_sigaction {
                handler: a.handler,
                flags: a.flags,
                restorer: a.restorer,
                mask: a.mask,
            };
            // SAFETY: sets current's disposition of a valid signal number;
            // do_sigaction keeps kernel-only flags out.
            to_result(unsafe { bindings::popcorn_set_sigaction(n, &raw) })?;
        }
        let mut blocked = bindings::sigset_t::default();
        blocked.sig[0] = state.blocked as c_ulong;
        // SAFETY: sets our own mask (sigprocmask leaves SIGKILL and SIGSTOP
        // out) and our own alternate stack fields, which only this thread
        // reads.
        unsafe {
            bindings::sigprocmask(bindings::SIG_SETMASK as c_int, &mut blocked, core::ptr::null_mut());
            bindings::popcorn_set_altstack(
                state.altstack_sp as c_ulong,
                state.altstack_size as c_ulong,
                state.altstack_flags,
            );
        }
        Ok(())
    }

    /// What confines the process beyond its credentials, which cannot go
    /// with it: a bit each for a namespace that is not the initial one, a
    /// seccomp mode, an LSM label, a chroot
    /// ([`crate::migrate::confinement_refusal`] names them).
    pub fn confinement(&self) -> u32 {
        // SAFETY: reads current's own namespaces, seccomp mode, creds and
        // root, which only current changes.
        unsafe { bindings::popcorn_confinement() }
    }

    /// The process's identity: credentials, umask, whether it is dumpable.
    /// `Err(n)`: it has `n` supplementary groups, more than a record holds.
    /// Ids are the kernel's (`kuid_t`): those of the initial user
    /// namespace, which a process of another is not in ([`Self::confinement`]).
    pub fn creds(&self, c: &mut Creds) -> Result<(), usize> {
        // SAFETY: current's own credentials, which only current replaces
        // (it is running this): they stay valid while we read them. Their
        // group list is never null and holds `ngroups` ids.
        unsafe {
            let cred = &*bindings::popcorn_current_cred();
            c.uid = [cred.uid.val, cred.euid.val, cred.suid.val, cred.fsuid.val];
            c.gid = [cred.gid.val, cred.egid.val, cred.sgid.val, cred.fsgid.val];
            c.caps = [
                cred.cap_inheritable.val,
                cred.cap_permitted.val,
                cred.cap_effective.val,
                cred.cap_bset.val,
                cred.cap_ambient.val,
            ];
            c.securebits = cred.securebits;
            let groups = &*cred.group_info;
            let n = usize::try_from(groups.ngroups).unwrap_or(0);
            if n > MAX_GROUPS {
                return Err(n);
            }
            c.ngroups = n as u32;
            c.groups = [0; MAX_GROUPS];
            for (slot, gid) in c.groups.iter_mut().zip(groups.gid.as_slice(n)) {
                *slot = gid.val;
            }
            c.no_new_privs = bindings::popcorn_no_new_privs();
            c.dumpable = bindings::popcorn_dumpable() as u8;
            c.umask = bindings::current_umask() as u16;
        }
        Ok(())
    }

    /// Gives the process exactly the identity `c` (checked by
    /// [`Creds::parse_into`]): new credentials committed as `setresuid`,
    /// `setgroups`, `capset` and `prctl` would leave them, charged to its
    /// own user; then its umask and dumpable setting. `no_new_privs` can
    /// only be set: a process that has it and should not fails `EPERM`
    /// (nothing changed then).
    pub fn set_creds(&self, c: &Creds) -> Result {
        // SAFETY: reads current's own flag.
        if unsafe { bindings::popcorn_no_new_privs() } && !c.no_new_privs {
            return Err(EPERM);
        }
        let kuid = |val| bindings::kuid_t { val };
        let kgid = |val| bindings::kgid_t { val };
        let caps = |val| bindings::kernel_cap_t { val };
        let groups = c.groups();
        let ngroups = c_int::try_from(groups.len()).map_err(|_| EINVAL)?;
        // SAFETY: a copy of current's credentials, ours until committed or
        // aborted (null: out of memory).
        let new = unsafe { bindings::prepare_creds() };
        if new.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `new` is ours and not yet visible to anyone: its fields
        // may be written; the helpers take and drop their own references
        // (group list, user).
        let built = unsafe {
            let n = &mut *new;
            (n.uid, n.euid, n.suid, n.fsuid) = (kuid(c.uid[0]), kuid(c.uid[1]), kuid(c.uid[2]), kuid(c.uid[3]));
            (n.gid, n.egid, n.sgid, n.fsgid) = (kgid(c.gid[0]), kgid(c.gid[1]), kgid(c.gid[2]), kgid(c.gid[3]));
            n.cap_inheritable = caps(c.caps[0]);
            n.cap_permitted = caps(c.caps[1]);
            n.cap_effective = caps(c.caps[2]);
            n.cap_bset = caps(c.caps[3]);
            n.cap_ambient = caps(c.caps[4]);
            n.securebits = c.securebits;
            to_result(bindings::popcorn_cred_set_groups(new, groups.as_ptr(), ngroups))
                .and_then(|()| to_result(bindings::popcorn_cred_set_user(new)))
        };
        if let Err(e) = built {
            // SAFETY: not committed: ours to drop.
            unsafe { bindings::abort_creds(new) };
            return Err(e);
        }
        // SAFETY: `new` becomes current's credentials (commit_creds takes
        // our reference; it cannot fail). Then current's own flags, mm
        // (which commit_creds may just have made non-dumpable) and umask.
        unsafe {
            bindings::commit_creds(new);
            if c.no_new_privs {
                bindings::popcorn_set_no_new_privs();
            }
            bindings::popcorn_set_dumpable(c_int::from(c.dumpable));
            bindings::popcorn_set_umask(u32::from(c.umask));
        }
        Ok(())
    }

    /// Signals pending for the process (bit n-1 for signal n), taken away
    /// in one step: none arriving meanwhile is lost.
    pub fn take_signals(&self) -> u64 {
        // SAFETY: takes current's own pending signals under its lock.
        unsafe { bindings::popcorn_take_signals() }
    }
}

/// A file opened for reading, by path, in the caller's root.
///
/// # Invariants
///
/// The pointer is an open `struct file` whose reference this object holds
/// and drops.
pub struct OpenFile(NonNull<bindings::file>);

impl OpenFile {
    pub fn open(path: &CStr) -> Result<Self> {
        // SAFETY: a NUL-terminated path; filp_open returns a referenced
        // file or an encoded errno.
        let file = unsafe { bindings::filp_open(path.as_char_ptr(), bindings::O_RDONLY as c_int, 0) };
        if let Some(e) = err_ptr(file.cast()) {
            return Err(e);
        }
        // INVARIANT: opened just now; the reference is ours.
        NonNull::new(file).map(OpenFile).ok_or(ENOENT)
    }

    /// Opens `path` for reading only if it is a regular file; `EACCES`
    /// for anything else (as `execve` answers). For paths another kernel
    /// chose: the open never waits (`O_NONBLOCK`: a FIFO or a device would
    /// block a plain open until someone else opens the other end, perhaps
    /// forever) and never makes a terminal ours (`O_NOCTTY`). The type is
    /// checked on the file opened, not on the path beforehand, so that
    /// nothing can be put in its place between check and use; what remains
    /// is the open itself of whatever is there (a device's open runs its
    /// driver's code, non-blocking).
    pub fn open_regular(path: &CStr) -> Result<Self> {
        let flags = bindings::O_RDONLY | bindings::O_NONBLOCK | bindings::O_NOCTTY;
        // SAFETY: a NUL-terminated path; filp_open returns a referenced
        // file or an encoded errno.
        let file = unsafe { bindings::filp_open(path.as_char_ptr(), flags as c_int, 0) };
        if let Some(e) = err_ptr(file.cast()) {
            return Err(e);
        }
        // INVARIANT: opened just now; the reference is ours (dropped on
        // every path below).
        let file = NonNull::new(file).map(OpenFile).ok_or(ENOENT)?;
        // SAFETY: an open file has an inode for as long as it is open.
        let mode = unsafe { (*(*file.0.as_ptr()).f_inode).i_mode };
        if u32::from(mode) & bindings::S_IFMT != bindings::S_IFREG {
            return Err(EACCES);
        }
        Ok(file)
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        // SAFETY: our reference (invariant), dropped once.
        unsafe { bindings::fput(self.0.as_ptr()) };
    }
}

/// Maps `[start, end)` of current's address space exactly there (the
/// flags include `MAP_FIXED`), from `file` at `offset` or anonymously.
///
/// # Safety
///
/// `file` is null or an open file the caller holds a reference to for the
/// call.
unsafe fn mmap_fixed(file: *mut bindings::file, start: u64, end: u64, prot: u64, flags: u64, offset: u64) -> Result {
    let len = end.checked_sub(start).ok_or(EINVAL)?;
    // SAFETY: a new mapping in our own process; `file` as the caller
    // promises (vm_mmap takes its own reference for the mapping).
    let at = unsafe {
        bindings::vm_mmap(file, start as c_ulong, len as c_ulong, prot as c_ulong, flags as c_ulong, offset as c_ulong)
    };
    match err_ptr(at as *const c_void) {
        Some(e) => Err(e),
        None if at as u64 == start => Ok(()),
        None => Err(ENOMEM),
    }
}

/// The errno a kernel pointer encodes (`ERR_PTR`), if it is one.
fn err_ptr(ptr: *const c_void) -> Option<Error> {
    let value = ptr as isize;
    (-4095..0).contains(&value).then(|| Error::from_errno(value as c_int))
}

/// Bytes of the XSAVE image [`Current::xsave`] gives and
/// [`Current::set_user_state`] takes, on this machine.
pub fn xsave_size() -> usize {
    // SAFETY: a constant of the running kernel.
    unsafe { bindings::popcorn_fpu_uabi_size() as usize }
}

/// Something to run in a process's own context, on its way to user mode.
pub trait TaskWork: Send + Sync + 'static {
    /// Runs as the process: `current` is `Some` unless the process is
    /// exiting (then there is nothing to do but clean up).
    fn run(self: Arc<Self>, current: Option<Current>);
}

#[repr(C)]
struct WorkNode<T: TaskWork> {
    /// First, so that the callback finds the node from it.
    head: bindings::callback_head,
    work: Arc<T>,
}

unsafe extern "C" fn run_work<T: TaskWork>(head: *mut bindings::callback_head) {
    // SAFETY: `head` is the first field of a `WorkNode<T>` that
    // `queue_work` leaked for exactly this one call.
    let node = unsafe { KBox::from_raw(head.cast::<WorkNode<T>>()) };
    // SAFETY: task works run on the process's own thread, on its way to
    // user mode (or from its exit, which `in_task_work` sees).
    let current = unsafe { Current::in_task_work() };
    let work = node.work.clone();
    drop(node);
    work.run(current);
}

/// How the process hears about the work.
#[derive(Clone, Copy)]
pub enum Notify {
    /// At its next return to user mode (a syscall's end, for the writer
    /// of a sysfs file itself).
    Resume,
    /// At once: interrupts an interruptible sleep or user code.
    Signal,
}

/// A user process, found by PID and held.
///
/// # Invariants
///
/// `0` is a task reference this object owns (`get_pid_task`).
pub struct Task(NonNull<bindings::task_struct>);

// SAFETY: a counted task reference may be used and dropped anywhere.
unsafe impl Send for Task {}
// SAFETY: only thread-safe reads through `&Task`.
unsafe impl Sync for Task {}

/// Why a process cannot be migrated, seen from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfit {
    NoSuchProcess,
    KernelThread,
    Exiting,
    Threads(i32),
}

impl Task {
    /// The process with this PID (in the initial namespace).
    pub fn find(pid: u32) -> Result<Task, Unfit> {
        let nr = c_int::try_from(pid).map_err(|_| Unfit::NoSuchProcess)?;
        // SAFETY: looks up and references a `struct pid`, released below.
        let task = unsafe {
            let p = bindings::find_get_pid(nr);
            if p.is_null() {
                return Err(Unfit::NoSuchProcess);
            }
            let task = bindings::get_pid_task(p, bindings::pid_type_PIDTYPE_PID);
            bindings::put_pid(p);
            task
        };
        // INVARIANT: a reference from get_pid_task, ours.
        let task = Task(NonNull::new(task).ok_or(Unfit::NoSuchProcess)?);
        // SAFETY: a referenced task: its fields stay readable.
        let (flags, mm, tgid, pid_nr, exit_state) = unsafe {
            let t = task.0.as_ptr();
            (
                bindings::popcorn_task_flags(t),
                bindings::popcorn_task_mm(t),
                bindings::popcorn_task_tgid(t),
                bindings::popcorn_task_pid(t),
                bindings::popcorn_task_exit_state(t),
            )
        };
        if flags & bindings::PF_KTHREAD != 0 || mm.is_null() {
            return Err(Unfit::KernelThread);
        }
        if flags & bindings::PF_EXITING != 0 || exit_state != 0 {
            return Err(Unfit::Exiting);
        }
        if tgid != pid_nr {
            // A thread of a process: the process is what migrates.
            return Err(Unfit::Threads(2));
        }
        // SAFETY: a referenced task.
        let threads = unsafe { bindings::get_nr_threads(task.0.as_ptr()) };
        if threads != 1 {
            return Err(Unfit::Threads(threads));
        }
        Ok(task)
    }

    /// Whether the process is an init: PID 1, or the first process of a PID
    /// namespace (PID 1 there, `is_child_reaper()`). The end of PID 1
    /// panics the kernel, the end of a namespace's init ends the namespace:
    /// neither may leave.
    pub fn is_init(&self) -> bool {
        let t = self.0.as_ptr();
        // SAFETY: a referenced task (invariant); read through C (see
        // `in_task_work`).
        if unsafe { bindings::popcorn_task_tgid(t) } == 1 {
            return true;
        }
        // SAFETY: `get_task_pid` takes a reference to the task's `struct
        // pid` under RCU, or returns NULL for a task already reaped (which
        // is nobody's init any more).
        let pid = unsafe { bindings::get_task_pid(t, bindings::pid_type_PIDTYPE_PID) };
        if pid.is_null() {
            return false;
        }
        // SAFETY: `pid` is referenced until `put_pid`; `numbers` has
        // `level + 1` entries (one per namespace level), fixed when the pid
        // was allocated. `struct pid` has no cacheline-aligned members, so
        // bindgen's layout is the C one. `level` is a `u32`: it fits `usize`.
        let nr_in_own_namespace = unsafe {
            let level = (*pid).level as usize;
            let nr = (*pid).numbers.as_ptr().add(level).read().nr;
            bindings::put_pid(pid);
            nr
        };
        nr_in_own_namespace == 1
    }

    /// Queues `work` to run in the process's own context.
    pub fn queue<T: TaskWork>(&self, work: Arc<T>, notify: Notify) -> Result {
        queue_on(self.0.as_ptr(), work, notify)
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        // SAFETY: our reference (invariant), dropped once.
        unsafe { bindings::put_task_struct(self.0.as_ptr()) };
    }
}

/// Queues `work` on the calling process itself (from one of its syscalls).
pub fn queue_on_current<T: TaskWork>(work: Arc<T>) -> Result {
    // SAFETY: `current` is valid on its own thread.
    let task = unsafe { bindings::get_current() };
    queue_on(task, work, Notify::Resume)
}

fn queue_on<T: TaskWork>(task: *mut bindings::task_struct, work: Arc<T>, notify: Notify) -> Result {
    let node = KBox::new(
        WorkNode {
            head: bindings::callback_head {
                next: core::ptr::null_mut(),
                func: Some(run_work::<T>),
            },
            work,
        },
        GFP_KERNEL,
    )?;
    let raw = KBox::into_raw(node);
    let mode = match notify {
        Notify::Resume => bindings::task_work_notify_mode_TWA_RESUME,
        Notify::Signal => bindings::task_work_notify_mode_TWA_SIGNAL,
    };
    // SAFETY: a valid task (the caller holds it or it is current); the
    // node lives until `run_work` takes it back, which happens exactly
    // once if this succeeds.
    let ret = unsafe { bindings::task_work_add(task, core::ptr::addr_of_mut!((*raw).head), mode) };
    if ret != 0 {
        // SAFETY: not queued: the node is still ours.
        drop(unsafe { KBox::from_raw(raw) });
        return Err(Error::from_errno(ret));
    }
    Ok(())
}
