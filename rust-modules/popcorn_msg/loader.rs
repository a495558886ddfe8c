// SPDX-License-Identifier: GPL-2.0

//! Starting, watching and stopping secondary kernels:
//! `/sys/kernel/popcorn/boot`, `shutdown`, `release` and `kernels/<id>/`.
//!
//! A write to `boot` (`cpus=2-3 [mem=512M] [kernel=PATH] [initrd=PATH]
//! [cmdline="..."]`) is checked completely before anything changes: the
//! request's syntax, the CPUs (they exist, are online here, are not the boot
//! CPU, belong to no other kernel), the image (a relocatable 64-bit
//! bzImage) and the initramfs (both readable), a free low-memory window,
//! and the partition against the pool. Only then is the partition cut from
//! the pool and are the CPUs taken offline; the image and initramfs are
//! copied into the partition, and the zero page, setup_data, command line,
//! control page and identity page tables are written into the kernel's
//! boot slot of the shared window, as a plan checked before anything is
//! mapped says (`bootplan.rs`).
//!
//! Then the kernel is started: the trampoline goes into the reserved page
//! below 1 MiB, the first CPU gets INIT/SIPI, and the write waits until
//! the trampoline has reached long mode and the new kernel has reported
//! from `setup_arch()` in its control page (`early`). That proves the
//! image decompressed and runs; the write returns and the kernel's state is
//! `booting`. A failure at any step undoes the earlier ones (the CPUs get
//! INIT and come back online here, the partition returns to the pool) and
//! returns one errno with one log line saying how far the start got.
//!
//! From then on a kernel thread (`popcorn-watch`) reads every running
//! secondary's control page five times a second and moves its state:
//! `booting` -> `running` when it finishes its initcalls; `stopped` when it
//! halts or powers off; `crashed` when it panics, does not finish booting
//! in time, or one of its CPUs stops its heartbeat (a hang, possibly with
//! interrupts off). In both end states its CPUs get INIT and are onlined
//! here again and its partition, low window and boot slot are free for the
//! next kernel. The ended kernel's `kernels/<id>/` stays, for its state,
//! until its id is written to `release` (the 16 most recent are kept).
//!
//! Writing an id to `shutdown` asks that kernel to power off (it runs
//! `orderly_poweroff()`), waits for it to end, and forces it (INIT) after
//! a timeout (state `forced`); the write succeeds only if it ended
//! `stopped`. A boot holds the loader lock only to reserve the CPUs,
//! partition, boot slot and id and to install the kernel; staging
//! (partition and low window cleared first) and the start run without it,
//! so the watcher keeps going meanwhile. The start, boot, heartbeat and shutdown timeouts are the
//! constants below, sized for QEMU without KVM.
//!
//! Errors a writer sees from `boot`: `EINVAL` (malformed request, bad
//! size, too many CPUs), `ENODEV` (no such CPU), `EPERM` (the boot CPU),
//! `EBUSY` (a CPU offline here or owned by another kernel), `ENOSPC` (every
//! low window in use), `ENOMEM` (no pool, or the partition does not fit in
//! it), `ENOENT`/`EACCES` (image or initramfs unreadable), `ENOEXEC` (not a
//! bootable bzImage), `EFBIG` (image and initramfs do not fit the
//! partition), `ETIMEDOUT` (the kernel did not start), `EIO` (the CPU could
//! not be sent the start IPIs). From `shutdown`: `EINVAL` (not a number),
//! `ENOENT` (no such running kernel), `EBUSY` (still being started), `EIO`
//! (it crashed instead of stopping), `ETIMEDOUT` (it was forced). From
//! `release`: `EINVAL`, `ENOENT` (no such kernel), `EBUSY` (it still runs
//! or starts: shut it down first).

use core::fmt::Write;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kernel::{
    alloc::{flags::GFP_KERNEL, KVec},
    c_str,
    error::{code::*, Result},
    fmt, new_mutex,
    prelude::*,
    str::{CStr, CString},
    sync::{Arc, Mutex},
};

use crate::bootparams::{self, PopcornSetupData, ZeroPageParams};
use crate::control::{self, Snapshot, Timeouts, Verdict, Watch};
use crate::bootreq::{BootRequest, Quoted, MAX_PATH_LEN};
use crate::bzimage::BzImage;
use crate::cmdline::{build_cmdline, check_user};
use crate::cpu_hotplug::{self, CpuOwnership};
use crate::cpulist::CpuSet;
use crate::debugfs::{DebugfsDir, DebugfsText};
use crate::e820::E820Table;
use crate::files::{FileContents, Purpose};
use crate::kthread::{monotonic_ms, sleep_ms, ThreadBody, ThreadContext};
use crate::pagetable::build_identity_tables;
use crate::errno;
use crate::msg::MsgLayer;
use crate::physmem::PhysMapping;
use crate::placement::{place, Placement};
use crate::pool::{Partition, PartitionPool, PARTITION_ALIGN};
use crate::reservation::{self, PhysRange, Reservation, MAX_LOW_WINDOWS};
use crate::shared::{self, BootSlot};
use crate::size::DisplaySize;
use crate::system;
use crate::sysfs::{AttributeOps, Constant, Dir};
use crate::trampoline::{self, Progress};

use crate::bootplan::{self, Area, BootPlan, Content, PlanInputs};

/// Image started when the request names none.
pub(crate) const DEFAULT_KERNEL: &CStr = c_str!("/popcorn/bzImage");
/// Initramfs given when the request names none.
pub(crate) const DEFAULT_INITRD: &CStr = c_str!("/popcorn/initramfs-secondary.cpio.gz");

/// Smallest partition a secondary is given.
const MIN_PARTITION: u64 = 64 << 20;
/// Largest image and initramfs read.
const MAX_IMAGE_BYTES: usize = 64 << 20;
const MAX_INITRD_BYTES: usize = 512 << 20;

/// The UART each boot slot's kernel uses as its console: ttyS1, ttyS2, ttyS3.
const CONSOLE_PORTS: [(u16, &str); 3] = [(0x2f8, "ttyS1"), (0x3e8, "ttyS2"), (0x2e8, "ttyS3")];

/// Arguments every secondary gets before the user's: no ACPI, IOAPIC or
/// PCI (the primary owns the shared hardware), no broadcast IPIs (they would
/// reach the other kernels' CPUs), no KASLR or 5-level paging (both would
/// move the kernel away from where it was staged). Not `noapic`: with it
/// Linux unmasks ExtINT on the boot CPU, and the primary's 8259 would
/// interrupt the secondary too; without it, no IOAPIC is found anyway.
const SECONDARY_ARGS: &[&str] = &[
    "nokaslr",
    "no5lvl",
    "acpi=off",
    "pci=off",
    "no_ipi_broadcast=1",
    "tsc=reliable",
    "nmi_watchdog=0",
    "panic=-1",
];

