// SPDX-License-Identifier: GPL-2.0

//! A minimal safe Ethernet device on top of `struct net_device`
//! (linux-patches/0009 makes it visible to Rust).
//!
//! A driver implements [`NetDriver`]; [`Registration::register`] allocates
//! and registers the device, with the driver object reachable from every
//! callback, and dropping the registration unregisters and frees it. The
//! callbacks run in the contexts Linux gives them: [`NetDriver::transmit`]
//! with bottom halves off (it must not sleep), [`NetDriver::poll`] in the
//! NAPI softirq, the others in process context with RTNL held.
//!
//! Receiving goes through NAPI: the driver builds an skb from a frame
//! ([`NetDev::build_rx`], which also applies the offload metadata that
//! came with it), keeps it, and calls [`NetDev::schedule_poll`]; the
//! stack then calls [`NetDriver::poll`], which hands frames up with
//! [`Napi::receive`] (through GRO). The adapter completes the poll when
//! the driver did less than its budget.
//!
//! Transmit queues: a device may have several ([`Config::tx_queues`]);
//! [`NetDriver::select_queue`] picks one for each frame, and the driver
//! stops and wakes each on its own ([`NetDev::stop_queue`],
//! [`NetDev::wake_queue`]), so a queue whose destination cannot take more
//! holds only its own frames. `ethtool -S` shows each queue's counters
//! ([`NetDriver::queue_stats`]) and whether it is stopped.
//!
//! Offloads: a device registered with [`Config::offloads`] accepts frames
//! whose checksum is still to be filled in and TCP packets still to be
//! segmented; [`SkBuff::offload`] says what a frame to send left undone
//! and [`NetDev::build_rx`] restores it on the other side, as virtio-net
//! does, so nothing is checksummed or segmented while the data stays in
//! memory.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    bindings,
    error::{code::*, to_result, Result},
    ffi::{c_int, c_void},
    str::CStr,
    sync::Arc,
};

/// What the device does; one object per device.
pub trait NetDriver: Send + Sync + Sized + 'static {
    /// The driver's name, as `ethtool -i` shows it.
    const NAME: &'static CStr;
    /// Its version string.
    const VERSION: &'static CStr;

    /// `ip link set DEV up` (process context, RTNL held).
    fn open(&self, dev: &NetDev) -> Result;
    /// `ip link set DEV down`.
    fn stop(&self, dev: &NetDev);
    /// Sends one frame; the driver owns `skb` and must consume or drop it.
    /// Bottom halves are off: no sleeping.
    fn transmit(&self, dev: &NetDev, skb: SkBuff);
    /// NAPI poll (softirq): hands at most `budget` received frames to
    /// `napi` and returns how many; fewer than `budget` means it is done
    /// until the next [`NetDev::schedule_poll`].
    fn poll(&self, dev: &NetDev, napi: &Napi, budget: usize) -> usize;
    /// The device's counters.
    fn stats(&self) -> Stats;
    /// The transmit queue for `skb` (below [`Config::tx_queues`]; anything
    /// else means queue 0). Runs where transmit does, before it, without
    /// the queue's lock.
    fn select_queue(&self, _dev: &NetDev, _skb: &SkBuff) -> u16 {
        0
    }
    /// Counters of transmit queue `queue`, for `ethtool -S`.
    fn queue_stats(&self, _queue: u16) -> QueueStats {
        QueueStats::default()
    }
}

/// What `ethtool -S` shows for one transmit queue (besides whether it is
/// stopped now, which the adapter reads itself).
#[derive(Default, Clone, Copy)]
pub struct QueueStats {
    pub packets: u64,
    pub dropped: u64,
    /// Times the driver stopped the queue.
    pub stops: u64,
}

/// `ethtool -S` counters per transmit queue, in this order.
const QUEUE_STAT_NAMES: [&str; 4] = ["packets", "dropped", "stops", "stopped"];

/// The counters `ip -s link` shows.
#[derive(Default, Clone, Copy)]
pub struct Stats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_dropped: u64,
    pub rx_errors: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
    pub tx_errors: u64,
}

/// What the sending stack left for the device to do to a frame.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Offload {
    /// `(start, offset)`: the checksum from `start` (bytes from the
    /// frame's start) to the end goes at `start + offset`, not filled in.
    pub csum: Option<(u16, u16)>,
    /// A TCP packet larger than the MTU, to be cut into segments.
    pub gso: Option<TcpSegmentation>,
}

/// TCP segmentation left undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegmentation {
    pub ipv6: bool,
    /// Payload bytes per segment.
    pub size: u16,
    /// The packet carries ECN's CWR flag (kept on the first segment only).
    pub ecn: bool,
}

