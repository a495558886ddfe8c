//! A `loom` model of the ring protocol (`src/ring.rs`): one sender thread
//! and one receiver thread on a shared ring, explored over every
//! interleaving and memory-order outcome loom can produce.
//!
//! It checks that
//! - no slot is read while it is being written (loom's `UnsafeCell` access
//!   tracking reports such a race);
//! - every frame arrives once, in order and intact, including frames that
//!   wrap around the ring's end and sends refused while it is full;
//! - no wake-up is lost: the receiver sleeps on a `Notify` whenever
//!   `prepare_to_sleep` allows it, and is woken only when `send` says to
//!   notify. A lost wake-up leaves it asleep forever, which loom reports as
//!   a deadlock.
//! - likewise no request for room is lost: a sender facing a full ring
//!   asks with `want_room` and sleeps until the receiver, which checks
//!   `room_wanted` after each frame it consumes, answers.

use loom::cell::UnsafeCell;
use loom::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering};
use loom::sync::{Arc, Notify};
use loom::thread;

use popcorn_core::ring::{self, Layout, Receiver, RingError, RingMemory, Sender, SLOT_SIZE};

struct Shared {
    head: AtomicU32,
    tail: AtomicU32,
    waiting: AtomicBool,
    room: AtomicU32,
    slots: Vec<UnsafeCell<[u8; SLOT_SIZE]>>,
    wake: Notify,
    room_wake: Notify,
}

#[derive(Clone)]
struct LoomRing(Arc<Shared>);

impl LoomRing {
    fn new(layout: Layout) -> Self {
        LoomRing(Arc::new(Shared {
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            waiting: AtomicBool::new(false),
            room: AtomicU32::new(0),
            slots: (0..layout.nr_slots())
                .map(|_| UnsafeCell::new([0; SLOT_SIZE]))
                .collect(),
            wake: Notify::new(),
            room_wake: Notify::new(),
        }))
    }
}

impl RingMemory for LoomRing {
    fn load_head(&self) -> u32 {
        self.0.head.load(Ordering::Acquire)
    }
    fn store_head(&self, head: u32) {
        self.0.head.store(head, Ordering::Release)
    }
    fn load_tail(&self) -> u32 {
        self.0.tail.load(Ordering::Acquire)
    }
    fn store_tail(&self, tail: u32) {
        self.0.tail.store(tail, Ordering::Release)
    }
    fn load_waiting(&self) -> bool {
        self.0.waiting.load(Ordering::Relaxed)
    }
    fn store_waiting(&self, waiting: bool) {
        self.0.waiting.store(waiting, Ordering::Relaxed)
    }
    fn load_room(&self) -> u32 {
        self.0.room.load(Ordering::Relaxed)
    }
    fn store_room(&self, room: u32) {
        self.0.room.store(room, Ordering::Relaxed)
    }
    fn full_fence(&self) {
        fence(Ordering::SeqCst)
    }
    fn write_slots(&self, offset: usize, bytes: &[u8]) {
        for (i, byte) in bytes.iter().enumerate() {
            let at = offset + i;
            self.0.slots[at / SLOT_SIZE]
                .with_mut(|slot| unsafe { (*slot)[at % SLOT_SIZE] = *byte });
        }
    }
    fn read_slots(&self, offset: usize, out: &mut [u8]) {
        for (i, byte) in out.iter_mut().enumerate() {
            let at = offset + i;
            *byte = self.0.slots[at / SLOT_SIZE].with(|slot| unsafe { (*slot)[at % SLOT_SIZE] });
        }
    }
}

fn message(i: usize) -> Vec<u8> {
    // Sizes 1, 2 and 1 slots: the third frame wraps in a 2-slot ring...
    let len = [20, 100, 50][i];
    (0..len).map(|b| (b as u8) ^ (i as u8 * 0x55)).collect()
}

fn model(nr_slots: u32, frames: usize) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let layout = Layout::new(nr_slots).unwrap();
        let mem = LoomRing::new(layout);
        ring::init(&mem);
        let mut tx = Sender::new(mem.clone(), layout);
        let mut rx = Receiver::new(mem.clone(), layout);

        let sender = thread::spawn(move || {
            for i in 0..frames {
                let data = message(i);
                loop {
                    match tx.send(i as u16, &data) {
                        Ok(sent) => {
                            if sent.notify {
                                tx.memory().0.wake.notify();
                            }
                            break;
                        }
                        // Back-pressure: ask for room and sleep until the
                        // receiver answers (a lost answer is a deadlock).
                        Err(RingError::Full { .. }) => {
                            if !tx.want_room(data.len()) {
                                tx.memory().0.room_wake.wait();
                            }
                        }
                        Err(e) => panic!("send: {e}"),
                    }
                }
            }
        });

        let mut buf = [0u8; 128];
        let mut got = 0;
        let mut position = 0u32;
        while got < frames {
            match rx.receive(&mut buf).expect("receive") {
                Some(frame) => {
                    assert_eq!(frame.seq, position);
                    position += layout.slots_for(frame.len);
                    assert_eq!(frame.kind as usize, got);
                    assert_eq!(&buf[..frame.len], &message(got)[..]);
                    got += 1;
                    if rx.room_wanted() {
                        rx.memory().0.room_wake.notify();
                    }
                }
                None => {
                    if rx.prepare_to_sleep() {
                        rx.memory().0.wake.wait();
                        rx.woken();
                    }
                }
            }
        }
        sender.join().unwrap();
    });
}

/// Three frames through a 4-slot ring: the notification protocol.
#[test]
fn ring_loom_no_lost_wakeup() {
    model(4, 3);
}

/// Three frames through a 2-slot ring: back-pressure and a frame that
/// wraps around the ring's end.
#[test]
fn ring_loom_full_and_wrapping() {
    model(2, 3);
}