// The trampoline header, the setup_data payload and the control page are
// written down twice, in C (include/linux/popcorn.h, which the secondary
// and the trampoline use) and in popcorn-core (which the host tests); the
// build fails if the two disagree.
const _: () = {
    use core::mem::{offset_of, size_of};
    use kernel::bindings as c;
    assert!(c::POPCORN_TRAMPOLINE_MAGIC == trampoline::MAGIC);
    assert!(c::POPCORN_TRAMPOLINE_VERSION == trampoline::VERSION);
    assert!(c::POPCORN_TRAMPOLINE_MAGIC_OFFSET as usize == trampoline::MAGIC_OFFSET);
    assert!(c::POPCORN_TRAMPOLINE_STATUS_OFFSET as usize == trampoline::STATUS_OFFSET);
    assert!(c::POPCORN_TRAMPOLINE_VERSION_OFFSET as usize == trampoline::VERSION_OFFSET);
    assert!(c::POPCORN_TRAMPOLINE_CR3_OFFSET as usize == trampoline::CR3_OFFSET);
    assert!(c::POPCORN_TRAMPOLINE_ENTRY_OFFSET as usize == trampoline::ENTRY_OFFSET);
    assert!(c::POPCORN_TRAMPOLINE_ZERO_PAGE_OFFSET as usize == trampoline::ZERO_PAGE_OFFSET);
    assert!(c::POPCORN_TRAMPOLINE_LONG_MODE == 3);
    assert!(c::SETUP_POPCORN == bootparams::SETUP_POPCORN);
    assert!(c::POPCORN_SETUP_MAGIC == bootparams::POPCORN_MAGIC);
    assert!(c::POPCORN_SETUP_VERSION == bootparams::POPCORN_VERSION as u32);
    assert!(c::POPCORN_MAX_CPUS as usize == bootparams::POPCORN_MAX_CPUS);
    assert!(size_of::<c::popcorn_setup_data>() == bootparams::POPCORN_PAYLOAD_SIZE);
    assert!(offset_of!(c::popcorn_setup_data, control_phys) == 0xb8);
    assert!(c::POPCORN_CONTROL_MAGIC == control::CONTROL_MAGIC);
    assert!(c::POPCORN_CONTROL_VERSION == control::CONTROL_VERSION);
    assert!(c::POPCORN_MAX_CPUS as usize == control::MAX_CPUS);
    assert!(offset_of!(c::popcorn_control, request) == control::REQUEST_OFFSET);
    assert!(size_of::<c::popcorn_control>() == control::CONTROL_USED);
    assert!(c::POPCORN_REQUEST_SHUTDOWN == control::REQUEST_SHUTDOWN);
    assert!(c::POPCORN_STATE_RUNNING == 2 && c::POPCORN_STATE_CRASHED == 5);
};

/// How long the first CPU may take to reach the kernel's 64-bit entry.
const TRAMPOLINE_TIMEOUT_MS: u64 = 2_000;
/// How long from there until the kernel reports from `setup_arch()`
/// (decompression runs in between: seconds under TCG).
const START_TIMEOUT_MS: u64 = 60_000;
/// How long from the start until the kernel reports `running`.
const BOOT_TIMEOUT_MS: u64 = 180_000;
/// Longest an online CPU of a running secondary may go without a
/// heartbeat (it beats every 100 ms).
const HEARTBEAT_TIMEOUT_MS: u64 = 10_000;
/// How long a secondary may take to stop when asked before it is forced.
const SHUTDOWN_TIMEOUT_MS: u64 = 30_000;
/// How often the watcher reads the control pages.
const WATCH_PERIOD_MS: u32 = 200;
/// Ended kernels whose `kernels/<id>/` is kept.
const MAX_ENDED: usize = 16;

/// A secondary's state, as `kernels/<id>/state` shows it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
enum Lifecycle {
    Booting = 1,
    Running = 2,
    Stopping = 3,
    Stopped = 4,
    Crashed = 5,
    /// Did not stop when asked within the shutdown timeout, or was still
    /// running when the module was unloaded: ended with INIT.
    Forced = 6,
}

impl Lifecycle {
    fn name(self) -> &'static str {
        match self {
            Lifecycle::Booting => "booting",
            Lifecycle::Running => "running",
            Lifecycle::Stopping => "stopping",
            Lifecycle::Stopped => "stopped",
            Lifecycle::Crashed => "crashed",
            Lifecycle::Forced => "forced",
        }
    }

    fn from_raw(raw: u32) -> Self {
        match raw {
            2 => Lifecycle::Running,
            3 => Lifecycle::Stopping,
            4 => Lifecycle::Stopped,
            5 => Lifecycle::Crashed,
            6 => Lifecycle::Forced,
            _ => Lifecycle::Booting,
        }
    }
}

/// A kernel's state, shared with its `state` file (read without locks).
struct Status(AtomicU32);

impl Status {
    fn get(&self) -> Lifecycle {
        Lifecycle::from_raw(self.0.load(Ordering::Acquire))
    }

    fn set(&self, state: Lifecycle) {
        self.0.store(state as u32, Ordering::Release);
    }
}

/// `kernels/<id>/state`.
struct StateFile(Arc<Status>);

#[vtable]
impl AttributeOps for StateFile {
    fn show(&self, out: &mut crate::sysfs::Page<'_>) -> Result {
        writeln!(out, "{}", self.0.get().name()).map_err(|_| EFBIG)
    }
}

/// What users see of a kernel: its sysfs and debugfs entries. Outlives the
/// kernel's resources, until `release` or until it is among the oldest.
struct Entry {
    id: u32,
    status: Arc<Status>,
    // Fields drop in order: the debugfs file before its directory.
    _layout: Option<DebugfsText>,
    _debug_dir: Option<DebugfsDir>,
    _dir: Dir,
}

/// A secondary that holds CPUs, a partition and a boot slot.
struct Secondary {
    entry: Entry,
    cpus: CpuSet,
    partition: Partition,
    nr_cpus: usize,
    /// Its control page, which it writes while it runs.
    control: PhysMapping,
    watch: Watch,
    /// When `shutdown` asked it to stop.
    shutdown_since_ms: Option<u64>,
}

impl Secondary {
    fn snapshot(&self) -> Snapshot {
        read_control(&self.control, self.nr_cpus)
    }
}

