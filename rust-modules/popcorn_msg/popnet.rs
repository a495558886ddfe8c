// SPDX-License-Identifier: GPL-2.0

//! popnet: `popnet0`, one virtual Ethernet link joining every kernel,
//! carried by the message layer (see `docs/popnet.md`).
//!
//! Each kernel's device has the locally administered MAC `02:50:43`
//! followed by its kernel id, so a unicast frame's destination names the
//! kernel to send it to; broadcast and multicast frames go to every live
//! kernel. A frame travels as one message of kind [`KIND_NET`]: popnet's
//! header (checksum and segmentation left undone, `netframe.rs`) then the
//! Ethernet frame, so the MTU is bounded by what one message carries.
//!
//! Transmit runs with bottom halves off and never waits. Each peer's table
//! slot has its own transmit queue (`netframe::tx_queue` picks it from the
//! destination MAC), broadcasts one more. After each frame to a kernel the
//! driver makes sure the next one will fit: if not, it stops that kernel's
//! queue only and asks the message layer to say when the peer has made
//! room ([`MsgLayer::want_room`]); the stack holds that kernel's frames in
//! its qdisc meanwhile, so TCP sees back-pressure rather than loss, and
//! frames to other kernels go on. Broadcasts are best effort (a full ring
//! drops that copy and counts it), so their queue never stops.
//!
//! Receive: the message layer's receive thread hands each frame to
//! [`NetLink::on_message`], which checks it (lengths, header, checksum
//! offsets: another kernel wrote it), copies it into an skb and queues it;
//! at the end of the thread's pass the NAPI poll hands the batch to the
//! stack through GRO.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kernel::{alloc::KVec, c_str, new_spinlock, prelude::*, sync::{Arc, SpinLock}};

use crate::lock_bh::SpinLockBh;
use crate::msg::{log_allowed, From, MsgHandler, MsgLayer, PeerListener, SendMode, FIRST_USER_KIND};
use crate::netdev::{
    Config, Napi, NetDev, NetDriver, Offload, QueueStats, Registration, SkBuff, SkbList, Stats, TcpSegmentation,
};
use crate::netframe::{dest_of, mac_of, tx_queue, Dest, Gso, GsoKind, NetHeader, ETH_HLEN, HEADER_SIZE};
use crate::window::KERNEL_SLOTS;

/// The message kind of popnet frames.
pub const KIND_NET: u16 = FIRST_USER_KIND + 2;
/// Smallest MTU (IPv4's minimum).
const MIN_MTU: u32 = 68;
/// Received frames waiting for the NAPI poll, at most. The receive thread
/// queues at most 64 per peer before the poll runs, so this is only
/// reached when the stack falls behind; then frames are dropped and
/// counted, as a NIC's full ring would.
const RX_QUEUE_MAX: usize = 1024;
/// The transmit queue of broadcasts, multicasts and frames to nobody,
/// after one queue per table slot; never stopped.
const SHARED_QUEUE: u16 = KERNEL_SLOTS as u16;
/// Transmit queues: one per table slot, then [`SHARED_QUEUE`].
const TX_QUEUES: usize = KERNEL_SLOTS + 1;
/// [`TxQueue::waiting_for`] of a queue that waits for no kernel.
const NOBODY: u32 = u32::MAX;

#[derive(Default)]
struct Counters {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    rx_dropped: AtomicU64,
    rx_errors: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_dropped: AtomicU64,
    tx_errors: AtomicU64,
}

/// One transmit queue's counters and what it waits for.
struct TxQueue {
    packets: AtomicU64,
    dropped: AtomicU64,
    stops: AtomicU64,
    /// The kernel whose ring had no room when this queue was last
    /// stopped ([`NOBODY`] before): [`NetLink::room_available`] for that
    /// kernel wakes it.
    waiting_for: AtomicU32,
}

