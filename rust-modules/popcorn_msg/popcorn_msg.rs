// SPDX-License-Identifier: GPL-2.0

//! Popcorn's inter-kernel message layer, the loader of secondary kernels,
//! and the `/sys/kernel/popcorn` tree.
//!
//! Every other Popcorn module builds on this one, so it owns the sysfs tree
//! through which users and `popcornctl` see the multikernel:
//!
//! ```text
//! /sys/kernel/popcorn/
//!     version           module version
//!     kernel_id         id of the kernel reading the file (0 = primary)
//!     boot              write "cpus=LIST [mem=SIZE] ..." to start a secondary
//!     shutdown          write a kernel id to stop it (forced after a timeout)
//!     release           write an ended kernel's id to remove its entry
//!     kernels/<id>/     one directory per kernel
//!         id  role  state  cpus  mem_bytes  console (secondaries)
//!     ipi/              the message interrupt: received, sent, send (diagnostic)
//!     pool/             RAM set aside for secondaries (popcorn.reserve=)
//!         base  total_bytes  free_bytes
//!     shared/           the window all kernels share
//!         base  size_bytes
//!     msg/              the message layer (msg.rs): slot ring_slots
//!                       max_payload poll
//!     peers/<id>/       every other kernel: state slot counters ping
//!     msgtest/          test and benchmark tools (msgtest.rs)
//! ```
//!
//! One value per file. `cpus` uses the kernel's cpulist format (`0-3,6`).
//! `pool/` and `shared/` exist only when the primary booted with
//! `popcorn.reserve=`; `msg/`, `peers/` and `msgtest/` wherever the message
//! layer runs (that primary, and every secondary). Staging is in `loader.rs`; see `docs/sysfs.md`.

use core::fmt::Write;
use kernel::{c_str, fmt, prelude::*, str::CString, sync::Arc};

// Shared files, included by source (see popcorn-core's docs). Their `pub`
// items are the host crate's API, and this module uses only part of them.
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/bootparams.rs"]
mod bootparams;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/bootplan.rs"]
mod bootplan;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/bootreq.rs"]
mod bootreq;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/bzimage.rs"]
mod bzimage;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/cmdline.rs"]
mod cmdline;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/control.rs"]
mod control;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/cpulist.rs"]
mod cpulist;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/e820.rs"]
mod e820;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/le.rs"]
mod le;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/pagetable.rs"]
mod pagetable;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/placement.rs"]
mod placement;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/pool.rs"]
mod pool;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/shared.rs"]
mod shared;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/size.rs"]
mod size;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/text.rs"]
mod text;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/ring.rs"]
mod ring;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/netframe.rs"]
mod netframe;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/number.rs"]
mod number;

#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/migrate.rs"]
mod migrate;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/admit.rs"]
mod admit;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/trampoline.rs"]
mod trampoline;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/window.rs"]
mod window;

// Safe abstractions over kernel C APIs, shared with future modules.
#[allow(dead_code, unreachable_pub)]
#[path = "../kernel-ext/cpu_hotplug.rs"]
mod cpu_hotplug;
#[allow(dead_code, unreachable_pub)]
#[path = "../kernel-ext/debugfs.rs"]
mod debugfs;
#[allow(dead_code, unreachable_pub)]
#[path = "../kernel-ext/errno.rs"]
mod errno;
#[allow(dead_code, unreachable_pub)]
#[path = "../kernel-ext/files.rs"]
mod files;
#[allow(dead_code, unreachable_pub)]
#[path = "../kernel-ext/kthread.rs"]
mod kthread;
#[allow(dead_code, unreachable_pub)]
#[path = "../kernel-ext/kvec.rs"]
mod kvec;
#[allow(dead_code, unreachable_pub)]
#[path = "../kernel-ext/lock_bh.rs"]
mod lock_bh;
#[allow(dead_code, unreachable_pub)]
#[path = "../kernel-ext/msg_ipi.rs"]
mod msg_ipi;
#[allow(dead_code, unreachable_pub)]
#[path = "../kernel-ext/netdev.rs"]
mod netdev;
#[cfg(popcorn_test_hooks)]
#[allow(dead_code, unreachable_pub)]
#[path = "../kernel-ext/pages.rs"]
mod pages;
#[allow(dead_code, unreachable_pub)]
#[path = "../kernel-ext/physmem.rs"]
mod physmem;
#[allow(dead_code, unreachable_pub)]
#[path = "../kernel-ext/reservation.rs"]
mod reservation;
#[allow(dead_code, unreachable_pub)]
#[path = "../kernel-ext/sysfs.rs"]
mod sysfs;
#[allow(unreachable_pub)]
#[path = "../kernel-ext/system.rs"]
mod system;
#[allow(dead_code, unreachable_pub)]
#[path = "../kernel-ext/usertask.rs"]
mod usertask;
#[allow(dead_code, unreachable_pub)]
#[path = "../kernel-ext/waitqueue.rs"]
mod waitqueue;
#[allow(dead_code, unreachable_pub)]
#[path = "../kernel-ext/workqueue.rs"]
mod workqueue;