struct LoaderState {
    pool: Option<PartitionPool>,
    /// The kernel in each boot slot (= low-memory window). Boxed: a
    /// `Secondary` is about 1 KiB, and the whole state is built on the
    /// (16 KiB) stack before it moves into its mutex.
    slots: [Option<KBox<Secondary>>; MAX_LOW_WINDOWS],
    /// The id of the kernel being started in each boot slot: the slot, its
    /// partition (cut from the pool) and its CPUs (owned) are reserved
    /// while `boot` stages and starts it without this lock.
    starting: [Option<u32>; MAX_LOW_WINDOWS],
    /// Kernels that ended, kept for their `state`.
    ended: [Option<Entry>; MAX_ENDED],
    next_id: u32,
}

/// Everything the control files act on.
///
/// Locks: `state` guards the slots, the pool, the ended entries and the
/// next id; it is held only for short steps (reserving, installing or
/// ending a kernel, one look by the watcher), never while a boot copies
/// files or waits for the new kernel, so the watcher keeps judging the
/// other kernels meanwhile. `start` serialises announcing a kernel to the
/// message layer and starting it through the one trampoline page; it is
/// never held together with `state` (neither is taken under the other).
#[pin_data(PinnedDrop)]
pub(crate) struct Loader {
    reservation: Option<Reservation>,
    cpus: CpuOwnership,
    #[pin]
    state: Mutex<LoaderState>,
    #[pin]
    start: Mutex<()>,
    /// Mirror of the pool's free bytes, updated under `state`.
    pool_free: AtomicU64,
    debug_root: Option<DebugfsDir>,
    kernels: Dir,
    /// Told when a kernel starts in a slot or leaves it.
    msg: Option<Arc<MsgLayer>>,
}

/// A user-supplied path, unescaped and NUL-terminated.
struct PathBuf {
    bytes: [u8; MAX_PATH_LEN + 1],
    len: usize,
}

impl PathBuf {
    fn new(path: Option<&Quoted<'_>>, default: &CStr) -> Result<Self> {
        let mut bytes = [0u8; MAX_PATH_LEN + 1];
        let room = bytes.get_mut(..MAX_PATH_LEN).ok_or(EINVAL)?;
        let len = match path {
            Some(quoted) => quoted.write_unescaped(room).map_err(|_| EINVAL)?,
            None => {
                let default = default.as_bytes();
                room.get_mut(..default.len())
                    .ok_or(EINVAL)?
                    .copy_from_slice(default);
                default.len()
            }
        };
        Ok(PathBuf { bytes, len })
    }

    fn as_cstr(&self) -> &CStr {
        // `len < bytes.len()` and the byte at `len` is the zero the buffer
        // started with; the request parser refuses NULs inside paths.
        self.bytes
            .get(..=self.len)
            .and_then(|with_nul| CStr::from_bytes_with_nul(with_nul).ok())
            .unwrap_or(c_str!("?"))
    }
}

/// Logs the one line for a refused request and evaluates to `err`.
macro_rules! refuse {
    ($err:expr, $($fmt:tt)*) => {{
        pr_err!("boot refused: {}\n", format_args!($($fmt)*));
        $err
    }};
}

/// Copies all of `src` into `out`, which the plan made exactly as long.
fn copy_exact(out: &mut [u8], src: &[u8]) -> Result {
    if out.len() != src.len() {
        return Err(EINVAL);
    }
    out.copy_from_slice(src);
    Ok(())
}

/// What `reserve` set aside for a kernel being started.
struct Reserved {
    id: u32,
    slot_index: usize,
    partition: Partition,
    placement: Placement,
}

/// Everything a new kernel's memory holds, prepared before writing.
struct StageInputs<'a> {
    id: u32,
    request: &'a BootRequest<'a>,
    image: &'a [u8],
    bz: &'a BzImage,
    initrd: &'a [u8],
    partition: Partition,
    placement: Placement,
    slot: BootSlot,
    low_window: PhysRange,
    shared: PhysRange,
    console: (u16, &'static str),
}

/// Where everything goes (`bootplan.rs`): checked before anything is
/// mapped.
fn plan_of(inputs: &StageInputs<'_>) -> Result<BootPlan> {
    let kernel_len = u64::try_from(inputs.bz.payload_len()).map_err(|_| EINVAL)?;
    BootPlan::new(&PlanInputs {
        partition_base: inputs.partition.base,
        partition_size: inputs.partition.size,
        placement: inputs.placement,
        kernel_len,
        low_window_base: inputs.low_window.base,
        low_window_size: inputs.low_window.size,
        slot: inputs.slot,
    })
    .map_err(|e| refuse!(EINVAL, "kernel {}: staging: {}", inputs.id, e))
}

/// Stages the kernel as `plan` says: maps each area in turn, carries out
/// its writes and unmaps it. Returns the layout text and the page tables'
/// address (CR3).
fn write_memory(inputs: &StageInputs<'_>, plan: &BootPlan) -> Result<(KVec<u8>, u64)> {
    let mut stager = Stager {
        inputs,
        plan,
        cmdline_len: 0,
        info: PopcornSetupData::default(),
        nr_cpus: 0,
        cr3: 0,
    };
    let mut layout = KVec::new();
    for region in plan.regions() {
        // SAFETY: each area is this kernel's alone until it starts, and the
        // plan checked that they do not overlap: the partition was just cut
        // from the pool, which the primary reserved at boot; the low window
        // (reserved at boot) and the boot slot (in the reserved shared
        // window) go with its slot index, which is marked starting under
        // the loader lock.
        let mut mapping = unsafe { PhysMapping::new(region.base, region.len)? };
        for write in plan.writes_in(region.area) {
            let out = mapping.as_mut_slice().get_mut(write.range()).ok_or(EINVAL)?;
            stager.write(&write, out)?;
        }
        if region.area == Area::BootSlot {
            layout = stager.layout(mapping.as_mut_slice())?;
        }
    }
    Ok((layout, stager.cr3))
}

/// Carries out a plan's writes, one at a time, and keeps what later ones
/// and the layout text need.
struct Stager<'a> {
    inputs: &'a StageInputs<'a>,
    plan: &'a BootPlan,
    /// Length of the command line written, without its NUL.
    cmdline_len: usize,
    /// The setup_data written.
    info: PopcornSetupData,
    /// CPUs in it (and in the control page).
    nr_cpus: usize,
    /// What the page tables' CR3 is.
    cr3: u64,
}

