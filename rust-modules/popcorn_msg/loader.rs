// SPDX-License-Identifier: GPL-2.0

//! Staging secondary kernels: `/sys/kernel/popcorn/boot`, `release` and
//! `kernels/<id>/`.
//!
//! A write to `boot` (`cpus=2-3 [mem=512M] [kernel=PATH] [initrd=PATH]
//! [cmdline="..."]`) is checked completely before anything changes: the
//! request's syntax, the CPUs (they exist, are online here, are not the boot
//! CPU, belong to no other kernel), the image (a relocatable 64-bit
//! bzImage) and the initramfs (both readable), a free low-memory window,
//! and the partition against the pool. Only then is the partition cut from
//! the pool and are the CPUs taken offline; the image and initramfs are
//! copied into the partition, and the zero page, setup_data, command line
//! and identity page tables are written into the kernel's boot slot of the
//! shared window. A failure at any step undoes the earlier ones and returns
//! one errno with one log line.
//!
//! Writing a kernel id to `release` gives its CPUs back and returns its
//! partition to the pool. The staged layout can be read back from
//! `/sys/kernel/debug/popcorn/<id>/layout`.
//!
//! Errors a writer sees: `EINVAL` (malformed request, bad size, too many
//! CPUs), `ENODEV` (no such CPU), `EPERM` (the boot CPU), `EBUSY` (a CPU
//! offline here or owned by another kernel), `ENOSPC` (every low window in
//! use), `ENOMEM` (no pool, or the partition does not fit in it),
//! `ENOENT`/`EACCES` (image or initramfs unreadable), `ENOEXEC` (not a
//! bootable bzImage), `EFBIG` (image and initramfs do not fit the
//! partition). For `release`: `EINVAL` (not a number), `ENOENT` (no such
//! staged kernel).

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};
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
use crate::bootreq::{BootRequest, Quoted, MAX_PATH_LEN};
use crate::bzimage::BzImage;
use crate::cmdline::build_cmdline;
use crate::cpu_hotplug::{self, CpuOwnership};
use crate::cpulist::CpuSet;
use crate::debugfs::{DebugfsDir, DebugfsText};
use crate::e820::E820Table;
use crate::files::{FileContents, Purpose};
use crate::pagetable::{build_identity_tables, IDENTITY_TABLES_SIZE};
use crate::physmem::PhysMapping;
use crate::placement::{place, Placement};
use crate::pool::{Partition, PartitionPool, PARTITION_ALIGN};
use crate::reservation::{self, PhysRange, Reservation, MAX_LOW_WINDOWS};
use crate::shared::{self, BootSlot};
use crate::size::DisplaySize;
use crate::system;
use crate::sysfs::{AttributeOps, Constant, Dir};

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
/// move the kernel away from where it was staged).
const SECONDARY_ARGS: &[&str] = &[
    "nokaslr",
    "no5lvl",
    "acpi=off",
    "noapic",
    "pci=off",
    "no_ipi_broadcast=1",
    "tsc=reliable",
    "nmi_watchdog=0",
    "panic=-1",
];

/// A staged secondary kernel.
struct Staged {
    id: u32,
    cpus: CpuSet,
    partition: Partition,
    // Fields drop in order: the debugfs file before its directory.
    _layout: Option<DebugfsText>,
    _debug_dir: Option<DebugfsDir>,
    _dir: Dir,
}

struct LoaderState {
    pool: Option<PartitionPool>,
    /// The kernel staged in each boot slot (= low-memory window).
    slots: [Option<Staged>; MAX_LOW_WINDOWS],
    next_id: u32,
}

