//! A ring's shared memory as a hostile peer keeps it.
//!
//! The module reads a ring straight from the shared window: its
//! `RingMemory` (rust-modules/popcorn_msg/msg.rs, `WindowRing`) does an
//! atomic load of `head`/`tail`/`waiting`/`room` and a byte copy of the
//! slots each time popcorn-core asks, so the other kernel can change any
//! of them between two of popcorn-core's reads. [`AdversarialRing`] models
//! that memory for the side under test (`&AdversarialRing`):
//!
//! - after every load it may change the field it just gave out, and after
//!   every slot read the bytes just read, as the fuzzer's input says;
//! - it logs every access of one operation ([`Event`]), so a target can
//!   check that each shared field and each slot byte was read at most once
//!   per operation (a second read would see another value: a double
//!   fetch), that no access left the slot area, and that stores came in
//!   the protocol's order.
//!
//! The other end of the ring is an honest peer working on the same memory
//! through [`PeerView`], which neither logs nor changes anything; the
//! target can also make the peer scribble (`scribble_*`). Whenever the
//! memory changed behind the honest peer's back, [`AdversarialRing::tampered`]
//! says so, and the targets stop expecting frames to arrive intact.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use popcorn_core::ring::{self, Frame, Layout, Receiver, RingMemory};

use crate::Bytes;

/// A frame the honest end sent: kind, payload, `seq`.
pub type SentFrame = (u16, Vec<u8>, u32);

/// The ring a target works on, initialised: 2 to 256 slots as the input's
/// first byte says; the rest of the input drives the memory's changes and
/// the target's operations.
pub fn ring_for(data: &[u8]) -> AdversarialRing<'_> {
    let mut input = Bytes::new(data);
    let layout = Layout::new(1 << (1 + input.u8() % 8)).unwrap();
    let mem = AdversarialRing::new(layout, input);
    ring::init(&mem.peer());
    mem
}

/// Checks that `frame` (its payload in `payload`) is the next of `sent`,
/// intact, and takes it off.
pub fn assert_is_next(sent: &mut VecDeque<SentFrame>, frame: Frame, payload: &[u8]) {
    let (kind, data, seq) = sent.pop_front().expect("a frame nobody sent");
    assert_eq!((frame.kind, frame.seq, payload), (kind, seq, &data[..]), "a frame arrived changed");
}

/// For a ring nobody tampered with: everything in `sent` arrives at `rx`,
/// in order, intact, and nothing after it.
pub fn assert_all_arrive<M: RingMemory>(rx: &mut Receiver<M>, sent: &mut VecDeque<SentFrame>) {
    let mut buf = vec![0u8; 1 << 16];
    while !sent.is_empty() {
        let frame = rx.receive(&mut buf).expect("an untouched ring fails").expect("a sent frame is missing");
        assert_is_next(sent, frame, &buf[..frame.len]);
    }
    assert_eq!(rx.receive(&mut buf), Ok(None), "a frame nobody sent");
}

/// One access by the side under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    LoadHead(u32),
    StoreHead(u32),
    LoadTail(u32),
    StoreTail(u32),
    LoadWaiting(bool),
    StoreWaiting(bool),
    LoadRoom(u32),
    StoreRoom(u32),
    Fence,
    /// Bytes copied out of the slot area, as they were when read.
    Read { offset: usize, data: Vec<u8> },
    /// Bytes copied into the slot area.
    Write { offset: usize, data: Vec<u8> },
}

pub struct AdversarialRing<'a> {
    layout: Layout,
    head: Cell<u32>,
    tail: Cell<u32>,
    waiting: Cell<u32>,
    room: Cell<u32>,
    slots: RefCell<Vec<u8>>,
    input: RefCell<Bytes<'a>>,
    log: RefCell<Vec<Event>>,
    tampered: Cell<bool>,
    out_of_bounds: Cell<bool>,
}