impl Stager<'_> {
    /// Writes what `write` says into `out`, its bytes of the mapped area.
    fn write(&mut self, write: &bootplan::Write, out: &mut [u8]) -> Result {
        let inputs = self.inputs;
        match write.content {
            // Scrubbed before each use: the new kernel must not see what
            // the previous one (crashed, forced or stopped) left here.
            Content::Zeros => out.fill(0),
            Content::Kernel => {
                copy_exact(out, inputs.bz.payload(inputs.image).ok_or(ENOEXEC)?)?
            }
            Content::Initramfs => copy_exact(out, inputs.initrd)?,
            Content::CommandLine => self.cmdline_len = self.cmdline(out)?,
            Content::SetupData => self.setup_data(out)?,
            // The control page, which the kernel reports its state in.
            Content::ControlPage => control::init_page(out, self.nr_cpus)
                .map_err(|e| refuse!(EINVAL, "control page: {}", e))?,
            Content::ZeroPage => self.zero_page(out)?,
            // Identity page tables for the 64-bit entry.
            Content::PageTables => {
                self.cr3 = build_identity_tables(out, write.phys)
                    .map_err(|e| refuse!(EINVAL, "page tables: {}", e))?
            }
        }
        Ok(())
    }

    /// Writes the command line; returns its length.
    fn cmdline(&self, out: &mut [u8]) -> Result<usize> {
        let inputs = self.inputs;
        let console_arg = CString::try_from_fmt(fmt!("console={},115200", inputs.console.1))?;
        let earlycon_arg = CString::try_from_fmt(fmt!(
            "earlycon=uart8250,io,{:#x},115200n8",
            inputs.console.0
        ))?;
        // For /init (the kernel takes its id from setup_data).
        let id_arg = CString::try_from_fmt(fmt!("popcorn.kernel_id={}", inputs.id))?;
        let mut words: KVec<&str> = KVec::new();
        for word in SECONDARY_ARGS {
            words.push(word, GFP_KERNEL)?;
        }
        words.push(console_arg.to_str().map_err(|_| EINVAL)?, GFP_KERNEL)?;
        words.push(id_arg.to_str().map_err(|_| EINVAL)?, GFP_KERNEL)?;
        words.push(earlycon_arg.to_str().map_err(|_| EINVAL)?, GFP_KERNEL)?;
        build_cmdline(
            out,
            &words,
            inputs.request.cmdline.as_ref(),
            inputs.bz.cmdline_size(),
        )
        .map_err(|e| refuse!(EINVAL, "command line: {}", e))
    }

    /// Writes setup_data: Popcorn's description of the secondary's world.
    fn setup_data(&mut self, out: &mut [u8]) -> Result {
        let inputs = self.inputs;
        let mut info = PopcornSetupData {
            kernel_id: inputs.id,
            boot_cpu_apic_id: reservation::boot_cpu_apic_id(),
            shared_base: inputs.shared.base,
            shared_size: inputs.shared.size,
            tsc_khz: system::tsc_khz(),
            lapic_khz: reservation::lapic_khz(),
            console_port: inputs.console.0,
            control_phys: self.plan.control().phys,
            ..PopcornSetupData::default()
        };
        info.notify_apic_id = info.boot_cpu_apic_id;
        let (apic_ids, nr_cpus) = apic_ids_of(&inputs.request.cpus)?;
        info.set_cpus(apic_ids.get(..nr_cpus).ok_or(EINVAL)?)
            .map_err(|e| refuse!(EINVAL, "setup_data: {}", e))?;
        bootparams::build_setup_data(out, &info)
            .map_err(|e| refuse!(EINVAL, "setup_data: {}", e))?;
        self.info = info;
        self.nr_cpus = nr_cpus;
        Ok(())
    }

    /// Writes the zero page, with the secondary's e820 map.
    fn zero_page(&self, out: &mut [u8]) -> Result {
        let StageInputs {
            partition,
            low_window,
            shared,
            ..
        } = *self.inputs;
        let e820 = E820Table::for_secondary(
            partition.base..partition.end(),
            low_window.base..low_window.end(),
            shared.base..shared.end(),
        )
        .map_err(|e| refuse!(EINVAL, "e820: {}", e))?;
        let plan = self.plan;
        let params = ZeroPageParams {
            cmdline_phys: plan.cmdline().phys,
            ramdisk_phys: plan.initramfs().phys,
            ramdisk_size: u64::try_from(plan.initramfs().len).map_err(|_| EINVAL)?,
            setup_data_phys: plan.setup_data().phys,
            e820: &e820,
        };
        bootparams::build_zero_page(out, self.inputs.image, self.inputs.bz, &params)
            .map_err(|e| refuse!(EINVAL, "zero page: {}", e))
    }

    /// The layout, read back from the boot slot as written, for debugfs.
    fn layout(&self, slot_bytes: &[u8]) -> Result<KVec<u8>> {
        let StageInputs {
            request,
            partition,
            placement,
            slot,
            low_window,
            ..
        } = *self.inputs;
        let zero_page = slot_bytes.get(self.plan.zero_page().range()).ok_or(EINVAL)?;
        let summary = bootparams::zero_page_summary(zero_page).map_err(|_| EINVAL)?;
        let cmdline = slot_bytes
            .get(self.plan.cmdline().range())
            .and_then(|c| c.get(..self.cmdline_len))
            .and_then(|c| core::str::from_utf8(c).ok())
            .unwrap_or("?");
        let mut text = KVec::new();
        let mut out = TextSink(&mut text);
        let _ = write!(
            out,
            "cpus: {}\npartition: {:#x}-{:#x}\nkernel_load: {:#x}\ninitrd: {:#x}+{:#x}\n\
             low_window: {:#x}-{:#x}\n{}cr3: {:#x}\ncmdline: {}\n{}{}",
            request.cpus,
            partition.base,
            partition.end().saturating_sub(1),
            placement.kernel,
            placement.initrd,
            placement.initrd_len,
            low_window.base,
            low_window.end().saturating_sub(1),
            slot,
            self.cr3,
            cmdline,
            summary,
            self.info
        );
        Ok(text)
    }
}

/// `fmt::Write` into a `KVec<u8>`; output that cannot be stored is dropped.
struct TextSink<'a>(&'a mut KVec<u8>);

impl Write for TextSink<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0
            .extend_from_slice(s.as_bytes(), GFP_KERNEL)
            .map_err(|_| core::fmt::Error)
    }
}

/// Reads a kernel's id from a write to `shutdown` or `release`, in the
/// one strict syntax of `number.rs` (`+1`, `01`, `1 ` are refused).
fn parse_id(input: &[u8], file: &str) -> Result<u32> {
    let id = crate::number::parse_one(input, u64::from(u32::MAX)).map_err(|e| {
        pr_err!("{} refused: not a kernel id: {}\n", file, e);
        EINVAL
    })?;
    u32::try_from(id).map_err(|_| EINVAL)
}

