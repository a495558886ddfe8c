// SPDX-License-Identifier: GPL-2.0

//! popnet: `popnet0`, one virtual Ethernet link joining every kernel,
//! carried by the message layer (see `docs/popnet-plan.md`).
//!
//! Each kernel's device has the locally administered MAC `02:50:43`
//! followed by its kernel id, so a unicast frame's destination names the
//! kernel to send it to; broadcast and multicast frames go to every live
//! kernel. A frame travels as one message of kind [`KIND_NET`], so the MTU
//! is bounded by what one message carries. Transmit runs with bottom
//! halves off and never waits: a full ring drops the frame and counts it
//! (TCP retransmits). Frames from other kernels are checked (length, and
//! that they are Ethernet frames at all) before the stack sees them.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{alloc::KVec, c_str, new_spinlock, prelude::*, sync::{Arc, SpinLock}};

use crate::msg::{From, MsgHandler, MsgLayer, PeerListener, SendMode, FIRST_USER_KIND};
use crate::netdev::{Config, NetDev, NetDriver, Registration, SkBuff, Stats};

/// The message kind of popnet frames.
pub const KIND_NET: u16 = FIRST_USER_KIND + 2;
/// Ethernet header length.
const ETH_HLEN: usize = 14;
/// Smallest MTU (IPv4's minimum).
const MIN_MTU: u32 = 68;
/// The first three bytes of every popnet MAC.
const MAC_PREFIX: [u8; 3] = [0x02, 0x50, 0x43];

/// The MAC of kernel `id`'s device.
pub fn mac_of(id: u32) -> [u8; 6] {
    let [_, a, b, c] = id.to_be_bytes();
    [MAC_PREFIX[0], MAC_PREFIX[1], MAC_PREFIX[2], a, b, c]
}

/// Where a frame to `dest` goes.
#[derive(Debug, PartialEq, Eq)]
enum Dest {
    /// Broadcast or multicast: every live kernel.
    All,
    /// One kernel.
    Kernel(u32),
    /// A unicast MAC that is not a popnet device's.
    Unknown,
}

fn dest_of(frame: &[u8]) -> Dest {
    let Some(mac) = frame.get(..6) else {
        return Dest::Unknown;
    };
    if mac[0] & 1 != 0 {
        return Dest::All;
    }
    if mac[..3] != MAC_PREFIX {
        return Dest::Unknown;
    }
    Dest::Kernel(u32::from_be_bytes([0, mac[3], mac[4], mac[5]]))
}

#[derive(Default)]
struct Counters {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    rx_dropped: AtomicU64,
    rx_errors: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_dropped: AtomicU64,
}

/// The driver object of this kernel's `popnet0`.
#[pin_data]
pub struct PopNet {
    msg: Arc<MsgLayer>,
    self_id: u32,
    counters: Counters,
    /// A frame is copied here before it goes into the ring (transmit is
    /// serialised by the device's queue lock; this lock only makes that
    /// visible to Rust).
    #[pin]
    tx_buf: SpinLock<KVec<u8>>,
}

impl NetDriver for PopNet {
    const NAME: &'static CStr = c_str!("popnet");
    const VERSION: &'static CStr = c_str!("0.1.0");

    fn open(&self, dev: &NetDev) -> Result {
        dev.set_carrier(self.msg.live_peers() > 0);
        dev.start_queue();
        Ok(())
    }

    fn stop(&self, dev: &NetDev) {
        dev.stop_queue();
    }

    fn transmit(&self, _dev: &NetDev, skb: SkBuff) {
        let len = skb.len();
        let mut buf = self.tx_buf.lock();
        let Some(frame) = buf.get_mut(..len) else {
            drop(buf);
            self.counters.tx_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if skb.copy_to(frame).is_err() {
            drop(buf);
            self.counters.tx_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let sent = match dest_of(frame) {
            Dest::All => self.msg.send_all(KIND_NET, frame, SendMode::BestEffort),
            Dest::Kernel(id) if id != self.self_id => {
                self.msg.send(id, KIND_NET, frame, SendMode::NoWait)
            }
            _ => Err(EINVAL),
        };
        drop(buf);
        match sent {
            Ok(()) => {
                self.counters.tx_packets.fetch_add(1, Ordering::Relaxed);
                self.counters.tx_bytes.fetch_add(len as u64, Ordering::Relaxed);
                skb.consume();
            }
            Err(_) => {
                self.counters.tx_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn stats(&self) -> Stats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            rx_packets: get(&c.rx_packets),
            rx_bytes: get(&c.rx_bytes),
            rx_dropped: get(&c.rx_dropped),
            rx_errors: get(&c.rx_errors),
            tx_packets: get(&c.tx_packets),
            tx_bytes: get(&c.tx_bytes),
            tx_dropped: get(&c.tx_dropped),
        }
    }
}

/// Receives frames from other kernels and follows their coming and going.
struct NetLink(Registration<PopNet>);

impl MsgHandler for NetLink {
    fn on_message(&self, _from: From, body: &[u8]) {
        let counters = &self.0.driver().counters;
        let dev = self.0.dev();
        // Another kernel wrote this: at least a header, at most an MTU.
        if body.len() < ETH_HLEN || body.len() > ETH_HLEN + dev.mtu() as usize {
            counters.rx_errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match dev.receive(body) {
            Ok(()) => {
                counters.rx_packets.fetch_add(1, Ordering::Relaxed);
                counters.rx_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
            }
            Err(_) => {
                counters.rx_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl PeerListener for NetLink {
    fn peers_changed(&self, live: usize) {
        self.0.dev().set_carrier(live > 0);
    }
}

/// `popnet0` while the module is loaded.
pub struct PopNetService {
    /// Keeps the device registered; the message layer holds the other
    /// references while the kind and the listener are registered.
    _link: Arc<NetLink>,
    msg: Arc<MsgLayer>,
}

impl PopNetService {
    pub fn start(msg: &Arc<MsgLayer>, self_id: u32) -> Result<Self> {
        let max_payload = msg.max_payload();
        let max_mtu = u32::try_from(max_payload.saturating_sub(ETH_HLEN)).unwrap_or(u32::MAX);
        let mut tx_buf = KVec::new();
        tx_buf.extend_with(max_payload, 0u8, GFP_KERNEL)?;
        let driver = Arc::pin_init(
            pin_init!(PopNet {
                msg: msg.clone(),
                self_id,
                counters: Counters::default(),
                tx_buf <- new_spinlock!(tx_buf),
            }),
            GFP_KERNEL,
        )?;
        let config = Config {
            name: c_str!("popnet0"),
            mac: mac_of(self_id),
            min_mtu: MIN_MTU,
            max_mtu,
        };
        let registration = Registration::register(&config, driver)?;
        let link = Arc::new(NetLink(registration), GFP_KERNEL)?;
        msg.register(KIND_NET, link.clone())?;
        msg.set_peer_listener(Some(link.clone()));
        pr_info!("popnet0: MAC {:02x?}, MTU up to {}\n", mac_of(self_id), max_mtu);
        Ok(PopNetService {
            _link: link,
            msg: msg.clone(),
        })
    }
}

impl Drop for PopNetService {
    fn drop(&mut self) {
        // No more frames or carrier changes reach the device; then the
        // last reference to the link unregisters it.
        self.msg.set_peer_listener(None);
        self.msg.unregister(KIND_NET);
    }
}