/// The private area of every device: the NAPI context, then the driver.
/// Not generic, so that [`NetDev`] finds the NAPI context without knowing
/// the driver's type.
#[repr(C)]
struct Private {
    napi: bindings::napi_struct,
    /// `*const T` of the registration's driver.
    driver: *const c_void,
}

/// `netdev_priv()` is aligned to `NETDEV_ALIGN` (32 bytes).
const _: () = assert!(core::mem::align_of::<Private>() <= 32);

/// A NAPI context, as a poll sees it.
///
/// # Invariants
///
/// `0` is the NAPI context of a registered device, being polled.
pub struct Napi(NonNull<bindings::napi_struct>);

impl Napi {
    /// Hands a received frame to the stack, through GRO.
    pub fn receive(&self, skb: SkBuff) {
        // SAFETY: a NAPI context being polled (invariant), in its softirq;
        // the stack takes the skb whatever it returns.
        unsafe { bindings::napi_gro_receive(self.0.as_ptr(), skb.into_raw()) };
    }
}

/// A registered `net_device`, as callbacks and the driver see it.
///
/// # Invariants
///
/// `0` points to a registered `net_device` (or one being registered or
/// unregistered by its [`Registration`]), valid while this reference is.
pub struct NetDev(NonNull<bindings::net_device>);

impl NetDev {
    fn raw(&self) -> *mut bindings::net_device {
        self.0.as_ptr()
    }

    /// The MTU now set.
    pub fn mtu(&self) -> u32 {
        // SAFETY: valid device (invariant); a plain field read, as the
        // stack itself reads it without locks (READ_ONCE in C).
        unsafe { core::ptr::addr_of!((*self.raw()).mtu).read_volatile() }
    }

    /// Reports the link up (a peer is there) or down. Any context.
    pub fn set_carrier(&self, on: bool) {
        // SAFETY: valid device (invariant); both functions may be called
        // from any context.
        unsafe {
            if on {
                bindings::netif_carrier_on(self.raw())
            } else {
                bindings::netif_carrier_off(self.raw())
            }
        }
    }

    /// Transmit queues the device has ([`Config::tx_queues`]).
    pub fn tx_queues(&self) -> u16 {
        // SAFETY: valid device (invariant); set before registration and
        // never changed here.
        let n = unsafe { (*self.raw()).real_num_tx_queues };
        u16::try_from(n).unwrap_or(u16::MAX)
    }

    /// Transmit queue `queue`'s state word (`__QUEUE_STATE_*` bits), or
    /// `None` past the last queue.
    fn queue_state(&self, queue: u16) -> Option<&AtomicU64> {
        if queue >= self.tx_queues() {
            return None;
        }
        // SAFETY: valid device (invariant) whose `_tx` array holds
        // `real_num_tx_queues` (<= `num_tx_queues`) queues, as
        // netdev_get_tx_queue() indexes it; `state` is an aligned
        // `unsigned long` (64 bits) that C changes only with atomic bit
        // operations, so it may be viewed as an atomic while the device
        // lives.
        unsafe {
            let txq = (*self.raw())._tx.add(usize::from(queue));
            Some(AtomicU64::from_ptr(core::ptr::addr_of_mut!((*txq).state).cast::<u64>()))
        }
    }

    /// Lets the stack hand frames to every transmit queue (`open`).
    pub fn start_queues(&self) {
        for queue in 0..self.tx_queues() {
            if let Some(state) = self.queue_state(queue) {
                // netif_tx_start_queue(): clear_bit(__QUEUE_STATE_DRV_XOFF).
                state.fetch_and(!DRV_XOFF, Ordering::SeqCst);
            }
        }
    }

    /// Stops the stack from handing frames to any transmit queue.
    pub fn stop_queues(&self) {
        // SAFETY: valid device (invariant).
        unsafe { bindings::netif_tx_stop_all_queues(self.raw()) }
    }

    /// Stops the stack from handing frames to transmit queue `queue` (the
    /// others go on). Nothing past the last queue.
    pub fn stop_queue(&self, queue: u16) {
        let Some(state) = self.queue_state(queue) else {
            return;
        };
        // As netif_tx_stop_queue(): note when (for the stack's watchdog),
        // then set the bit with an atomic operation, which on x86 is also
        // the full barrier smp_mb__before_atomic() asks for.
        // SAFETY: `queue` exists (checked above); `jiffies` is the
        // kernel's tick counter, read as C's READ_ONCE would;
        // `trans_start` is written with WRITE_ONCE in C too.
        unsafe {
            let txq = (*self.raw())._tx.add(usize::from(queue));
            let now = core::ptr::addr_of!(bindings::jiffies).read_volatile();
            core::ptr::addr_of_mut!((*txq).trans_start).write_volatile(now);
        }
        state.fetch_or(DRV_XOFF, Ordering::SeqCst);
    }