impl<'a> AdversarialRing<'a> {
    /// A fresh ring (all indexes 0, slots 0xee) whose changes come from
    /// `input`, which the target also draws its operations from.
    pub fn new(layout: Layout, input: Bytes<'a>) -> Self {
        AdversarialRing {
            layout,
            head: Cell::new(0),
            tail: Cell::new(0),
            waiting: Cell::new(0),
            room: Cell::new(0),
            slots: RefCell::new(vec![0xee; layout.slot_area()]),
            input: RefCell::new(input),
            log: RefCell::new(Vec::new()),
            tampered: Cell::new(false),
            out_of_bounds: Cell::new(false),
        }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The fuzzer's input (do not hold the borrow across a ring call).
    pub fn input(&self) -> std::cell::RefMut<'_, Bytes<'a>> {
        self.input.borrow_mut()
    }

    /// The honest peer's access to the same memory.
    pub fn peer(&self) -> PeerView<'_, 'a> {
        PeerView(self)
    }

    /// Whether `head`, `tail` or a slot changed other than by the two
    /// ends' own stores: from then on frames may be lost or garbled.
    pub fn tampered(&self) -> bool {
        self.tampered.get()
    }

    /// Starts logging one operation.
    pub fn begin_op(&self) {
        self.log.borrow_mut().clear();
    }

    /// What the side under test did since [`AdversarialRing::begin_op`].
    /// Panics if it touched bytes outside the slot area (the trait says
    /// it never does).
    pub fn take_log(&self) -> Vec<Event> {
        assert!(
            !self.out_of_bounds.get(),
            "ring code accessed bytes outside the slot area"
        );
        std::mem::take(&mut *self.log.borrow_mut())
    }

    /// The peer writes `value` over `head`.
    pub fn scribble_head(&self, value: u32) {
        Self::scribble(&self.head, value, &self.tampered);
    }

    /// The peer writes `value` over `tail`.
    pub fn scribble_tail(&self, value: u32) {
        Self::scribble(&self.tail, value, &self.tampered);
    }

    /// The peer writes `value` over `waiting` (costs wake-ups, never frames).
    pub fn scribble_waiting(&self, value: u32) {
        self.waiting.set(value);
    }

    /// The peer writes `value` over `room` (costs wake-ups, never frames).
    pub fn scribble_room(&self, value: u32) {
        self.room.set(value);
    }

    /// The peer writes `bytes` into the slot area at `offset` (wrapping).
    pub fn scribble_slots(&self, offset: usize, bytes: &[u8]) {
        let mut slots = self.slots.borrow_mut();
        let area = slots.len();
        for (i, &b) in bytes.iter().enumerate() {
            let at = (offset + i) % area;
            if slots[at] != b {
                slots[at] = b;
                self.tampered.set(true);
            }
        }
    }

    /// A byte of the slot area as it is now.
    pub fn slot_byte(&self, at: usize) -> u8 {
        self.slots.borrow()[at]
    }

    fn scribble(cell: &Cell<u32>, value: u32, tampered: &Cell<bool>) {
        if cell.get() != value {
            cell.set(value);
            tampered.set(true);
        }
    }

    fn record(&self, event: Event) {
        self.log.borrow_mut().push(event);
    }

    /// After a load of `cell` by the side under test: maybe change it.
    /// `matters`: whether a change can lose or garble frames (`head`,
    /// `tail`) rather than only cost a wake-up (`waiting`, `room`).
    fn after_load(&self, cell: &Cell<u32>, matters: bool) {
        let mut input = self.input.borrow_mut();
        let old = cell.get();
        let new = match input.u8() {
            0..=0xef => return,
            sel @ 0xf0..=0xf7 => old.wrapping_add(u32::from(sel & 7) + 1),
            sel @ 0xf8..=0xfb => old.wrapping_sub(u32::from(sel & 3) + 1),
            _ => input.u32(),
        };
        if new != old {
            cell.set(new);
            if matters {
                self.tampered.set(true);
            }
        }
    }

    fn load(&self, cell: &Cell<u32>, matters: bool) -> u32 {
        let value = cell.get();
        self.after_load(cell, matters);
        value
    }
}

impl RingMemory for &AdversarialRing<'_> {
    fn load_head(&self) -> u32 {
        let v = self.load(&self.head, true);
        self.record(Event::LoadHead(v));
        v
    }
    fn store_head(&self, head: u32) {
        self.head.set(head);
        self.record(Event::StoreHead(head));
    }
    fn load_tail(&self) -> u32 {
        let v = self.load(&self.tail, true);
        self.record(Event::LoadTail(v));
        v
    }
    fn store_tail(&self, tail: u32) {
        self.tail.set(tail);
        self.record(Event::StoreTail(tail));
    }
    fn load_waiting(&self) -> bool {
        // As the module: any value but 0 means waiting.
        let v = self.load(&self.waiting, false) != 0;
        self.record(Event::LoadWaiting(v));
        v
    }
    fn store_waiting(&self, waiting: bool) {
        self.waiting.set(u32::from(waiting));
        self.record(Event::StoreWaiting(waiting));
    }
    fn load_room(&self) -> u32 {
        let v = self.load(&self.room, false);
        self.record(Event::LoadRoom(v));
        v
    }
    fn store_room(&self, room: u32) {
        self.room.set(room);
        self.record(Event::StoreRoom(room));
    }
    fn full_fence(&self) {
        self.record(Event::Fence);
    }
    fn write_slots(&self, offset: usize, bytes: &[u8]) {
        let mut slots = self.slots.borrow_mut();
        match offset.checked_add(bytes.len()).filter(|&end| end <= slots.len()) {
            Some(end) => slots[offset..end].copy_from_slice(bytes),
            None => self.out_of_bounds.set(true),
        }
        drop(slots);
        self.record(Event::Write {
            offset,
            data: bytes.to_vec(),
        });
    }
    fn read_slots(&self, offset: usize, out: &mut [u8]) {
        let end = offset.checked_add(out.len()).filter(|&end| end <= self.slots.borrow().len());
        match end {
            Some(end) => out.copy_from_slice(&self.slots.borrow()[offset..end]),
            None => {
                self.out_of_bounds.set(true);
                out.fill(0);
            }
        }
        self.record(Event::Read {
            offset,
            data: out.to_vec(),
        });
        // The peer rewrites what was just read: a second read of any of
        // these bytes would see other values.
        let mut input = self.input.borrow_mut();
        if let (Some(end), true) = (end, input.u8() >= 0xf0) {
            let mask = input.u8() | 1;
            for b in &mut self.slots.borrow_mut()[offset..end] {
                *b ^= mask;
            }
            if end > offset {
                self.tampered.set(true);
            }
        }
    }
}