/// The APIC IDs of `cpus`, in order (the first is the boot CPU), and how
/// many there are (at most `POPCORN_MAX_CPUS`).
fn apic_ids_of(cpus: &CpuSet) -> Result<([u32; bootparams::POPCORN_MAX_CPUS], usize)> {
    let mut apic_ids = [0u32; bootparams::POPCORN_MAX_CPUS];
    for (id, cpu) in apic_ids.iter_mut().zip(cpus.iter()) {
        *id = reservation::cpu_apic_id(cpu).ok_or(ENODEV)?;
    }
    Ok((apic_ids, cpus.len().min(bootparams::POPCORN_MAX_CPUS)))
}

/// A snapshot of the control page in `mapping`.
fn read_control(mapping: &PhysMapping, nr_cpus: usize) -> Snapshot {
    let mut copy = [0u8; control::CONTROL_USED];
    if mapping.copy_out(0, &mut copy).is_none() {
        // Cannot happen (the mapping is a page); reads as a corrupt state.
        copy.fill(0xff);
    }
    Snapshot::parse(&copy, nr_cpus)
}

const TIMEOUTS: Timeouts = Timeouts {
    boot_ms: BOOT_TIMEOUT_MS,
    heartbeat_ms: HEARTBEAT_TIMEOUT_MS,
};

impl Loader {
    /// Creates `kernels/` under `root`, with no secondary.
    pub(crate) fn new(root: &Dir, msg: Option<Arc<MsgLayer>>) -> Result<Arc<Self>> {
        let reservation = Reservation::get();
        let pool = match &reservation {
            Some(r) => Some(PartitionPool::new(r.pool.base, r.pool.size).map_err(|e| {
                pr_err!(
                    "unusable pool {:#x}+{:#x}: {}\n",
                    r.pool.base,
                    r.pool.size,
                    e
                );
                EINVAL
            })?),
            None => None,
        };
        let kernels = root.new_child(c_str!("kernels"))?;
        let pool_free = reservation.map_or(0, |r| r.pool.size);
        // debugfs is a debugging aid: without it, everything still works.
        let debug_root = DebugfsDir::new(c_str!("popcorn"), None).ok();
        let cpus = CpuOwnership::register()?;
        Arc::pin_init(
            pin_init!(Loader {
                reservation,
                cpus,
                state <- new_mutex!(LoaderState {
                    pool,
                    slots: [const { None }; MAX_LOW_WINDOWS],
                    starting: [None; MAX_LOW_WINDOWS],
                    ended: [const { None }; MAX_ENDED],
                    next_id: 1,
                }),
                start <- new_mutex!(()),
                pool_free: AtomicU64::new(pool_free),
                debug_root,
                kernels,
                msg,
            }),
            GFP_KERNEL,
        )
    }

    /// `kernels/`, where the module adds the running kernel's own entry.
    pub(crate) fn kernels_dir(&self) -> &Dir {
        &self.kernels
    }

    /// Free bytes in the pool (0 without a reservation). Lock-free, so that
    /// reading it from sysfs never waits for a boot in progress.
    pub(crate) fn pool_free_bytes(&self) -> u64 {
        self.pool_free.load(Ordering::Relaxed)
    }

    fn update_pool_free(&self, state: &LoaderState) {
        self.pool_free.store(
            state.pool.as_ref().map_or(0, |p| p.free_bytes()),
            Ordering::Relaxed,
        );
    }

    fn check_cpus(&self, cpus: &CpuSet) -> Result {
        if cpus.len() > bootparams::POPCORN_MAX_CPUS {
            return Err(refuse!(
                EINVAL,
                "{} CPUs requested, at most {}",
                cpus.len(),
                bootparams::POPCORN_MAX_CPUS
            ));
        }
        let nr_cpu_ids = system::nr_cpu_ids();
        for cpu in cpus.iter() {
            if !system::cpu_possible(cpu) {
                return Err(refuse!(
                    ENODEV,
                    "CPU {} does not exist (CPUs 0-{})",
                    cpu,
                    nr_cpu_ids.saturating_sub(1)
                ));
            }
            if cpu == 0 {
                return Err(refuse!(EPERM, "CPU 0 is this kernel's boot CPU"));
            }
            if cpu_hotplug::is_owned(cpu) {
                return Err(refuse!(EBUSY, "CPU {} belongs to another kernel", cpu));
            }
            if !system::cpu_online(cpu) {
                return Err(refuse!(EBUSY, "CPU {} is offline here", cpu));
            }
        }
        Ok(())
    }

    /// Handles a write to `boot`.
    fn boot(&self, input: &[u8]) -> Result {
        let request = BootRequest::parse(input).map_err(|e| refuse!(EINVAL, "{}", e))?;
        if let Some(user) = &request.cmdline {
            // Only words that cannot reach another kernel's memory or
            // hardware (`cmdline.rs` says why an allow-list).
            check_user(user).map_err(|e| refuse!(EINVAL, "{}", e))?;
        }
        let Some(reservation) = self.reservation else {
            return Err(refuse!(
                ENOMEM,
                "no memory reserved: boot the primary with popcorn.reserve="
            ));
        };
        self.check_cpus(&request.cpus)?;

        let kernel_path = PathBuf::new(request.kernel.as_ref(), DEFAULT_KERNEL)?;
        let initrd_path = PathBuf::new(request.initrd.as_ref(), DEFAULT_INITRD)?;
        let image =
            FileContents::read(kernel_path.as_cstr(), MAX_IMAGE_BYTES, Purpose::KernelImage)
                .map_err(|e| refuse!(e, "cannot read kernel {}: {:?}", kernel_path.as_cstr(), e))?;
        let bz = BzImage::parse(image.as_slice()).map_err(|e| {
            refuse!(
                ENOEXEC,
                "{} is not a bootable kernel: {}",
                kernel_path.as_cstr(),
                e
            )
        })?;
        let initrd =
            FileContents::read(initrd_path.as_cstr(), MAX_INITRD_BYTES, Purpose::Initramfs)
                .map_err(|e| {
                    refuse!(
                        e,
                        "cannot read initramfs {}: {:?}",
                        initrd_path.as_cstr(),
                        e
                    )
                })?;

        // Reserve a slot, a partition, the CPUs and an id under the lock
        // (quick); stage and start without it (up to a minute).
        let reserved = self.reserve(&reservation, &request, &bz, &initrd)?;
        let Reserved {
            id,
            slot_index,
            partition,
            placement,
        } = reserved;
        let low_window = reservation.low_windows().nth(slot_index).ok_or(EINVAL);
        let console = *CONSOLE_PORTS.get(slot_index).unwrap_or(&CONSOLE_PORTS[0]);
        let slot = shared::boot_slot(reservation.shared.base, reservation.shared.size, slot_index)
            .map_err(|e| refuse!(EINVAL, "shared window: {}", e));
        let started = match (low_window, slot) {
            (Ok(low_window), Ok(slot)) => self.record_and_start(
                &reservation,
                &StageInputs {
                    id,
                    request: &request,
                    image: image.as_slice(),
                    bz: &bz,
                    initrd: initrd.as_slice(),
                    partition,
                    placement,
                    slot,
                    low_window,
                    shared: reservation.shared,
                    console,
                },
            ),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };

        let mut guard = self.state.lock();
        let state = &mut *guard;
        if let Some(starting) = state.starting.get_mut(slot_index) {
            *starting = None;
        }
        let secondary = match started {
            Ok(secondary) => secondary,
            Err(e) => {
                self.reclaim_cpus(&request.cpus);
                if let Some(pool) = state.pool.as_mut() {
                    let _ = pool.release(partition);
                }
                // Its id stays used: peers saw it announced, and an id
                // seen again in another slot would confuse their peers/.
                self.update_pool_free(state);
                return Err(e);
            }
        };
        pr_info!(
            "kernel {} started: cpus {}, mem {} at {:#x}, slot {}, console {}\n",
            id,
            request.cpus,
            DisplaySize(partition.size),
            partition.base,
            slot_index,
            console.1
        );
        if let Some(entry) = state.slots.get_mut(slot_index) {
            *entry = Some(secondary);
        }
        Ok(())
    }