    /// Lets the stack hand frames to transmit queue `queue` again after
    /// [`NetDev::stop_queue`], and sends what queued up meanwhile. Any
    /// context; from process context the transmit softirq runs before this
    /// returns. Nothing past the last queue.
    pub fn wake_queue(&self, queue: u16) {
        if queue >= self.tx_queues() {
            return;
        }
        // SAFETY: valid device (invariant) and one of its queues (checked
        // above); the bottom-half section makes the raised softirq run at
        // its end instead of whenever ksoftirqd gets to it.
        unsafe {
            let txq = (*self.raw())._tx.add(usize::from(queue));
            bindings::local_bh_disable();
            bindings::netif_tx_wake_queue(txq);
            bindings::local_bh_enable();
        }
    }

    /// Whether the driver stopped transmit queue `queue` (false past the
    /// last queue).
    pub fn queue_stopped(&self, queue: u16) -> bool {
        self.queue_state(queue)
            .is_some_and(|state| state.load(Ordering::Relaxed) & DRV_XOFF != 0)
    }

    /// Whether the device is up (between `open` and `stop`).
    pub fn running(&self) -> bool {
        // SAFETY: valid device (invariant).
        unsafe { bindings::netif_running(self.raw()) }
    }

    fn napi(&self) -> *mut bindings::napi_struct {
        // SAFETY: valid device (invariant) whose private area is a
        // `Private` (every device here is set up by `Registration`).
        unsafe { core::ptr::addr_of_mut!((*bindings::netdev_priv(self.raw()).cast::<Private>()).napi) }
    }

    /// Asks for a NAPI poll. Any context; from process context the poll
    /// runs before this returns. Does nothing while the device is down.
    pub fn schedule_poll(&self) {
        // SAFETY: the device's NAPI context, added at registration and
        // deleted only after unregistering; napi_schedule() wants bottom
        // halves off (it raises the softirq, which runs at their end).
        unsafe {
            bindings::local_bh_disable();
            bindings::napi_schedule(self.napi());
            bindings::local_bh_enable();
        }
    }

    /// Builds the skb of a received Ethernet frame (header included), with
    /// the offloads the sender left undone (checked by the stack:
    /// `EINVAL` if the checksum field lies outside the frame). Process
    /// context; the frame is copied. `ENOMEM` if no buffer, `EINVAL` for a
    /// frame shorter than an Ethernet header.
    pub fn build_rx(&self, frame: &[u8], offload: &Offload) -> Result<SkBuff> {
        let len = u32::try_from(frame.len()).map_err(|_| EINVAL)?;
        if frame.len() < bindings::ETH_HLEN as usize {
            return Err(EINVAL);
        }
        // SAFETY: valid device (invariant). GFP_KERNEL: the caller is in
        // process context, and a 64 KiB frame needs an order-4 buffer that
        // an atomic allocation often cannot find.
        let skb = unsafe {
            bindings::__netdev_alloc_skb(self.raw(), len, bindings::GFP_KERNEL | bindings::__GFP_NOWARN)
        };
        // INVARIANT: a fresh skb, ours.
        let skb = SkBuff(NonNull::new(skb).ok_or(ENOMEM)?);
        let raw = skb.0.as_ptr();
        // SAFETY: a fresh skb with room for `len` bytes (allocated for
        // them); `skb_put` returns where they go, which we fill completely.
        unsafe {
            let at = bindings::skb_put(raw, len).cast::<u8>();
            core::ptr::copy_nonoverlapping(frame.as_ptr(), at, frame.len());
        }
        if let Some((start, offset)) = offload.csum {
            // SAFETY: our skb; the function checks the offsets against the
            // data (which starts at the frame's start here) and refuses
            // what does not fit.
            if !unsafe { bindings::skb_partial_csum_set(raw, start, offset) } {
                return Err(EINVAL);
            }
        }
        if let Some(gso) = offload.gso {
            let kind = if gso.ipv6 {
                bindings::SKB_GSO_TCPV6
            } else {
                bindings::SKB_GSO_TCPV4
            };
            let ecn = if gso.ecn { bindings::SKB_GSO_TCP_ECN } else { 0 };
            // SAFETY: our skb, not shared: its shared info is ours to
            // write. DODGY: the header came from outside this kernel, so
            // the stack recounts the segments and checks the headers.
            unsafe {
                let info = bindings::skb_shinfo(raw);
                (*info).gso_size = gso.size;
                (*info).gso_type = kind | ecn | bindings::SKB_GSO_DODGY;
                (*info).gso_segs = 0;
            }
        }
        // SAFETY: our skb, holding a whole Ethernet frame.
        unsafe {
            let protocol = bindings::eth_type_trans(raw, self.raw());
            (*(*raw).__bindgen_anon_4.__bindgen_anon_1.as_mut()).protocol = protocol;
        }
        Ok(skb)
    }
}