mod loader;
// The message layer's API is `pub` for the parts of Popcorn that build on
// it (popnet, migration); not all of it has a user yet.
#[allow(dead_code, unreachable_pub)]
mod msg;
#[allow(unreachable_pub)]
mod migration;
// The test hooks (`msgtest/`) are built only with POPCORN_TEST_HOOKS=1
// (`make test`, `make bench`); the module an operator loads has none.
#[cfg(popcorn_test_hooks)]
#[allow(unreachable_pub)]
mod msgtest;
#[allow(unreachable_pub)]
mod popnet;

use core::sync::atomic::Ordering;
use kthread::KThread;
use msg::{MsgLayer, MsgService, IPIS_RECEIVED, IPIS_SENT};
#[cfg(popcorn_test_hooks)]
use msgtest::MsgTest;
use migration::MigrationService;
use popnet::PopNetService;
use msg_ipi::MsgIpiHandler;
use loader::{BootFile, Loader, PoolFreeFile, ReleaseFile, ShutdownFile};
use reservation::{PhysRange, Reservation};
use sysfs::{AttributeOps, Computed, Constant, Dir, Page};

module! {
    type: PopcornMsg,
    name: "popcorn_msg",
    author: "Popcorn developers",
    description: "Popcorn multikernel: message layer, loader and /sys/kernel/popcorn",
    license: "GPL",
}

/// The module's version, as shown in `/sys/kernel/popcorn/version`.
const VERSION: &str = "0.1.0";

fn show_ipis_received(out: &mut Page<'_>) -> Result {
    writeln!(out, "{}", IPIS_RECEIVED.load(Ordering::Relaxed)).map_err(|_| EFBIG)
}

fn show_ipis_sent(out: &mut Page<'_>) -> Result {
    writeln!(out, "{}", IPIS_SENT.load(Ordering::Relaxed)).map_err(|_| EFBIG)
}

/// `ipi/send`: a diagnostic that sends one message interrupt to the
/// physical APIC ID written (root only), to check the notification path
/// between kernels before the rings use it. Only to a CPU of another live
/// kernel, as this kernel knows it without asking shared memory: on the
/// primary a CPU of a secondary it started that has not ended, on a
/// secondary the primary's CPU it was told at boot. Anything else (its own
/// CPUs, an ID no kernel was given, the broadcast ID 0xff) is `EINVAL`.
struct SendIpiFile {
    loader: Arc<Loader>,
    /// On a secondary, the primary's notification APIC ID.
    primary: Option<u32>,
}

#[vtable]
impl AttributeOps for SendIpiFile {
    const CONTROL: bool = true;