/// The honest peer's view: plain loads and stores, no log, no changes.
#[derive(Clone, Copy)]
pub struct PeerView<'r, 'a>(&'r AdversarialRing<'a>);

impl RingMemory for PeerView<'_, '_> {
    fn load_head(&self) -> u32 {
        self.0.head.get()
    }
    fn store_head(&self, head: u32) {
        self.0.head.set(head)
    }
    fn load_tail(&self) -> u32 {
        self.0.tail.get()
    }
    fn store_tail(&self, tail: u32) {
        self.0.tail.set(tail)
    }
    fn load_waiting(&self) -> bool {
        self.0.waiting.get() != 0
    }
    fn store_waiting(&self, waiting: bool) {
        self.0.waiting.set(u32::from(waiting))
    }
    fn load_room(&self) -> u32 {
        self.0.room.get()
    }
    fn store_room(&self, room: u32) {
        self.0.room.set(room)
    }
    fn full_fence(&self) {}
    fn write_slots(&self, offset: usize, bytes: &[u8]) {
        self.0.slots.borrow_mut()[offset..offset + bytes.len()].copy_from_slice(bytes);
    }
    fn read_slots(&self, offset: usize, out: &mut [u8]) {
        out.copy_from_slice(&self.0.slots.borrow()[offset..offset + out.len()]);
    }
}

/// How often the side under test loaded each index in `log`:
/// `(head, tail, waiting, room)`.
pub fn load_counts(log: &[Event]) -> (usize, usize, usize, usize) {
    let mut counts = (0, 0, 0, 0);
    for e in log {
        match e {
            Event::LoadHead(_) => counts.0 += 1,
            Event::LoadTail(_) => counts.1 += 1,
            Event::LoadWaiting(_) => counts.2 += 1,
            Event::LoadRoom(_) => counts.3 += 1,
            _ => {}
        }
    }
    counts
}

/// The slot-area reads in `log`, in order.
pub fn reads(log: &[Event]) -> Vec<(usize, &[u8])> {
    log.iter()
        .filter_map(|e| match e {
            Event::Read { offset, data } => Some((*offset, data.as_slice())),
            _ => None,
        })
        .collect()
}

/// The slot-area writes in `log`, in order.
pub fn writes(log: &[Event]) -> Vec<(usize, &[u8])> {
    log.iter()
        .filter_map(|e| match e {
            Event::Write { offset, data } => Some((*offset, data.as_slice())),
            _ => None,
        })
        .collect()
}

/// Asserts that no byte of the slot area is in two of `ranges` (each an
/// offset and a length inside the area): nothing read twice in one
/// operation, nothing written twice.
pub fn assert_disjoint(ranges: &[(usize, &[u8])], what: &str) {
    for (i, &(a, da)) in ranges.iter().enumerate() {
        for &(b, db) in &ranges[..i] {
            let overlap = a < b + db.len() && b < a + da.len();
            assert!(
                !overlap,
                "{what} the same slot bytes twice in one operation: {a}+{} and {b}+{}",
                da.len(),
                db.len()
            );
        }
    }
}

/// Asserts that `ranges` are, in order, one contiguous run of `len` bytes
/// starting at `start` in an area of `area` bytes, wrapping at its end
/// (what a frame's bytes are), and returns their bytes joined.
pub fn contiguous(ranges: &[(usize, &[u8])], start: usize, len: usize, area: usize) -> Vec<u8> {
    let mut at = start % area;
    let mut joined = Vec::with_capacity(len);
    for &(offset, data) in ranges {
        assert_eq!(offset, at, "slot access out of place");
        assert!(!data.is_empty(), "empty slot access");
        joined.extend_from_slice(data);
        at = (at + data.len()) % area;
    }
    assert_eq!(joined.len(), len, "slot accesses cover the wrong length");
    joined
}