/// `__QUEUE_STATE_DRV_XOFF` as a mask: the driver stopped the queue.
const DRV_XOFF: u64 = 1 << bindings::netdev_queue_state_t___QUEUE_STATE_DRV_XOFF;

/// A frame the stack handed to the driver; dropped (freed) unless
/// [`SkBuff::consume`]d.
///
/// # Invariants
///
/// `0` is an skb this object owns.
pub struct SkBuff(NonNull<bindings::sk_buff>);

impl SkBuff {
    /// Bytes in the frame, header included.
    pub fn len(&self) -> usize {
        // SAFETY: owned skb (invariant).
        unsafe { (*self.0.as_ptr()).len as usize }
    }

    /// The frame's first bytes: its linear part (the Ethernet header at
    /// least, for frames the stack sends; possibly empty for others).
    pub fn head(&self) -> &[u8] {
        let raw = self.0.as_ptr();
        // SAFETY: owned or borrowed skb (invariant), not changed while
        // borrowed: `data` holds `len - data_len` bytes (the linear part).
        unsafe {
            let linear = (*raw).len.saturating_sub((*raw).data_len) as usize;
            if linear == 0 || (*raw).data.is_null() {
                return &[];
            }
            core::slice::from_raw_parts((*raw).data, linear)
        }
    }

    /// The transmit queue the stack put this frame on.
    pub fn queue(&self) -> u16 {
        // SAFETY: owned skb (invariant); a plain field read.
        unsafe { (*self.0.as_ptr()).queue_mapping }
    }

    /// Copies the whole frame (linear part and fragments) into `out`,
    /// which must be at least [`SkBuff::len`] bytes; returns the length.
    pub fn copy_to(&self, out: &mut [u8]) -> Result<usize> {
        let len = self.len();
        let dest = out.get_mut(..len).ok_or_else(crate::errno::emsgsize)?;
        let count = c_int::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: owned skb (invariant); `dest` has room for `len` bytes.
        let ret = unsafe {
            bindings::skb_copy_bits(self.0.as_ptr(), 0, dest.as_mut_ptr().cast::<c_void>(), count)
        };
        to_result(ret)?;
        Ok(len)
    }

    /// What the stack left undone in this frame. `EOPNOTSUPP` for
    /// segmentation other than TCP (never asked of a device that offers
    /// only TCP's).
    pub fn offload(&self) -> Result<Offload> {
        let raw = self.0.as_ptr();
        // SAFETY: owned skb (invariant); plain field reads.
        let (summed, csum_offset) = unsafe {
            let headers = (*raw).__bindgen_anon_4.__bindgen_anon_1.as_ref();
            (headers.ip_summed(), headers.__bindgen_anon_1.__bindgen_anon_1.csum_offset)
        };
        let csum = if u32::from(summed) == bindings::CHECKSUM_PARTIAL {
            // SAFETY: owned skb (invariant).
            let start = unsafe { bindings::skb_checksum_start_offset(raw) };
            Some((u16::try_from(start).map_err(|_| EINVAL)?, csum_offset))
        } else {
            None
        };
        // SAFETY: owned skb (invariant); its shared info is readable.
        let (size, kind) = unsafe {
            let info = bindings::skb_shinfo(raw);
            ((*info).gso_size, (*info).gso_type)
        };
        let gso = if size == 0 {
            None
        } else if kind & (bindings::SKB_GSO_TCPV4 | bindings::SKB_GSO_TCPV6) == 0 {
            return Err(crate::errno::eopnotsupp());
        } else {
            Some(TcpSegmentation {
                ipv6: kind & bindings::SKB_GSO_TCPV6 != 0,
                size,
                ecn: kind & bindings::SKB_GSO_TCP_ECN != 0,
            })
        };
        Ok(Offload { csum, gso })
    }

    /// Gives up ownership, to the stack.
    fn into_raw(self) -> *mut bindings::sk_buff {
        let skb = self.0;
        core::mem::forget(self);
        skb.as_ptr()
    }