    /// Under the loader lock: checks the CPUs again, picks a free boot
    /// slot, cuts the partition from the pool, places the image in it,
    /// takes the CPUs offline and marks the slot as starting. Undone
    /// completely on error.
    fn reserve(
        &self,
        reservation: &Reservation,
        request: &BootRequest<'_>,
        bz: &BzImage,
        initrd: &FileContents,
    ) -> Result<Reserved> {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        // Another boot may have taken them since the first check.
        self.check_cpus(&request.cpus)?;
        let windows = reservation.low_windows().count();
        let is_free = |(kernel, starting): (&Option<KBox<Secondary>>, &Option<u32>)| {
            kernel.is_none() && starting.is_none()
        };
        let slot_index = state
            .slots
            .iter()
            .zip(state.starting.iter())
            .take(windows)
            .position(is_free)
            .ok_or_else(|| refuse!(ENOSPC, "all {} low-memory windows are in use", windows))?;
        let free_slots = state
            .slots
            .iter()
            .zip(state.starting.iter())
            .take(windows)
            .filter(|&s| is_free(s))
            .count();
        let pool = state.pool.as_mut().ok_or(ENOMEM)?;
        let size = request
            .mem
            .unwrap_or_else(|| pool.default_share(free_slots));
        if size < MIN_PARTITION || size % PARTITION_ALIGN != 0 {
            return Err(refuse!(
                EINVAL,
                "mem={} must be at least 64M and a multiple of 2M",
                DisplaySize(size)
            ));
        }
        let partition = pool
            .allocate(size)
            .map_err(|e| refuse!(ENOMEM, "mem={}: {}", DisplaySize(size), e))?;
        let placed = place(
            partition.base,
            partition.size,
            u64::from(bz.kernel_alignment()),
            u64::from(bz.init_size()),
            u64::try_from(initrd.as_slice().len()).unwrap_or(u64::MAX),
        )
        .map_err(|e| refuse!(EFBIG, "mem={}: {}", DisplaySize(partition.size), e))
        .and_then(|placement| self.cpus.take(&request.cpus).map(|()| placement));
        let placement = match placed {
            Ok(placement) => placement,
            Err(e) => {
                let _ = pool.release(partition);
                return Err(e);
            }
        };
        let id = state.next_id;
        state.next_id = id.saturating_add(1);
        if let Some(starting) = state.starting.get_mut(slot_index) {
            *starting = Some(id);
        }
        self.update_pool_free(state);
        Ok(Reserved {
            id,
            slot_index,
            partition,
            placement,
        })
    }

    /// INIT every CPU in `cpus` (whatever runs there stops), then online
    /// them here again.
    fn reclaim_cpus(&self, cpus: &CpuSet) {
        for cpu in cpus.iter() {
            if let Err(e) = reservation::init_cpu(cpu) {
                pr_err!("cannot send INIT to CPU {}: {:?}\n", cpu, e);
            }
        }
        let _ = self.cpus.give_back(cpus);
    }

    fn record_and_start(
        &self,
        reservation: &Reservation,
        inputs: &StageInputs<'_>,
    ) -> Result<KBox<Secondary>> {
        let plan = plan_of(inputs)?;
        let (layout, cr3) = write_memory(inputs, &plan)?;
        let entry = self.new_entry(inputs, layout)?;
        let control = plan.control();
        // SAFETY: the control page is in this kernel's boot slot, which is
        // its alone (its low-window index is reserved under the loader lock);
        // once the kernel runs, only the volatile accessors touch it.
        let control = unsafe { PhysMapping::new(control.phys, control.len)? };
        let nr_cpus = inputs.request.cpus.len();
        // Allocated before the start, so that nothing can fail after it.
        let watch = Watch::new(0, TIMEOUTS);
        let mut secondary = KBox::new(
            Secondary {
                entry,
                cpus: inputs.request.cpus,
                partition: inputs.partition,
                nr_cpus,
                control,
                watch,
                shutdown_since_ms: None,
            },
            GFP_KERNEL,
        )?;
        // One start at a time (the trampoline page is shared); the loader
        // lock is not held, so the watcher goes on meanwhile.
        let _start = self.start.lock();
        // The message layer's table gets the kernel (and fresh rings to it)
        // before it runs, so it finds itself there when its module loads.
        let msg_slot = inputs.slot.index + 1;
        if let Some(msg) = &self.msg {
            // Its CPUs' APIC IDs, boot CPU first: the only ones the
            // primary will ever interrupt for it.
            let (apic_ids, nr) = apic_ids_of(&inputs.request.cpus)?;
            let apic_ids = apic_ids.get(..nr).ok_or(EINVAL)?;
            msg.announce_start(msg_slot, inputs.id, apic_ids, inputs.partition.size)?;
        }
        self.start(reservation, inputs, &plan, cr3, &secondary.control, nr_cpus)
            .inspect_err(|_| {
                if let Some(msg) = &self.msg {
                    msg.announce_end(msg_slot);
                }
            })?;
        // The boot timeout counts from the end of the start.
        secondary.watch = Watch::new(monotonic_ms(), TIMEOUTS);
        Ok(secondary)
    }