    fn store(&self, input: &[u8]) -> Result {
        let apic_id = number::parse_one(input, u64::from(u32::MAX))
            .ok()
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| {
                pr_err!("ipi/send: not an APIC ID (write a decimal number)\n");
                EINVAL
            })?;
        let allowed = match self.primary {
            Some(primary) => apic_id == primary,
            None => self.loader.is_live_secondary_apic_id(apic_id),
        };
        if !allowed {
            pr_err!("ipi/send: APIC ID {} is no CPU of another live kernel\n", apic_id);
            return Err(EINVAL);
        }
        msg_ipi::send_msg_ipi(apic_id);
        IPIS_SENT.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

struct PopcornMsg {
    // Fields drop in declaration order: the watcher thread first (it uses
    // the loader), directories before their parents.
    _watcher: KThread<Loader>,
    _migration: Option<MigrationService>,
    _popnet: Option<PopNetService>,
    #[cfg(popcorn_test_hooks)]
    _msgtest: Option<MsgTest>,
    _msg: Option<MsgService>,
    _ipi_dir: Dir,
    _ipi: MsgIpiHandler,
    _this_kernel: Dir,
    _reservation: Option<ReservationDirs>,
    /// Owns `kernels/` and the secondaries; the last reference.
    _loader: Arc<Loader>,
    root: Dir,
}

/// `pool/` and `shared/`.
struct ReservationDirs {
    _pool: Dir,
    _shared: Dir,
}

/// A physical address as sysfs shows it: `0x` and lower-case hex.
struct PhysAddr(u64);

impl core::fmt::Display for PhysAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl ReservationDirs {
    fn new(root: &Dir, reservation: &Reservation, loader: &Arc<Loader>) -> Result<Self> {
        let mut pool = root.new_child(c_str!("pool"))?;
        pool.add_file(c_str!("base"), Constant(PhysAddr(reservation.pool.base)))?;
        pool.add_file(c_str!("total_bytes"), Constant(reservation.pool.size))?;
        pool.add_file(c_str!("free_bytes"), PoolFreeFile(loader.clone()))?;
        let mut shared = root.new_child(c_str!("shared"))?;
        shared.add_file(c_str!("base"), Constant(PhysAddr(reservation.shared.base)))?;
        shared.add_file(c_str!("size_bytes"), Constant(reservation.shared.size))?;
        Ok(ReservationDirs {
            _pool: pool,
            _shared: shared,
        })
    }
}

fn log_reservation(reservation: Option<&Reservation>, secondary: bool) {
    if secondary {
        // Only the primary starts kernels; nothing to say about memory.
        return;
    }
    let Some(r) = reservation else {
        pr_info!(
            "no memory reserved (boot with popcorn.reserve=): secondary kernels cannot start\n"
        );
        return;
    };
    let show = |range: PhysRange| {
        (
            PhysAddr(range.base),
            PhysAddr(range.end().saturating_sub(1)),
        )
    };
    let (pool_start, pool_last) = show(r.pool);
    let (shared_start, shared_last) = show(r.shared);
    pr_info!(
        "pool {}-{} ({} MiB), shared window {}-{}, {} low windows\n",
        pool_start,
        pool_last,
        r.pool.size >> 20,
        shared_start,
        shared_last,
        r.low_windows().count()
    );
}

fn show_online_cpus(out: &mut Page<'_>) -> Result {
    writeln!(out, "{}", system::online_cpus()).map_err(|_| EFBIG)
}

fn show_total_ram(out: &mut Page<'_>) -> Result {
    writeln!(out, "{}", system::total_ram_bytes()).map_err(|_| EFBIG)
}

impl kernel::Module for PopcornMsg {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut root = Dir::new_in_sys_kernel(c_str!("popcorn")).inspect_err(|e| {
            pr_err!("cannot create /sys/kernel/popcorn: {:?}\n", e);
        })?;
        // A secondary learns its id from what the primary passed at boot.
        let secondary = msg_ipi::secondary_info();
        let this_id = secondary.map_or(0, |s| s.kernel_id);
        let role = if secondary.is_some() { "secondary" } else { "primary" };
        root.add_file(c_str!("version"), Constant(VERSION))?;
        root.add_file(c_str!("kernel_id"), Constant(this_id))?;