    /// Frees the skb as sent successfully.
    pub fn consume(self) {
        let skb = self.0;
        core::mem::forget(self);
        // SAFETY: owned (invariant) and given up here, exactly once.
        unsafe { bindings::dev_consume_skb_any(skb.as_ptr()) };
    }
}

impl Drop for SkBuff {
    fn drop(&mut self) {
        // SAFETY: owned (invariant); freed once, here (as dropped).
        unsafe { bindings::dev_kfree_skb_any(self.0.as_ptr()) };
    }
}

/// A FIFO of owned skbs, linked through their own `next` pointers as
/// `sk_buff_head` links them, with no lock of its own (the owner puts it
/// under one). Dropping it frees what is left.
///
/// # Invariants
///
/// `head` starts a chain of `len` skbs this list owns, linked by `next`
/// and ending at `tail` (whose `next` is null); both null when empty.
pub struct SkbList {
    head: *mut bindings::sk_buff,
    tail: *mut bindings::sk_buff,
    len: usize,
}

// SAFETY: the list owns its skbs, which may be freed from any thread.
unsafe impl Send for SkbList {}

impl SkbList {
    pub const fn new() -> Self {
        SkbList {
            head: core::ptr::null_mut(),
            tail: core::ptr::null_mut(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Appends `skb`.
    pub fn push(&mut self, skb: SkBuff) {
        let raw = skb.into_raw();
        // SAFETY: `raw` is ours now; `tail`, if any, is the list's last
        // skb (invariant). Their `next` is free for our use while listed.
        unsafe {
            (*raw).__bindgen_anon_1.__bindgen_anon_1.next = core::ptr::null_mut();
            if self.tail.is_null() {
                self.head = raw;
            } else {
                (*self.tail).__bindgen_anon_1.__bindgen_anon_1.next = raw;
            }
        }
        self.tail = raw;
        self.len += 1;
    }

    /// Takes the oldest skb.
    pub fn pop(&mut self) -> Option<SkBuff> {
        let first = NonNull::new(self.head)?;
        // SAFETY: the list's first skb (invariant); its `next` is the rest.
        unsafe {
            self.head = (*first.as_ptr()).__bindgen_anon_1.__bindgen_anon_1.next;
            (*first.as_ptr()).__bindgen_anon_1.__bindgen_anon_1.next = core::ptr::null_mut();
        }
        if self.head.is_null() {
            self.tail = core::ptr::null_mut();
        }
        self.len -= 1;
        // INVARIANT: unlinked, and owned by the caller from here.
        Some(SkBuff(first))
    }
}

impl Drop for SkbList {
    fn drop(&mut self) {
        while let Some(skb) = self.pop() {
            drop(skb);
        }
    }
}

/// The C callbacks for driver `T`.
struct Adapter<T>(core::marker::PhantomData<T>);

impl<T: NetDriver> Adapter<T> {
    const OPS: bindings::net_device_ops = bindings::net_device_ops {
        ndo_open: Some(Self::open),
        ndo_stop: Some(Self::stop),
        ndo_start_xmit: Some(Self::start_xmit),
        ndo_select_queue: Some(Self::select_queue),
        ndo_get_stats64: Some(Self::get_stats64),
        ndo_set_mac_address: Some(bindings::eth_mac_addr),
        ndo_validate_addr: Some(bindings::eth_validate_addr),
        // SAFETY: all-zero is a valid `net_device_ops` (every callback
        // absent).
        ..unsafe { core::mem::zeroed() }
    };

    const ETHTOOL_OPS: bindings::ethtool_ops = bindings::ethtool_ops {
        get_drvinfo: Some(Self::get_drvinfo),
        get_link: Some(bindings::ethtool_op_get_link),
        get_sset_count: Some(Self::get_sset_count),
        get_strings: Some(Self::get_strings),
        get_ethtool_stats: Some(Self::get_ethtool_stats),
        // SAFETY: all-zero is a valid `ethtool_ops`.
        ..unsafe { core::mem::zeroed() }
    };

    /// The driver object of `dev`.
    ///
    /// # Safety
    ///
    /// `dev` was registered by a [`Registration<T>`] that still lives.
    unsafe fn driver<'a>(dev: *mut bindings::net_device) -> &'a T {
        // SAFETY: the private area is a `Private` whose `driver` is the
        // `*const T` that `Registration::register` stored, from an `Arc<T>`
        // the registration keeps until after the device is unregistered.
        unsafe { &*(*bindings::netdev_priv(dev).cast::<Private>()).driver.cast::<T>() }
    }

    unsafe extern "C" fn open(dev: *mut bindings::net_device) -> c_int {
        // SAFETY: called by the stack for a device we registered.
        let (drv, netdev) = unsafe { (Self::driver(dev), NetDev(NonNull::new_unchecked(dev))) };
        // SAFETY: the device's NAPI context, disabled while it is down.
        unsafe { bindings::napi_enable(netdev.napi()) };
        match drv.open(&netdev) {
            Ok(()) => 0,
            Err(e) => {
                // SAFETY: enabled just above.
                unsafe { bindings::napi_disable(netdev.napi()) };
                e.to_errno()
            }
        }
    }

    unsafe extern "C" fn stop(dev: *mut bindings::net_device) -> c_int {
        // SAFETY: as in `open`.
        let (drv, netdev) = unsafe { (Self::driver(dev), NetDev(NonNull::new_unchecked(dev))) };
        drv.stop(&netdev);
        // SAFETY: enabled by `open`; waits for a running poll to finish.
        unsafe { bindings::napi_disable(netdev.napi()) };
        0
    }

    unsafe extern "C" fn poll(napi: *mut bindings::napi_struct, budget: c_int) -> c_int {
        // SAFETY: the stack polls a NAPI context we added to a device we
        // registered; `dev` is set by netif_napi_add.
        let dev = unsafe { (*napi).dev };
        // SAFETY: as in `open`.
        let (drv, netdev) = unsafe { (Self::driver(dev), NetDev(NonNull::new_unchecked(dev))) };
        let budget = usize::try_from(budget).unwrap_or(0);
        // SAFETY: INVARIANT: being polled, now.
        let context = Napi(unsafe { NonNull::new_unchecked(napi) });
        let done = drv.poll(&netdev, &context, budget).min(budget);
        let done_c = c_int::try_from(done).unwrap_or(0);
        if done < budget {
            // SAFETY: our poll, finishing with less than its budget (a
            // budget of 0, from netpoll, must not complete).
            unsafe { bindings::napi_complete_done(napi, done_c) };
        }
        done_c
    }

    unsafe extern "C" fn start_xmit(
        skb: *mut bindings::sk_buff,
        dev: *mut bindings::net_device,
    ) -> bindings::netdev_tx_t {
        // SAFETY: as in `open`; the stack gives us `skb` to own.
        let (drv, netdev) = unsafe { (Self::driver(dev), NetDev(NonNull::new_unchecked(dev))) };
        if let Some(skb) = NonNull::new(skb) {
            drv.transmit(&netdev, SkBuff(skb));
        }
        bindings::netdev_tx_NETDEV_TX_OK
    }

    unsafe extern "C" fn select_queue(
        dev: *mut bindings::net_device,
        skb: *mut bindings::sk_buff,
        _sb_dev: *mut bindings::net_device,
    ) -> u16 {
        // SAFETY: as in `open`.
        let (drv, netdev) = unsafe { (Self::driver(dev), NetDev(NonNull::new_unchecked(dev))) };
        let Some(skb) = NonNull::new(skb) else {
            return 0;
        };
        // The skb stays the stack's: borrowed, never dropped here.
        let skb = core::mem::ManuallyDrop::new(SkBuff(skb));
        let queue = drv.select_queue(&netdev, &skb);
        if queue < netdev.tx_queues() {
            queue
        } else {
            0
        }
    }

    unsafe extern "C" fn get_sset_count(dev: *mut bindings::net_device, set: c_int) -> c_int {
        if u32::try_from(set) != Ok(bindings::ethtool_stringset_ETH_SS_STATS) {
            return crate::errno::eopnotsupp().to_errno();
        }
        // SAFETY: as in `open`.
        let netdev = unsafe { NetDev(NonNull::new_unchecked(dev)) };
        let count = usize::from(netdev.tx_queues()) * QUEUE_STAT_NAMES.len();
        c_int::try_from(count).unwrap_or(0)
    }

    unsafe extern "C" fn get_strings(dev: *mut bindings::net_device, set: u32, data: *mut u8) {
        if set != bindings::ethtool_stringset_ETH_SS_STATS {
            return;
        }
        // SAFETY: as in `open`.
        let netdev = unsafe { NetDev(NonNull::new_unchecked(dev)) };
        let len = bindings::ETH_GSTRING_LEN as usize;
        let count = usize::from(netdev.tx_queues()) * QUEUE_STAT_NAMES.len();
        // SAFETY: ethtool hands a buffer of `get_sset_count` strings of
        // ETH_GSTRING_LEN bytes each, zeroed.
        let out = unsafe { core::slice::from_raw_parts_mut(data, count * len) };
        let names = (0..netdev.tx_queues()).flat_map(|q| QUEUE_STAT_NAMES.iter().map(move |n| (q, n)));
        for (field, (queue, name)) in out.chunks_exact_mut(len).zip(names) {
            let mut writer = FieldWriter { field, at: 0 };
            let _ = core::fmt::Write::write_fmt(&mut writer, format_args!("tx_queue_{}_{}", queue, name));
        }
    }

    unsafe extern "C" fn get_ethtool_stats(
        dev: *mut bindings::net_device,
        _stats: *mut bindings::ethtool_stats,
        data: *mut u64,
    ) {
        // SAFETY: as in `open`.
        let (drv, netdev) = unsafe { (Self::driver(dev), NetDev(NonNull::new_unchecked(dev))) };
        let count = usize::from(netdev.tx_queues()) * QUEUE_STAT_NAMES.len();
        // SAFETY: ethtool hands room for `get_sset_count` values.
        let out = unsafe { core::slice::from_raw_parts_mut(data, count) };
        for (queue, values) in (0..netdev.tx_queues()).zip(out.chunks_exact_mut(QUEUE_STAT_NAMES.len())) {
            let s = drv.queue_stats(queue);
            let row = [s.packets, s.dropped, s.stops, u64::from(netdev.queue_stopped(queue))];
            for (value, v) in values.iter_mut().zip(row) {
                *value = v;
            }
        }
    }

    unsafe extern "C" fn get_stats64(
        dev: *mut bindings::net_device,
        out: *mut bindings::rtnl_link_stats64,
    ) {
        // SAFETY: as in `open`.
        let drv = unsafe { Self::driver(dev) };
        // `out` may sit unaligned inside a netlink message (x86 does not
        // pad 64-bit attributes), so it is read and written as a whole,
        // unaligned.
        // SAFETY: `out` is the stack's, valid for reads and writes.
        let mut stats = unsafe { out.read_unaligned() };
        let s = drv.stats();
        stats.rx_packets = s.rx_packets;
        stats.rx_bytes = s.rx_bytes;
        stats.rx_dropped = s.rx_dropped;
        stats.rx_errors = s.rx_errors;
        stats.tx_packets = s.tx_packets;
        stats.tx_bytes = s.tx_bytes;
        stats.tx_dropped = s.tx_dropped;
        stats.tx_errors = s.tx_errors;
        // SAFETY: as above.
        unsafe { out.write_unaligned(stats) };
    }

    unsafe extern "C" fn get_drvinfo(
        _dev: *mut bindings::net_device,
        info: *mut bindings::ethtool_drvinfo,
    ) {
        // SAFETY: `info` is the stack's, valid for writes.
        let info = unsafe { &mut *info };
        copy_c_string(&mut info.driver, T::NAME);
        copy_c_string(&mut info.version, T::VERSION);
    }

    unsafe extern "C" fn setup(dev: *mut bindings::net_device) {
        // SAFETY: `alloc_netdev_mqs` calls this with the new device.
        unsafe { bindings::ether_setup(dev) };
    }
}

/// Formats into a fixed C string field, truncated, leaving the last byte
/// (NUL, the field comes zeroed).
struct FieldWriter<'a> {
    field: &'a mut [u8],
    at: usize,
}

impl core::fmt::Write for FieldWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.field.len().saturating_sub(1);
        for byte in s.bytes() {
            let Some(slot) = self.field.get_mut(self.at).filter(|_| self.at < room) else {
                return Err(core::fmt::Error);
            };
            *slot = byte;
            self.at += 1;
        }
        Ok(())
    }
}