impl TxQueue {
    const fn new() -> Self {
        TxQueue {
            packets: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            stops: AtomicU64::new(0),
            waiting_for: AtomicU32::new(NOBODY),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The driver object of this kernel's `popnet0`.
#[pin_data]
pub struct PopNet {
    msg: Arc<MsgLayer>,
    self_id: u32,
    /// Largest Ethernet frame (header included) a message carries: what
    /// the largest MTU allows. Received frames are checked against this,
    /// not the current MTU, so that frames in flight while the MTU shrinks
    /// (or from a kernel with a larger MTU) still arrive.
    max_frame: usize,
    /// Largest segmented packet the stack may hand us: a quarter of a
    /// ring, so that several are in flight at once.
    max_tso_frame: usize,
    counters: Counters,
    /// Per transmit queue, indexed like the device's.
    queues: [TxQueue; TX_QUEUES],
    /// A frame is copied here before it goes into the ring (frames on
    /// different transmit queues may be sent at once from different CPUs:
    /// this lock takes them one at a time; it is only ever taken by
    /// transmit, with bottom halves off).
    #[pin]
    tx_buf: SpinLock<KVec<u8>>,
    /// Received frames for the NAPI poll (taken by the receive thread and
    /// by the poll's softirq: bottom halves off).
    #[pin]
    rx_queue: SpinLockBh<SkbList>,
}

impl PopNet {
    /// Bytes the largest next frame takes in a ring.
    fn next_frame(&self, dev: &NetDev) -> usize {
        HEADER_SIZE + (ETH_HLEN + dev.mtu() as usize).max(self.max_tso_frame)
    }

    /// After a frame to `id` on transmit queue `queue`: stops that queue
    /// unless the next frame will fit in the kernel's ring;
    /// [`NetLink::room_available`] wakes it.
    fn keep_room(&self, dev: &NetDev, queue: u16, id: u32) {
        let Some(counters) = self.queues.get(usize::from(queue)) else {
            return;
        };
        let next = self.next_frame(dev);
        if queue == SHARED_QUEUE || self.msg.has_room(id, next) != Ok(false) {
            return;
        }
        // Before stopping, so that an answer finds whom the queue waits for.
        counters.waiting_for.store(id, Ordering::SeqCst);
        dev.stop_queue(queue);
        bump(&counters.stops);
        // Unless room appeared meanwhile, the peer now tells us when it
        // has made some (or the kernel left, which wakes the queue too).
        if self.msg.want_room(id, next) != Ok(false) {
            dev.wake_queue(queue);
        }
    }

    fn header_of(offload: &Offload) -> NetHeader {
        NetHeader {
            csum: offload.csum,
            gso: offload.gso.map(|g| Gso {
                kind: if g.ipv6 { GsoKind::TcpV6 } else { GsoKind::TcpV4 },
                size: g.size,
                ecn: g.ecn,
            }),
        }
    }

    fn offload_of(header: &NetHeader) -> Offload {
        Offload {
            csum: header.csum,
            gso: header.gso.map(|g| TcpSegmentation {
                ipv6: g.kind == GsoKind::TcpV6,
                size: g.size,
                ecn: g.ecn,
            }),
        }
    }
}

impl NetDriver for PopNet {
    const NAME: &'static CStr = c_str!("popnet");
    const VERSION: &'static CStr = c_str!("0.2.0");

    fn open(&self, dev: &NetDev) -> Result {
        dev.set_carrier(self.msg.live_peers() > 0);
        dev.start_queues();
        Ok(())
    }

    fn stop(&self, dev: &NetDev) {
        dev.stop_queues();
        // Frames received while going down are not delivered.
        let stale = core::mem::replace(&mut *self.rx_queue.lock(), SkbList::new());
        self.counters.rx_dropped.fetch_add(stale.len() as u64, Ordering::Relaxed);
    }

    fn select_queue(&self, _dev: &NetDev, skb: &SkBuff) -> u16 {
        tx_queue(dest_of(skb.head()), self.self_id, SHARED_QUEUE, |id| self.msg.peer_slot(id))
    }

    fn queue_stats(&self, queue: u16) -> QueueStats {
        let Some(q) = self.queues.get(usize::from(queue)) else {
            return QueueStats::default();
        };
        QueueStats {
            packets: q.packets.load(Ordering::Relaxed),
            dropped: q.dropped.load(Ordering::Relaxed),
            stops: q.stops.load(Ordering::Relaxed),
        }
    }

    fn transmit(&self, dev: &NetDev, skb: SkBuff) {
        let len = skb.len();
        let queue = skb.queue();
        let per_queue = self.queues.get(usize::from(queue));
        let Ok(offload) = skb.offload() else {
            bump(&self.counters.tx_errors);
            return;
        };
        let header = Self::header_of(&offload).encode();
        let mut buf = self.tx_buf.lock();
        let Some(frame) = buf.get_mut(..len) else {
            drop(buf);
            bump(&self.counters.tx_errors);
            return;
        };
        if skb.copy_to(frame).is_err() {
            drop(buf);
            bump(&self.counters.tx_errors);
            return;
        }
        let dest = dest_of(frame);
        let parts: [&[u8]; 2] = [&header, frame];
        let sent = match dest {
            Dest::All => self.msg.send_all_parts(KIND_NET, &parts, SendMode::BestEffort),
            Dest::Kernel(id) if id != self.self_id => {
                self.msg.send_parts(id, KIND_NET, &parts, SendMode::NoWait)
            }
            // Nobody has that MAC: the frame goes nowhere, as on a wire.
            _ => Err(EINVAL),
        };
        drop(buf);
        match sent {
            Ok(()) => {
                bump(&self.counters.tx_packets);
                self.counters.tx_bytes.fetch_add(len as u64, Ordering::Relaxed);
                per_queue.inspect(|q| bump(&q.packets));
                skb.consume();
            }
            Err(_) => {
                bump(&self.counters.tx_dropped);
                per_queue.inspect(|q| bump(&q.dropped));
            }
        }
        if let Dest::Kernel(id) = dest {
            if id != self.self_id {
                self.keep_room(dev, queue, id);
            }
        }
    }

    fn poll(&self, _dev: &NetDev, napi: &Napi, budget: usize) -> usize {
        let mut done = 0;
        while done < budget {
            let Some(skb) = self.rx_queue.lock().pop() else {
                break;
            };
            napi.receive(skb);
            done += 1;
        }
        done
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
            tx_errors: get(&c.tx_errors),
        }
    }
}

/// Receives frames from other kernels and follows their coming and going.
struct NetLink(Registration<PopNet>);

impl MsgHandler for NetLink {
    fn on_message(&self, from: From, body: &[u8]) {
        let driver = self.0.driver();
        let counters = &driver.counters;
        let dev = self.0.dev();
        let (header, frame) = match NetHeader::parse(body, driver.max_frame) {
            Ok(parsed) => parsed,
            Err(e) => {
                bump(&counters.rx_errors);
                if log_allowed() {
                    pr_warn!("popnet0: dropped a frame from kernel {}: {}\n", from.id, e);
                }
                return;
            }
        };
        if !dev.running() {
            bump(&counters.rx_dropped);
            return;
        }
        let skb = match dev.build_rx(frame, &PopNet::offload_of(&header)) {
            Ok(skb) => skb,
            Err(e) if e == EINVAL => {
                // The stack refused the checksum offsets for this packet.
                bump(&counters.rx_errors);
                return;
            }
            Err(_) => {
                bump(&counters.rx_dropped);
                return;
            }
        };
        let mut queue = driver.rx_queue.lock();
        if queue.len() >= RX_QUEUE_MAX {
            drop(queue);
            drop(skb);
            bump(&counters.rx_dropped);
            return;
        }
        queue.push(skb);
        drop(queue);
        bump(&counters.rx_packets);
        counters.rx_bytes.fetch_add(frame.len() as u64, Ordering::Relaxed);
    }

    fn on_batch_end(&self) {
        self.0.dev().schedule_poll();
    }
}

impl PeerListener for NetLink {
    fn peers_changed(&self, live: usize) {
        let dev = self.0.dev();
        dev.set_carrier(live > 0);
        // A kernel a queue waited for may be the one that left (its answer
        // never comes): wake every stopped queue whose kernel is gone or
        // has room; the others still get theirs.
        if !dev.running() {
            return;
        }
        let driver = self.0.driver();
        let next = driver.next_frame(&dev);
        for (queue, q) in (0..SHARED_QUEUE).zip(driver.queues.iter()) {
            let id = q.waiting_for.load(Ordering::SeqCst);
            if dev.queue_stopped(queue) && driver.msg.has_room(id, next) != Ok(false) {
                dev.wake_queue(queue);
            }
        }
    }

    fn room_available(&self, id: u32) {
        let dev = self.0.dev();
        if !dev.running() {
            return;
        }
        // Only the queues that wait for this kernel.
        let driver = self.0.driver();
        for (queue, q) in (0..SHARED_QUEUE).zip(driver.queues.iter()) {
            if q.waiting_for.load(Ordering::SeqCst) == id && dev.queue_stopped(queue) {
                dev.wake_queue(queue);
            }
        }
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
        let max_frame = max_payload.saturating_sub(HEADER_SIZE);
        let max_mtu = u32::try_from(max_frame.saturating_sub(ETH_HLEN)).unwrap_or(u32::MAX);
        let ring_bytes = msg.ring_slots() as usize * crate::ring::SLOT_SIZE;
        let max_tso_frame = max_frame.min(ring_bytes / 4);
        let mut tx_buf = KVec::new();
        tx_buf.extend_with(max_frame, 0u8, GFP_KERNEL)?;
        let driver = Arc::pin_init(
            pin_init!(PopNet {
                msg: msg.clone(),
                self_id,
                max_frame,
                max_tso_frame,
                counters: Counters::default(),
                queues: [const { TxQueue::new() }; TX_QUEUES],
                tx_buf <- new_spinlock!(tx_buf),
                rx_queue <- crate::new_spinlock_bh!(SkbList::new()),
            }),
            GFP_KERNEL,
        )?;
        let config = Config {
            name: c_str!("popnet0"),
            mac: mac_of(self_id),
            min_mtu: MIN_MTU,
            max_mtu,
            offloads: true,
            max_frame: u32::try_from(max_tso_frame).unwrap_or(u32::MAX),
            tx_queues: TX_QUEUES as u16,
        };
        let registration = Registration::register(&config, driver)?;
        let link = Arc::new(NetLink(registration), GFP_KERNEL)?;
        msg.register(KIND_NET, link.clone())?;
        msg.set_peer_listener(Some(link.clone()));
        pr_info!(
            "popnet0: MAC {:02x?}, MTU up to {}, segmented packets up to {} bytes\n",
            mac_of(self_id),
            max_mtu,
            max_tso_frame
        );
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