/// Everything the `boot` and `release` files act on.
#[pin_data(PinnedDrop)]
pub(crate) struct Loader {
    reservation: Option<Reservation>,
    cpus: CpuOwnership,
    #[pin]
    state: Mutex<LoaderState>,
    /// Mirror of the pool's free bytes, updated under `state`.
    pool_free: AtomicU64,
    debug_root: Option<DebugfsDir>,
    kernels: Dir,
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

/// Copies `src` to physical `dest`, which must lie inside the mapping of
/// `region`.
fn copy_to(mapping: &mut PhysMapping, region: u64, dest: u64, src: &[u8]) -> Result {
    let offset = usize::try_from(dest.checked_sub(region).ok_or(EINVAL)?).map_err(|_| EINVAL)?;
    let end = offset.checked_add(src.len()).ok_or(EINVAL)?;
    mapping
        .as_mut_slice()
        .get_mut(offset..end)
        .ok_or(EINVAL)?
        .copy_from_slice(src);
    Ok(())
}

/// Everything a staged kernel's memory holds, prepared before writing.
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

/// Writes image, initramfs and boot structures; returns the layout text.
fn write_memory(inputs: &StageInputs<'_>) -> Result<KVec<u8>> {
    let StageInputs {
        partition,
        placement,
        slot,
        ..
    } = *inputs;
    let too_big = |_| EINVAL;

    // The partition: image payload and initramfs.
    let part_len = usize::try_from(partition.size).map_err(too_big)?;
    // SAFETY: the partition was just cut from the pool, which the primary
    // reserved at boot; nothing else uses it until the secondary starts.
    let mut part = unsafe { PhysMapping::new(partition.base, part_len)? };
    let payload = inputs.bz.payload(inputs.image).ok_or(ENOEXEC)?;
    copy_to(&mut part, partition.base, placement.kernel, payload)?;
    copy_to(
        &mut part,
        partition.base,
        placement.initrd,
        inputs.initrd,
    )?;
    drop(part);

    // The boot slot in the shared window.
    let slot_len = usize::try_from(shared::BOOT_SLOT_SIZE).map_err(too_big)?;
    // SAFETY: the slot belongs to this kernel alone (its low-window index
    // is marked used under the loader lock) and lies in the reserved shared
    // window.
    let mut slot_map = unsafe { PhysMapping::new(slot.base, slot_len)? };
    let slot_bytes = slot_map.as_mut_slice();
    slot_bytes.fill(0);
    let part_of = |bytes: &[u8], phys: u64, max: u64| -> Result<core::ops::Range<usize>> {
        let start = usize::try_from(phys.checked_sub(slot.base).ok_or(EINVAL)?).map_err(too_big)?;
        let end = start
            .checked_add(usize::try_from(max).map_err(too_big)?)
            .ok_or(EINVAL)?;
        bytes.get(start..end).map(|_| start..end).ok_or(EINVAL)
    };

    // Command line.
    let console_arg = CString::try_from_fmt(fmt!("console={},115200", inputs.console.1))?;
    let earlycon_arg = CString::try_from_fmt(fmt!(
        "earlycon=uart8250,io,{:#x},115200n8",
        inputs.console.0
    ))?;
    let mut words: KVec<&str> = KVec::new();
    for word in SECONDARY_ARGS {
        words.push(word, GFP_KERNEL)?;
    }
    words.push(console_arg.to_str().map_err(|_| EINVAL)?, GFP_KERNEL)?;
    words.push(earlycon_arg.to_str().map_err(|_| EINVAL)?, GFP_KERNEL)?;
    let range = part_of(slot_bytes, slot.cmdline, shared::CMDLINE_MAX)?;
    let cmdline_len = build_cmdline(
        slot_bytes.get_mut(range.clone()).ok_or(EINVAL)?,
        &words,
        inputs.request.cmdline.as_ref(),
        inputs.bz.cmdline_size(),
    )
    .map_err(|e| refuse!(EINVAL, "command line: {}", e))?;

    // setup_data: Popcorn's description of the secondary's world.
    let mut info = PopcornSetupData {
        kernel_id: inputs.id,
        boot_cpu_apic_id: reservation::boot_cpu_apic_id(),
        shared_base: inputs.shared.base,
        shared_size: inputs.shared.size,
        tsc_khz: system::tsc_khz(),
        lapic_khz: reservation::lapic_khz(),
        console_port: inputs.console.0,
        ..PopcornSetupData::default()
    };
    info.notify_apic_id = info.boot_cpu_apic_id;
    let mut apic_ids = [0u32; bootparams::POPCORN_MAX_CPUS];
    for (slot_id, cpu) in apic_ids.iter_mut().zip(inputs.request.cpus.iter()) {
        *slot_id = reservation::cpu_apic_id(cpu).ok_or(ENODEV)?;
    }
    let nr_cpus = inputs.request.cpus.len().min(bootparams::POPCORN_MAX_CPUS);
    info.set_cpus(apic_ids.get(..nr_cpus).ok_or(EINVAL)?)
        .map_err(|e| refuse!(EINVAL, "setup_data: {}", e))?;
    let range = part_of(slot_bytes, slot.setup_data, shared::SETUP_DATA_MAX)?;
    bootparams::build_setup_data(slot_bytes.get_mut(range).ok_or(EINVAL)?, &info)
        .map_err(|e| refuse!(EINVAL, "setup_data: {}", e))?;

    // e820 and zero page.
    let e820 = E820Table::for_secondary(
        partition.base..partition.end(),
        inputs.low_window.base..inputs.low_window.end(),
        inputs.shared.base..inputs.shared.end(),
    )
    .map_err(|e| refuse!(EINVAL, "e820: {}", e))?;
    let params = ZeroPageParams {
        cmdline_phys: slot.cmdline,
        ramdisk_phys: placement.initrd,
        ramdisk_size: placement.initrd_len,
        setup_data_phys: slot.setup_data,
        e820: &e820,
    };
    let range = part_of(slot_bytes, slot.zero_page, shared::ZERO_PAGE_MAX)?;
    bootparams::build_zero_page(
        slot_bytes.get_mut(range.clone()).ok_or(EINVAL)?,
        inputs.image,
        inputs.bz,
        &params,
    )
    .map_err(|e| refuse!(EINVAL, "zero page: {}", e))?;

    // Identity page tables for the 64-bit entry.
    let pt_range = part_of(slot_bytes, slot.page_tables, IDENTITY_TABLES_SIZE as u64)?;
    let cr3 = build_identity_tables(
        slot_bytes.get_mut(pt_range).ok_or(EINVAL)?,
        slot.page_tables,
    )
    .map_err(|e| refuse!(EINVAL, "page tables: {}", e))?;

    // The layout, read back from what was written, for debugfs.
    let mut text = KVec::new();
    let mut out = TextSink(&mut text);
    let cmdline_range = part_of(slot_bytes, slot.cmdline, shared::CMDLINE_MAX)?;
    let summary =
        bootparams::zero_page_summary(slot_bytes.get(range).ok_or(EINVAL)?).map_err(|_| EINVAL)?;
    let cmdline = slot_bytes
        .get(cmdline_range)
        .and_then(|c| c.get(..cmdline_len))
        .and_then(|c| core::str::from_utf8(c).ok())
        .unwrap_or("?");
    let _ = write!(
        out,
        "cpus: {}\npartition: {:#x}-{:#x}\nkernel_load: {:#x}\ninitrd: {:#x}+{:#x}\n\
         low_window: {:#x}-{:#x}\n{}cr3: {:#x}\ncmdline: {}\n{}{}",
        inputs.request.cpus,
        partition.base,
        partition.end().saturating_sub(1),
        placement.kernel,
        placement.initrd,
        placement.initrd_len,
        inputs.low_window.base,
        inputs.low_window.end().saturating_sub(1),
        slot,
        cr3,
        cmdline,
        summary,
        info
    );
    Ok(text)
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

impl Loader {
    /// Creates `kernels/` under `root`, with nothing staged.
    pub(crate) fn new(root: &Dir) -> Result<Arc<Self>> {
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
        // debugfs is a debugging aid: without it, staging still works.
        let debug_root = DebugfsDir::new(c_str!("popcorn"), None).ok();
        let cpus = CpuOwnership::register()?;
        Arc::pin_init(
            pin_init!(Loader {
                reservation,
                cpus,
                state <- new_mutex!(LoaderState {
                    pool,
                    slots: [const { None }; MAX_LOW_WINDOWS],
                    next_id: 1,
                }),
                pool_free: AtomicU64::new(pool_free),
                debug_root,
                kernels,
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

        let mut guard = self.state.lock();
        let state = &mut *guard;
        let windows = reservation.low_windows().count();
        let slot_index = state
            .slots
            .iter()
            .take(windows)
            .position(Option::is_none)
            .ok_or_else(|| refuse!(ENOSPC, "all {} low-memory windows are in use", windows))?;
        let free_slots = state
            .slots
            .iter()
            .take(windows)
            .filter(|s| s.is_none())
            .count();
        let low_window = reservation.low_windows().nth(slot_index).ok_or(EINVAL)?;
        let console = *CONSOLE_PORTS.get(slot_index).unwrap_or(&CONSOLE_PORTS[0]);
        let slot = shared::boot_slot(reservation.shared.base, reservation.shared.size, slot_index)
            .map_err(|e| refuse!(EINVAL, "shared window: {}", e))?;
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
        let id = state.next_id;

        let placement = place(
            partition.base,
            partition.size,
            u64::from(bz.kernel_alignment()),
            u64::from(bz.init_size()),
            u64::try_from(initrd.as_slice().len()).unwrap_or(u64::MAX),
        );
        let staged = match placement {
            Ok(placement) => self.stage(&StageInputs {
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
            }),
            Err(e) => Err(refuse!(EFBIG, "mem={}: {}", DisplaySize(partition.size), e)),
        };
        let staged = match staged {
            Ok(staged) => staged,
            Err(e) => {
                if let Some(pool) = state.pool.as_mut() {
                    let _ = pool.release(partition);
                }
                return Err(e);
            }
        };
        state.next_id = id.saturating_add(1);
        pr_info!(
            "kernel {} staged: cpus {}, mem {} at {:#x}, slot {}\n",
            id,
            request.cpus,
            DisplaySize(partition.size),
            partition.base,
            slot_index
        );
        self.pool_free.store(
            state.pool.as_ref().map_or(0, |p| p.free_bytes()),
            Ordering::Relaxed,
        );
        if let Some(entry) = state.slots.get_mut(slot_index) {
            *entry = Some(staged);
        }
        Ok(())
    }

    /// Takes the CPUs and fills the memory; gives the CPUs back on failure.
    fn stage(&self, inputs: &StageInputs<'_>) -> Result<Staged> {
        self.cpus.take(&inputs.request.cpus)?;
        self.record(inputs).inspect_err(|_| {
            let _ = self.cpus.give_back(&inputs.request.cpus);
        })
    }

    fn record(&self, inputs: &StageInputs<'_>) -> Result<Staged> {
        let layout = write_memory(inputs)?;
        let name = CString::try_from_fmt(fmt!("{}", inputs.id))?;
        let mut dir = self.kernels.new_child(&name)?;
        dir.add_file(c_str!("id"), Constant(inputs.id))?;
        dir.add_file(c_str!("role"), Constant("secondary"))?;
        dir.add_file(c_str!("state"), Constant("staged"))?;
        dir.add_file(c_str!("cpus"), Constant(inputs.request.cpus))?;
        dir.add_file(c_str!("mem_bytes"), Constant(inputs.partition.size))?;
        let debug_dir = self
            .debug_root
            .as_ref()
            .and_then(|root| DebugfsDir::new(&name, Some(root)).ok());
        let layout = debug_dir
            .as_ref()
            .and_then(|d| DebugfsText::new(d, c_str!("layout"), layout).ok());
        Ok(Staged {
            id: inputs.id,
            cpus: inputs.request.cpus,
            partition: inputs.partition,
            _layout: layout,
            _debug_dir: debug_dir,
            _dir: dir,
        })
    }

    /// Handles a write to `release`.
    fn release(&self, input: &[u8]) -> Result {
        let text = core::str::from_utf8(input).map_err(|_| EINVAL)?.trim_end();
        let id: u32 = text.parse().map_err(|_| {
            pr_err!("release refused: '{}' is not a kernel id\n", text);
            EINVAL
        })?;
        let mut state = self.state.lock();
        let staged = state
            .slots
            .iter_mut()
            .find(|slot| slot.as_ref().is_some_and(|k| k.id == id))
            .and_then(Option::take)
            .ok_or_else(|| {
                pr_err!("release refused: no staged kernel {}\n", id);
                ENOENT
            })?;
        self.unstage(&mut state, staged);
        pr_info!("kernel {} released\n", id);
        Ok(())
    }

    /// Gives back what `staged` held; its slot is already empty.
    fn unstage(&self, state: &mut LoaderState, staged: Staged) {
        let _ = self.cpus.give_back(&staged.cpus);
        if let Some(pool) = state.pool.as_mut() {
            if let Err(e) = pool.release(staged.partition) {
                pr_err!(
                    "kernel {}: partition not returned to the pool: {}\n",
                    staged.id,
                    e
                );
            }
        }
        self.pool_free.store(
            state.pool.as_ref().map_or(0, |p| p.free_bytes()),
            Ordering::Relaxed,
        );
        // Dropping `staged` removes its sysfs and debugfs entries.
    }
}

#[pinned_drop]
impl PinnedDrop for Loader {
    fn drop(self: Pin<&mut Self>) {
        // Give every staged kernel's CPUs and memory back before the module
        // goes away; the sysfs files that could start new work are gone.
        let mut state = self.state.lock();
        for index in 0..MAX_LOW_WINDOWS {
            if let Some(staged) = state.slots.get_mut(index).and_then(Option::take) {
                self.unstage(&mut state, staged);
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