        let reservation = Reservation::get();
        // The message layer needs the shared window: the primary's
        // reservation, or what the primary told a secondary. Without it
        // the rest of the module still works.
        let layer = match (secondary, &reservation) {
            (Some(info), _) => MsgLayer::new_secondary(&info),
            (None, Some(r)) => {
                MsgLayer::new_primary(r.shared.base, r.shared.size, reservation::boot_cpu_apic_id())
            }
            (None, None) => Err(ENODEV),
        };
        let layer = match layer {
            Ok(layer) => Some(layer),
            Err(e) if e == ENODEV => None,
            Err(e) => {
                pr_err!("message layer unavailable ({:?}); the rest of popcorn works\n", e);
                None
            }
        };
        let loader = Loader::new(&root, layer.clone())?;
        let reservation_dirs = match &reservation {
            Some(r) => Some(ReservationDirs::new(&root, r, &loader)?),
            None => None,
        };

        let this_name = CString::try_from_fmt(fmt!("{}", this_id))?;
        let mut this_kernel = loader.kernels_dir().new_child(&this_name)?;
        this_kernel.add_file(c_str!("id"), Constant(this_id))?;
        this_kernel.add_file(c_str!("role"), Constant(role))?;
        this_kernel.add_file(c_str!("state"), Constant("running"))?;
        this_kernel.add_file(c_str!("cpus"), Computed(show_online_cpus))?;
        this_kernel.add_file(c_str!("mem_bytes"), Computed(show_total_ram))?;

        let ipi = MsgIpiHandler::register(msg::on_msg_ipi)
            .inspect_err(|e| pr_err!("cannot handle the message interrupt: {:?}\n", e))?;
        let mut ipi_dir = root.new_child(c_str!("ipi"))?;
        ipi_dir.add_file(c_str!("received"), Computed(show_ipis_received))?;
        ipi_dir.add_file(c_str!("sent"), Computed(show_ipis_sent))?;
        ipi_dir.add_file(
            c_str!("send"),
            SendIpiFile {
                loader: loader.clone(),
                primary: secondary.map(|s| s.notify_apic_id),
            },
        )?;

        let msg = match layer {
            Some(layer) => Some(MsgService::start(&root, layer)?),
            None => None,
        };
        #[cfg(popcorn_test_hooks)]
        let msgtest = match &msg {
            Some(service) => Some(MsgTest::new(&root, service.layer())?),
            None => None,
        };

        // The network device is a convenience on top of the message
        // layer: without it the rest still works.
        let popnet = msg.as_ref().and_then(|service| {
            PopNetService::start(service.layer(), this_id)
                .inspect_err(|e| pr_err!("popnet0 unavailable: {:?}\n", e))
                .ok()
        });

        let migration = msg.as_ref().and_then(|service| {
            MigrationService::start(&root, service.layer(), this_id)
                .inspect_err(|e| pr_err!("task migration unavailable: {:?}\n", e))
                .ok()
        });

        // Every service has registered its message kinds: now the other
        // kernels may talk to this one.
        if let Some(service) = &msg {
            service.layer().announce_live()?;
        }

        let watcher = KThread::spawn(c_str!("popcorn-watch"), loader.clone())?;

        // The control files last: once they exist, users can start kernels.
        root.add_file(c_str!("boot"), BootFile(loader.clone()))?;
        root.add_file(c_str!("shutdown"), ShutdownFile(loader.clone()))?;
        root.add_file(c_str!("release"), ReleaseFile(loader.clone()))?;

        pr_info!(
            "popcorn {} loaded: kernel {}, cpus {}, {} MiB\n",
            VERSION,
            this_id,
            system::online_cpus(),
            system::total_ram_bytes() >> 20
        );
        log_reservation(reservation.as_ref(), secondary.is_some());
        Ok(PopcornMsg {
            _watcher: watcher,
            _migration: migration,
            _popnet: popnet,
            #[cfg(popcorn_test_hooks)]
            _msgtest: msgtest,
            _msg: msg,
            _ipi_dir: ipi_dir,
            _ipi: ipi,
            _this_kernel: this_kernel,
            _reservation: reservation_dirs,
            _loader: loader,
            root,
        })
    }
}

impl Drop for PopcornMsg {
    fn drop(&mut self) {
        // Remove the control files (and drop their references to the
        // loader) before anything else, so no request runs while the loader
        // stops the secondaries. The rest goes in field order.
        self.root.remove_all_files();
        pr_info!("popcorn {} unloaded\n", VERSION);
    }
}