/// Copies `s` into a fixed C string field, truncated, NUL-terminated.
fn copy_c_string(field: &mut [kernel::ffi::c_char], s: &CStr) {
    let bytes = s.as_bytes();
    let n = bytes.len().min(field.len().saturating_sub(1));
    for (dst, src) in field.iter_mut().zip(bytes.iter().take(n)) {
        *dst = *src as kernel::ffi::c_char;
    }
    if let Some(end) = field.get_mut(n) {
        *end = 0;
    }
}

/// A registered device; dropping it unregisters and frees it.
///
/// # Invariants
///
/// `dev` is registered, its private area holds a pointer to `*driver`,
/// and `driver` outlives the registration.
pub struct Registration<T: NetDriver> {
    dev: NonNull<bindings::net_device>,
    driver: Arc<T>,
}

// SAFETY: the device may be used and unregistered from any thread; the
// driver is `Send + Sync`.
unsafe impl<T: NetDriver> Send for Registration<T> {}
// SAFETY: `&Registration` gives `&NetDev` and `&T`, both thread-safe.
unsafe impl<T: NetDriver> Sync for Registration<T> {}

/// How the device is set up before it is registered.
pub struct Config<'a> {
    /// Name, e.g. `popnet0`.
    pub name: &'a CStr,
    pub mac: [u8; 6],
    pub min_mtu: u32,
    pub max_mtu: u32,
    /// Take frames with checksums and TCP segmentation left undone
    /// ([`SkBuff::offload`]); frames are at most `max_frame` bytes, so
    /// larger segmented packets are cut up by the stack first.
    pub offloads: bool,
    /// Largest frame (Ethernet header included) the device can carry.
    pub max_frame: u32,
    /// Transmit queues (at least 1), chosen by [`NetDriver::select_queue`].
    pub tx_queues: u16,
}

