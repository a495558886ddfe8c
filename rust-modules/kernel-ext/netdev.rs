// SPDX-License-Identifier: GPL-2.0

//! A minimal safe Ethernet device on top of `struct net_device`
//! (linux-patches/0009 makes it visible to Rust).
//!
//! A driver implements [`NetDriver`]; [`Registration::register`] allocates
//! and registers the device, with the driver object reachable from every
//! callback, and dropping the registration unregisters and frees it. The
//! callbacks run in the contexts Linux gives them: [`NetDriver::transmit`]
//! with bottom halves off (it must not sleep), the others in process
//! context with RTNL held. [`NetDev::receive`] hands a received frame to
//! the stack from process context.

use core::ptr::NonNull;
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
    /// The device's counters.
    fn stats(&self) -> Stats;
}

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

    /// Lets the stack queue frames to the device again.
    pub fn start_queue(&self) {
        // SAFETY: valid device (invariant).
        unsafe { bindings::netif_start_queue(self.raw()) }
    }

    /// Stops the stack from handing frames to the device.
    pub fn stop_queue(&self) {
        // SAFETY: valid device (invariant).
        unsafe { bindings::netif_stop_queue(self.raw()) }
    }

    /// Hands a received Ethernet frame (header included) to the stack.
    /// Process context; the frame is copied. `ENOMEM` if no buffer,
    /// `EINVAL` for a frame shorter than an Ethernet header.
    pub fn receive(&self, frame: &[u8]) -> Result {
        let len = u32::try_from(frame.len()).map_err(|_| EINVAL)?;
        if frame.len() < bindings::ETH_HLEN as usize {
            return Err(EINVAL);
        }
        // SAFETY: valid device (invariant); GFP_ATOMIC: the receive thread
        // must not wait on reclaim.
        let skb = unsafe { bindings::__netdev_alloc_skb(self.raw(), len, bindings::GFP_ATOMIC) };
        let skb = NonNull::new(skb).ok_or(ENOMEM)?;
        // SAFETY: a fresh skb with room for `len` bytes (allocated for
        // them); `skb_put` returns where they go, which we fill completely.
        unsafe {
            let at = bindings::skb_put(skb.as_ptr(), len).cast::<u8>();
            core::ptr::copy_nonoverlapping(frame.as_ptr(), at, frame.len());
            let protocol = bindings::eth_type_trans(skb.as_ptr(), self.raw());
            (*(*skb.as_ptr()).__bindgen_anon_4.__bindgen_anon_1.as_mut()).protocol = protocol;
            // netif_rx takes the skb whatever it returns (a drop is
            // counted by the stack).
            bindings::netif_rx(skb.as_ptr());
        }
        Ok(())
    }
}

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

/// The C callbacks for driver `T`.
struct Adapter<T>(core::marker::PhantomData<T>);

impl<T: NetDriver> Adapter<T> {
    const OPS: bindings::net_device_ops = bindings::net_device_ops {
        ndo_open: Some(Self::open),
        ndo_stop: Some(Self::stop),
        ndo_start_xmit: Some(Self::start_xmit),
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
        // SAFETY: all-zero is a valid `ethtool_ops`.
        ..unsafe { core::mem::zeroed() }
    };

    /// The driver object of `dev`.
    ///
    /// # Safety
    ///
    /// `dev` was registered by a [`Registration<T>`] that still lives.
    unsafe fn driver<'a>(dev: *mut bindings::net_device) -> &'a T {
        // SAFETY: the private area holds the `*const T` that
        // `Registration::register` stored, from an `Arc<T>` the
        // registration keeps until after the device is unregistered.
        unsafe { &**bindings::netdev_priv(dev).cast::<*const T>() }
    }

    unsafe extern "C" fn open(dev: *mut bindings::net_device) -> c_int {
        // SAFETY: called by the stack for a device we registered.
        let (drv, netdev) = unsafe { (Self::driver(dev), NetDev(NonNull::new_unchecked(dev))) };
        match drv.open(&netdev) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn stop(dev: *mut bindings::net_device) -> c_int {
        // SAFETY: as in `open`.
        let (drv, netdev) = unsafe { (Self::driver(dev), NetDev(NonNull::new_unchecked(dev))) };
        drv.stop(&netdev);
        0
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
}

impl<T: NetDriver> Registration<T> {
    /// Allocates, sets up and registers the device, carrier off.
    pub fn register(config: &Config<'_>, driver: Arc<T>) -> Result<Self> {
        let priv_size = c_int::try_from(core::mem::size_of::<*const T>()).map_err(|_| EINVAL)?;
        // SAFETY: `setup` matches the callback type; the name is
        // NUL-terminated; one queue each way.
        let dev = unsafe {
            bindings::alloc_netdev_mqs(
                priv_size,
                config.name.as_char_ptr(),
                bindings::NET_NAME_PREDICTABLE as u8,
                Some(Adapter::<T>::setup),
                1,
                1,
            )
        };
        let dev = NonNull::new(dev).ok_or(ENOMEM)?;
        // SAFETY: a fresh, unregistered device that only we know: its
        // fields may be written; the private area has room for a pointer.
        unsafe {
            let raw = dev.as_ptr();
            *bindings::netdev_priv(raw).cast::<*const T>() = core::ptr::from_ref::<T>(&driver);
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
            // SAFETY: never registered, so freeing it is ours to do.
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
        // `stop`) and waits for callbacks; then nothing uses it and we free
        // it, before `driver` goes.
        unsafe {
            bindings::unregister_netdev(self.dev.as_ptr());
            bindings::free_netdev(self.dev.as_ptr());
        }
    }
}