    /// Starts the staged kernel's first CPU and waits until the kernel
    /// reports from `setup_arch()`.
    fn start(
        &self,
        reservation: &Reservation,
        inputs: &StageInputs<'_>,
        plan: &BootPlan,
        cr3: u64,
        control: &PhysMapping,
        nr_cpus: usize,
    ) -> Result {
        let id = inputs.id;
        let page = reservation.trampoline;
        trampoline::sipi_vector(page).map_err(|e| refuse!(EINVAL, "{}", e))?;
        // SAFETY: the trampoline page was reserved at boot for this; the
        // start lock (held by the caller) serialises starts, the only users
        // of the page.
        let mut tramp = unsafe { PhysMapping::new(page, trampoline::PAGE_SIZE)? };
        trampoline::prepare(
            tramp.as_mut_slice(),
            reservation::trampoline_blob(),
            cr3,
            plan.entry(),
            plan.zero_page().phys,
        )
        .map_err(|e| refuse!(EINVAL, "{}", e))?;
        let first = inputs.request.cpus.iter().next().ok_or(EINVAL)?;
        reservation::start_cpu(first, page)
            .map_err(|e| refuse!(e, "kernel {}: cannot send start IPIs to CPU {}: {:?}", id, first, e))?;

        let started = monotonic_ms();
        let progress = loop {
            let status = tramp.read_u32(trampoline::STATUS_OFFSET).unwrap_or(0);
            let progress = Progress::from_status(status);
            if progress == Progress::LongMode
                || monotonic_ms().saturating_sub(started) >= TRAMPOLINE_TIMEOUT_MS
            {
                break progress;
            }
            sleep_ms(1);
        };
        if progress != Progress::LongMode {
            return Err(refuse!(
                errno::etimedout(),
                "kernel {} did not start: CPU {} {}",
                id,
                first,
                progress
            ));
        }
        let entered = monotonic_ms();
        loop {
            let snapshot = read_control(control, nr_cpus);
            match snapshot.state {
                control::Reported::Nothing => {}
                control::Reported::Early
                | control::Reported::Running
                | control::Reported::Stopping => break,
                other => {
                    return Err(refuse!(
                        EIO,
                        "kernel {} failed while starting: state {:?} {}",
                        id,
                        other,
                        snapshot.message()
                    ))
                }
            }
            if monotonic_ms().saturating_sub(entered) >= START_TIMEOUT_MS {
                return Err(refuse!(
                    errno::etimedout(),
                    "kernel {} did not start: it reached its 64-bit entry but never reported from setup_arch() within {} s (bad image? console {})",
                    id,
                    START_TIMEOUT_MS / 1000,
                    inputs.console.1
                ));
            }
            sleep_ms(20);
        }
        pr_info!(
            "kernel {}: in long mode after {} ms, setup_arch() after {} ms more\n",
            id,
            entered.saturating_sub(started),
            monotonic_ms().saturating_sub(entered)
        );
        Ok(())
    }

    fn new_entry(&self, inputs: &StageInputs<'_>, layout: KVec<u8>) -> Result<Entry> {
        let name = CString::try_from_fmt(fmt!("{}", inputs.id))?;
        let status = Arc::new(Status(AtomicU32::new(Lifecycle::Booting as u32)), GFP_KERNEL)?;
        let mut dir = self.kernels.new_child(&name)?;
        dir.add_file(c_str!("id"), Constant(inputs.id))?;
        dir.add_file(c_str!("role"), Constant("secondary"))?;
        dir.add_file(c_str!("state"), StateFile(status.clone()))?;
        dir.add_file(c_str!("cpus"), Constant(inputs.request.cpus))?;
        dir.add_file(c_str!("mem_bytes"), Constant(inputs.partition.size))?;
        dir.add_file(c_str!("console"), Constant(inputs.console.1))?;
        let debug_dir = self
            .debug_root
            .as_ref()
            .and_then(|root| DebugfsDir::new(&name, Some(root)).ok());
        let layout = debug_dir
            .as_ref()
            .and_then(|d| DebugfsText::new(d, c_str!("layout"), layout).ok());
        Ok(Entry {
            id: inputs.id,
            status,
            _layout: layout,
            _debug_dir: debug_dir,
            _dir: dir,
        })
    }

    /// Takes back what the kernel in `slot` holds and records how it ended.
    fn end_kernel(&self, state: &mut LoaderState, slot: usize, end: Lifecycle) {
        let Some(secondary) = state.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let Secondary {
            entry,
            cpus,
            partition,
            control,
            ..
        } = KBox::into_inner(secondary);
        drop(control);
        // Out of the table first: peers stop sending before the CPUs go.
        if let Some(msg) = &self.msg {
            msg.announce_end(slot + 1);
        }
        self.reclaim_cpus(&cpus);
        if let Some(pool) = state.pool.as_mut() {
            if let Err(e) = pool.release(partition) {
                pr_err!(
                    "kernel {}: partition not returned to the pool: {}\n",
                    entry.id,
                    e
                );
            }
        }
        self.update_pool_free(state);
        entry.status.set(end);
        pr_info!(
            "kernel {} {}: CPUs {} back online, {} back in the pool\n",
            entry.id,
            end.name(),
            cpus,
            DisplaySize(partition.size)
        );
        // Keep its entry; make room by dropping the oldest.
        let free = state.ended.iter().position(Option::is_none);
        let oldest = || {
            state
                .ended
                .iter()
                .enumerate()
                .filter_map(|(i, e)| e.as_ref().map(|e| (i, e.id)))
                .min_by_key(|&(_, id)| id)
                .map(|(i, _)| i)
        };
        if let Some(place) = free.or_else(oldest).and_then(|i| state.ended.get_mut(i)) {
            *place = Some(entry);
        }
    }