impl<T: NetDriver> Registration<T> {
    /// Allocates, sets up and registers the device, carrier off.
    pub fn register(config: &Config<'_>, driver: Arc<T>) -> Result<Self> {
        let priv_size = c_int::try_from(core::mem::size_of::<Private>()).map_err(|_| EINVAL)?;
        let tx_queues = u32::from(config.tx_queues.max(1));
        // SAFETY: `setup` matches the callback type; the name is
        // NUL-terminated; `tx_queues` transmit queues, one receive queue.
        let dev = unsafe {
            bindings::alloc_netdev_mqs(
                priv_size,
                config.name.as_char_ptr(),
                bindings::NET_NAME_PREDICTABLE as u8,
                Some(Adapter::<T>::setup),
                tx_queues,
                1,
            )
        };
        let dev = NonNull::new(dev).ok_or(ENOMEM)?;
        // SAFETY: a fresh, unregistered device that only we know: its
        // fields may be written; the private area (zeroed) is a `Private`,
        // whose NAPI context is added here, before registering.
        unsafe {
            let raw = dev.as_ptr();
            let private = bindings::netdev_priv(raw).cast::<Private>();
            (*private).driver = core::ptr::from_ref::<T>(&driver).cast::<c_void>();
            bindings::netif_napi_add_weight(
                raw,
                core::ptr::addr_of_mut!((*private).napi),
                Some(Adapter::<T>::poll),
                bindings::NAPI_POLL_WEIGHT as c_int,
            );
            if config.offloads {
                let features = bindings::NETIF_F_SG
                    | bindings::NETIF_F_FRAGLIST
                    | bindings::NETIF_F_HW_CSUM
                    | bindings::NETIF_F_HIGHDMA
                    | bindings::NETIF_F_RXCSUM
                    | bindings::NETIF_F_TSO
                    | bindings::NETIF_F_TSO6
                    | bindings::NETIF_F_TSO_ECN;
                (*raw).features |= features;
                (*raw).hw_features |= features;
                bindings::netif_set_tso_max_size(raw, config.max_frame);
            }
            (*raw).netdev_ops = &Adapter::<T>::OPS;
            (*raw).ethtool_ops = &Adapter::<T>::ETHTOOL_OPS;
            (*raw).min_mtu = config.min_mtu;
            (*raw).max_mtu = config.max_mtu;
            bindings::eth_hw_addr_set(raw, config.mac.as_ptr());
            bindings::netif_carrier_off(raw);
        }
        // SAFETY: set up above; `register_netdev` takes RTNL itself.
        let ret = unsafe { bindings::register_netdev(dev.as_ptr()) };
        if let Err(e) = to_result(ret) {
            // SAFETY: never registered, so freeing it (and its NAPI
            // context) is ours to do.
            unsafe { bindings::free_netdev(dev.as_ptr()) };
            return Err(e);
        }
        // INVARIANT: registered, private area set, `driver` kept.
        Ok(Registration { dev, driver })
    }

    /// The device.
    pub fn dev(&self) -> NetDev {
        NetDev(self.dev)
    }

    /// The driver object.
    pub fn driver(&self) -> &Arc<T> {
        &self.driver
    }
}

impl<T: NetDriver> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: registered (invariant); unregistering stops it (calling
        // `stop`, which disables NAPI) and waits for callbacks; then nothing
        // uses it and we free it, before `driver` goes.
        unsafe {
            bindings::unregister_netdev(self.dev.as_ptr());
            bindings::netif_napi_del(self.dev().napi());
            bindings::free_netdev(self.dev.as_ptr());
        }
    }
}