    /// One look at every running secondary (the watcher thread's work).
    fn watch_all(&self) {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        for slot in 0..MAX_LOW_WINDOWS {
            let Some(secondary) = state.slots.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let now = monotonic_ms();
            let snapshot = secondary.snapshot();
            let id = secondary.entry.id;
            let mut end = match secondary.watch.assess(now, &snapshot) {
                Verdict::Booting | Verdict::Stopping => None,
                Verdict::Running => {
                    if secondary.entry.status.get() == Lifecycle::Booting {
                        secondary.entry.status.set(Lifecycle::Running);
                        pr_info!("kernel {} is running\n", id);
                    }
                    None
                }
                Verdict::Stopped => Some(Lifecycle::Stopped),
                Verdict::Crashed(cause) => {
                    let message = snapshot.message();
                    pr_err!(
                        "kernel {} crashed: {}{}{}\n",
                        id,
                        cause,
                        if message.is_empty() { "" } else { ": " },
                        message
                    );
                    Some(Lifecycle::Crashed)
                }
            };
            if end.is_none() {
                if let Some(since) = secondary.shutdown_since_ms {
                    if now.saturating_sub(since) >= SHUTDOWN_TIMEOUT_MS {
                        pr_warn!(
                            "kernel {} did not stop within {} s of the request: forcing it\n",
                            id,
                            SHUTDOWN_TIMEOUT_MS / 1000
                        );
                        end = Some(Lifecycle::Forced);
                    }
                }
            }
            if let Some(end) = end {
                self.end_kernel(state, slot, end);
            }
        }
    }

    /// Handles a write to `shutdown`.
    fn shutdown(&self, input: &[u8]) -> Result {
        let id = parse_id(input, "shutdown")?;
        let status = {
            let mut state = self.state.lock();
            if state.starting.contains(&Some(id)) {
                pr_err!("shutdown refused: kernel {} is still being started\n", id);
                return Err(EBUSY);
            }
            let secondary = state
                .slots
                .iter_mut()
                .flatten()
                .find(|k| k.entry.id == id)
                .ok_or_else(|| {
                    pr_err!("shutdown refused: no running kernel {}\n", id);
                    ENOENT
                })?;
            if secondary.shutdown_since_ms.is_none() {
                secondary
                    .control
                    .write_u32(control::REQUEST_OFFSET, control::REQUEST_SHUTDOWN)
                    .ok_or(EINVAL)?;
                secondary.shutdown_since_ms = Some(monotonic_ms());
                secondary.entry.status.set(Lifecycle::Stopping);
                pr_info!("kernel {}: shutdown requested\n", id);
            }
            secondary.entry.status.clone()
        };
        // The watcher ends it, forcing it after SHUTDOWN_TIMEOUT_MS.
        let asked = monotonic_ms();
        loop {
            match status.get() {
                Lifecycle::Stopped => return Ok(()),
                // The watcher's lines said why; the writer learns that the
                // kernel did not stop cleanly.
                Lifecycle::Crashed => return Err(EIO),
                Lifecycle::Forced => return Err(errno::etimedout()),
                Lifecycle::Booting | Lifecycle::Running | Lifecycle::Stopping => {}
            }
            if monotonic_ms().saturating_sub(asked) > SHUTDOWN_TIMEOUT_MS + 10_000 {
                pr_err!("kernel {}: shutdown did not complete\n", id);
                return Err(errno::etimedout());
            }
            sleep_ms(100);
        }
    }

    /// Whether `apic_id` is a CPU of a secondary this kernel started and
    /// that has not ended (`ipi/send` sends only there).
    pub(crate) fn is_live_secondary_apic_id(&self, apic_id: u32) -> bool {
        let state = self.state.lock();
        state.slots.iter().flatten().any(|k| {
            k.cpus
                .iter()
                .any(|cpu| reservation::cpu_apic_id(cpu) == Some(apic_id))
        })
    }

    /// Handles a write to `release`: forgets an ended kernel.
    fn release(&self, input: &[u8]) -> Result {
        let id = parse_id(input, "release")?;
        let mut state = self.state.lock();
        if state.slots.iter().flatten().any(|k| k.entry.id == id)
            || state.starting.contains(&Some(id))
        {
            pr_err!(
                "release refused: kernel {} is running; write its id to shutdown first\n",
                id
            );
            return Err(EBUSY);
        }
        let entry = state
            .ended
            .iter_mut()
            .find(|e| e.as_ref().is_some_and(|e| e.id == id))
            .and_then(Option::take)
            .ok_or_else(|| {
                pr_err!("release refused: no kernel {}\n", id);
                ENOENT
            })?;
        drop(entry);
        pr_info!("kernel {} released\n", id);
        Ok(())
    }
}

/// The watcher thread: moves every secondary's state along.
impl ThreadBody for Loader {
    fn run(&self, ctx: &ThreadContext) {
        while !ctx.should_stop() {
            self.watch_all();
            ctx.sleep_ms(WATCH_PERIOD_MS);
        }
    }
}

#[pinned_drop]
impl PinnedDrop for Loader {
    fn drop(self: Pin<&mut Self>) {
        // Stop every secondary and take its CPUs and memory back before the
        // module goes away; the files that could start new ones are gone,
        // and so is the watcher.
        let mut state = self.state.lock();
        for slot in 0..MAX_LOW_WINDOWS {
            if let Some(id) = state.slots.get(slot).and_then(Option::as_ref).map(|k| k.entry.id) {
                pr_warn!("module unloading: stopping kernel {} by force\n", id);
                self.end_kernel(&mut state, slot, Lifecycle::Forced);
            }
        }
    }
}

/// `/sys/kernel/popcorn/boot` (write-only, root only).
pub(crate) struct BootFile(pub(crate) Arc<Loader>);

#[vtable]
impl AttributeOps for BootFile {
    const CONTROL: bool = true;

    fn store(&self, input: &[u8]) -> Result {
        self.0.boot(input)
    }
}

/// `/sys/kernel/popcorn/shutdown` (write-only, root only).
pub(crate) struct ShutdownFile(pub(crate) Arc<Loader>);

#[vtable]
impl AttributeOps for ShutdownFile {
    const CONTROL: bool = true;

    fn store(&self, input: &[u8]) -> Result {
        self.0.shutdown(input)
    }
}

/// `/sys/kernel/popcorn/release` (write-only, root only).
pub(crate) struct ReleaseFile(pub(crate) Arc<Loader>);

#[vtable]
impl AttributeOps for ReleaseFile {
    const CONTROL: bool = true;

    fn store(&self, input: &[u8]) -> Result {
        self.0.release(input)
    }
}

/// `pool/free_bytes`, read live.
pub(crate) struct PoolFreeFile(pub(crate) Arc<Loader>);

#[vtable]
impl AttributeOps for PoolFreeFile {
    fn show(&self, out: &mut crate::sysfs::Page<'_>) -> Result {
        writeln!(out, "{}", self.0.pool_free_bytes()).map_err(|_| EFBIG)
    }
}
