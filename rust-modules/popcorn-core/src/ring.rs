//! One single-producer/single-consumer message ring between two kernels.
//!
//! Every ordered pair of kernels (sender, receiver) has one ring in the
//! shared window. The sender is the only writer of `head` and of the slots;
//! the receiver is the only writer of `tail` and `waiting`. Each side keeps
//! its own copy of the index it owns and never reads it back from shared
//! memory, so a misbehaving peer can corrupt only what the peer owns, and
//! everything read from the peer is checked before use.
//!
//! Layout of a ring with `nr_slots` slots (a power of two, 2 to 65536),
//! offsets from the ring's start, all fields little-endian:
//!
//! | Offset  | Size            | Field     | Written by | Meaning                                            |
//! |---------|-----------------|-----------|------------|----------------------------------------------------|
//! | `0x00`  | 4               | `head`    | sender     | slots ever published (wraps at 2^32)               |
//! | `0x04`  | 4               | `room`    | sender     | bumped when the sender waits for room              |
//! | `0x08`  | 56              | reserved  |            | the sender's cache line                            |
//! | `0x40`  | 4               | `tail`    | receiver   | slots ever consumed (wraps at 2^32)                |
//! | `0x44`  | 4               | `waiting` | receiver   | 1: about to sleep, send a notification             |
//! | `0x48`  | 56              | reserved  |            | the receiver's cache line                          |
//! | `0x80`  | 64 × `nr_slots` | slots     | sender     | frames, slot `i` at `0x80 + 64 * (i % nr_slots)`   |
//!
//! A message is a *frame* of whole slots: an 8-byte header, then the
//! payload, padded to the next slot. A frame may wrap from the last slot to
//! the first.
//!
//! | Offset | Size | Field  | Meaning                                               |
//! |--------|------|--------|-------------------------------------------------------|
//! | 0      | 2    | `len`  | payload bytes, at most [`Layout::max_payload`]         |
//! | 2      | 2    | `kind` | message type, for the receiver's dispatch             |
//! | 4      | 4    | `seq`  | the slot counter (`head`) where the frame starts      |
//!
//! The protocol, with the memory orders the [`RingMemory`] implementation
//! must give:
//!
//! - **Send:** read `tail` (acquire); if the frame's slots are free, write
//!   them, then publish `head += slots` (release). Then a full fence, then
//!   read `waiting`: if it is set, the receiver may be asleep and the caller
//!   must notify it (an IPI).
//! - **Receive:** read `head` (acquire); check the frame header and copy the
//!   payload out; then `tail += slots` (release), which hands the slots back.
//! - **Sleep:** set `waiting`, full fence, read `head` again; sleep only if
//!   it still equals `tail`. With the sender's fence this is Dekker's
//!   pattern: either the receiver sees the new frame or the sender sees
//!   `waiting`, so no wake-up is lost. (A `loom` model in the tests checks
//!   exactly this, and that no slot is read while it is written.)
//! - **Waiting for room** is the same pattern the other way round: a
//!   sender that cannot wait in place (a network transmit) bumps `room`,
//!   full fence, reads `tail` again ([`Sender::want_room`]); the receiver,
//!   after handing slots back, full fence, reads `room` and notifies the
//!   sender if it changed since it last looked ([`Receiver::room_wanted`]).
//!   Either the sender sees the room or the receiver sees the request. A
//!   counter rather than a flag keeps each field with one writer: the
//!   receiver remembers the last value it answered.
//!
//! What the receiver checks, each time, and reports as [`RingError`]
//! instead of acting on it: `head - tail` at most `nr_slots`; `len` at most
//! the maximum; the frame's slots all published; `seq` equal to its own
//! `tail` (a frame lost, repeated or out of place does not start there).
//! What the sender checks: `head - tail` at most `nr_slots` (a corrupt
//! `tail` would otherwise let it overwrite unread frames). After an error
//! the receiver can [`Receiver::resync`]: drop whatever is in the ring and
//! continue from the sender's `head`. Because `seq` is a position, not a
//! count of its own, either side can also resume from the indexes in shared
//! memory after its module reloads ([`Sender::resume`],
//! [`Receiver::resume`]) and the two still agree.
//!
//! Requires: `crate::le`.

use core::fmt;

use crate::le::{put, read_u32};

/// Bytes in a slot (one cache line).
pub const SLOT_SIZE: usize = 64;
/// Bytes of the ring's header before the slots.
pub const RING_HEADER_SIZE: usize = 0x80;
/// Bytes of a frame header.
pub const FRAME_HEADER_SIZE: usize = 8;
/// Fewest and most slots a ring may have.
pub const MIN_SLOTS: u32 = 2;
pub const MAX_SLOTS: u32 = 1 << 16;

/// Offset of `head` from the ring's start.
pub const HEAD_OFFSET: usize = 0x00;
/// Offset of `tail`.
pub const TAIL_OFFSET: usize = 0x40;
/// Offset of `waiting`.
pub const WAITING_OFFSET: usize = 0x44;
/// Offset of `room`.
pub const ROOM_OFFSET: usize = 0x04;

/// A ring's geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    nr_slots: u32,
}

impl Layout {
    /// A ring of `nr_slots` slots: a power of two from [`MIN_SLOTS`] to
    /// [`MAX_SLOTS`].
    pub fn new(nr_slots: u32) -> Option<Self> {
        (nr_slots.is_power_of_two() && (MIN_SLOTS..=MAX_SLOTS).contains(&nr_slots))
            .then_some(Layout { nr_slots })
    }

    /// Number of slots.
    pub fn nr_slots(&self) -> u32 {
        self.nr_slots
    }

    /// Bytes the ring takes in the shared window, header included.
    pub fn size(&self) -> usize {
        RING_HEADER_SIZE.saturating_add(self.slot_area())
    }

    /// Bytes of the slot area.
    pub fn slot_area(&self) -> usize {
        // nr_slots <= 2^16, so this is at most 4 MiB (and a power of two).
        (self.nr_slots as usize).saturating_mul(SLOT_SIZE)
    }

    /// Largest payload one frame can carry: the whole ring less the frame
    /// header, and what `len` can say.
    pub fn max_payload(&self) -> usize {
        self.slot_area().saturating_sub(FRAME_HEADER_SIZE).min(u16::MAX as usize)
    }

    /// Slots a frame with `len` payload bytes takes (`u32::MAX`, more
    /// than any ring has, for a `len` no frame can carry).
    pub fn slots_for(&self, len: usize) -> u32 {
        let bytes = FRAME_HEADER_SIZE.saturating_add(len);
        u32::try_from(bytes.div_ceil(SLOT_SIZE)).unwrap_or(u32::MAX)
    }

    /// Byte offset in the slot area of the slot counter `index`.
    fn slot_offset(&self, index: u32) -> usize {
        // Slot counters run modulo 2^32 and the ring has a power of two
        // slots (at least 2), so the slot is the counter's low bits.
        ((index & self.nr_slots.wrapping_sub(1)) as usize).saturating_mul(SLOT_SIZE)
    }

    /// The position `by` bytes after `offset` in the slot area, wrapping
    /// at its end. The area's size is a power of two dividing 2^64, so
    /// wrapping addition then masking is exact modular arithmetic, and the
    /// result is inside the area whatever the inputs.
    fn advance(&self, offset: usize, by: usize) -> usize {
        offset.wrapping_add(by) & self.slot_area().wrapping_sub(1)
    }
}

/// Access to one ring's shared memory, as the protocol needs it. The
/// kernel implements it over the shared window, the tests over plain or
/// `loom` memory. Offsets for `write_slots`/`read_slots` are into the slot
/// area and never cross its end (the ring code splits wrapping copies).
pub trait RingMemory {
    /// `head`, with acquire order.
    fn load_head(&self) -> u32;
    /// Publishes `head`, with release order.
    fn store_head(&self, head: u32);
    /// `tail`, with acquire order.
    fn load_tail(&self) -> u32;
    /// Hands slots back: `tail`, with release order.
    fn store_tail(&self, tail: u32);
    /// `waiting`, after the sender's fence.
    fn load_waiting(&self) -> bool;
    /// Sets or clears `waiting`.
    fn store_waiting(&self, waiting: bool);
    /// `room`, after the receiver's fence.
    fn load_room(&self) -> u32;
    /// Writes `room`.
    fn store_room(&self, room: u32);
    /// A full (sequentially consistent) fence.
    fn full_fence(&self);
    /// Copies `bytes` into the slot area at `offset`.
    fn write_slots(&self, offset: usize, bytes: &[u8]);
    /// Copies from the slot area at `offset` into `out`.
    fn read_slots(&self, offset: usize, out: &mut [u8]);
}

/// Why a ring operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// Not enough free slots: the receiver is behind (back-pressure).
    Full { needed: u32, free: u32 },
    /// The payload is longer than a frame can carry.
    TooLarge { len: usize, max: usize },
    /// The receive buffer is shorter than the frame's payload.
    BufferTooSmall { len: usize, needed: usize },
    /// `head - tail` is more than the ring holds: the peer wrote nonsense.
    BadIndexes { head: u32, tail: u32 },
    /// A frame header says `len` bytes, more than the maximum.
    BadLength { len: usize },
    /// A frame header claims slots that are not published.
    Truncated { needed: u32, available: u32 },
    /// A frame out of order: lost, repeated or reordered.
    BadSequence { expected: u32, found: u32 },
}

impl RingError {
    /// Whether the error means the peer broke the protocol (as opposed to
    /// a full ring or a caller's mistake).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            RingError::BadIndexes { .. }
                | RingError::BadLength { .. }
                | RingError::Truncated { .. }
                | RingError::BadSequence { .. }
        )
    }
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::Full { needed, free } => {
                write!(f, "ring full: {needed} slots needed, {free} free")
            }
            RingError::TooLarge { len, max } => {
                write!(f, "message of {len} bytes, at most {max} fit a frame")
            }
            RingError::BufferTooSmall { len, needed } => {
                write!(f, "receive buffer of {len} bytes, frame needs {needed}")
            }
            RingError::BadIndexes { head, tail } => {
                write!(f, "corrupt ring indexes: head {head}, tail {tail}")
            }
            RingError::BadLength { len } => write!(f, "corrupt frame: length {len}"),
            RingError::Truncated { needed, available } => write!(
                f,
                "corrupt frame: {needed} slots claimed, {available} published"
            ),
            RingError::BadSequence { expected, found } => {
                write!(f, "frame {found} where {expected} was expected")
            }
        }
    }
}

/// What a successful send tells the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The frame's `seq`.
    pub seq: u32,
    /// The receiver said it may sleep: notify it.
    pub notify: bool,
}

/// A received frame; its payload is the first `len` bytes of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub kind: u16,
    pub len: usize,
    pub seq: u32,
}

/// Writes the shared header of a fresh ring: `head`, `tail`, `waiting`,
/// `room` 0.
pub fn init<M: RingMemory>(mem: &M) {
    mem.store_room(0);
    mem.store_head(0);
    mem.store_tail(0);
    mem.store_waiting(false);
}

/// The sending side of a ring.
#[derive(Debug)]
pub struct Sender<M: RingMemory> {
    mem: M,
    layout: Layout,
    /// Our `head`: the shared one is only ever written from this.
    head: u32,
    /// Our `room` counter, likewise.
    room: u32,
}

impl<M: RingMemory> Sender<M> {
    /// The sender of a ring that [`init`] set up (or that this side owned
    /// before: a sender resumes from `head` 0 only on a fresh ring).
    pub fn new(mem: M, layout: Layout) -> Self {
        Sender {
            mem,
            layout,
            head: 0,
            room: 0,
        }
    }

    /// The sender of a ring this side wrote before (a module reloaded in a
    /// kernel that kept running): it continues from the `head` in shared
    /// memory, which only this side writes. If a peer scribbled over it,
    /// the next send reports [`RingError::BadIndexes`] and
    /// [`Sender::restart_at_tail`] recovers.
    pub fn resume(mem: M, layout: Layout) -> Self {
        let head = mem.load_head();
        let room = mem.load_room();
        Sender {
            mem,
            layout,
            head,
            room,
        }
    }

    /// After [`RingError::BadIndexes`]: takes the receiver's `tail` as the
    /// new `head`, giving up whatever it has not consumed. The receiver
    /// gets there by [`Receiver::resync`] after a corruption it detected
    /// (it jumps to a `head` it cannot trust), so both sides meet at one
    /// index again. Returns how many slots were abandoned, as far as can be
    /// told (0 when `tail` is ahead of `head`).
    pub fn restart_at_tail(&mut self) -> u32 {
        let tail = self.mem.load_tail();
        let abandoned = self.head.wrapping_sub(tail);
        self.head = tail;
        self.mem.store_head(self.head);
        if abandoned <= self.layout.nr_slots {
            abandoned
        } else {
            0
        }
    }

    /// Whether `needed` slots are free now (a sender waiting for room polls
    /// this; a corrupt `tail` counts as room so that the next send reports
    /// it).
    pub fn has_room_for(&self, len: usize) -> bool {
        match self.free_slots() {
            Ok(free) => free >= self.layout.slots_for(len),
            Err(_) => true,
        }
    }

    /// For a sender that cannot wait in place: asks the receiver to notify
    /// it once it has handed slots back, then looks again. `true`: there is
    /// room for `len` bytes now (no notification will necessarily come);
    /// `false`: the receiver will notify (it sees the request after it
    /// next consumes, see the protocol above).
    pub fn want_room(&mut self, len: usize) -> bool {
        self.room = self.room.wrapping_add(1);
        self.mem.store_room(self.room);
        self.mem.full_fence();
        self.has_room_for(len)
    }

    /// Free slots, as far as the receiver's `tail` says.
    fn free_slots(&self) -> Result<u32, RingError> {
        let tail = self.mem.load_tail();
        let used = self.head.wrapping_sub(tail);
        self.layout.nr_slots.checked_sub(used).ok_or(RingError::BadIndexes {
            head: self.head,
            tail,
        })
    }

    /// Sends one frame, or fails without writing anything: [`RingError::Full`]
    /// when the receiver has not made room (try again later),
    /// [`RingError::TooLarge`], or [`RingError::BadIndexes`] when the
    /// receiver's `tail` is nonsense.
    pub fn send(&mut self, kind: u16, payload: &[u8]) -> Result<Sent, RingError> {
        self.send_parts(kind, &[payload])
    }

    /// Sends one frame whose payload is `parts` one after the other (a
    /// header and a body, say), without gathering them first. Errors as
    /// [`Sender::send`].
    pub fn send_parts(&mut self, kind: u16, parts: &[&[u8]]) -> Result<Sent, RingError> {
        let max = self.layout.max_payload();
        let len = parts
            .iter()
            .try_fold(0usize, |sum, part| sum.checked_add(part.len()))
            .unwrap_or(usize::MAX);
        if len > max {
            return Err(RingError::TooLarge { len, max });
        }
        let needed = self.layout.slots_for(len);
        let free = self.free_slots()?;
        if free < needed {
            return Err(RingError::Full { needed, free });
        }
        let mut header = [0u8; FRAME_HEADER_SIZE];
        // len <= max_payload <= u16::MAX.
        put(&mut header, 0, &(len as u16).to_le_bytes());
        put(&mut header, 2, &kind.to_le_bytes());
        put(&mut header, 4, &self.head.to_le_bytes());
        let seq = self.head;
        let start = self.layout.slot_offset(self.head);
        self.write_wrapping(start, &header);
        let mut offset = self.layout.advance(start, FRAME_HEADER_SIZE);
        for part in parts {
            self.write_wrapping(offset, part);
            offset = self.layout.advance(offset, part.len());
        }
        self.head = self.head.wrapping_add(needed);
        self.mem.store_head(self.head);
        self.mem.full_fence();
        Ok(Sent {
            seq,
            notify: self.mem.load_waiting(),
        })
    }

    fn write_wrapping(&self, offset: usize, bytes: &[u8]) {
        let area = self.layout.slot_area();
        let first = bytes.len().min(area.saturating_sub(offset));
        let (a, b) = bytes.split_at(first);
        if !a.is_empty() {
            self.mem.write_slots(offset, a);
        }
        if !b.is_empty() {
            self.mem.write_slots(0, b);
        }
    }

    /// The shared memory this sender writes.
    pub fn memory(&self) -> &M {
        &self.mem
    }
}

/// The receiving side of a ring.
#[derive(Debug)]
pub struct Receiver<M: RingMemory> {
    mem: M,
    layout: Layout,
    /// Our `tail`: the shared one is only ever written from this.
    tail: u32,
    /// The sender's `room` request we last answered.
    room_answered: u32,
}

impl<M: RingMemory> Receiver<M> {
    /// The receiver of a ring that [`init`] set up.
    pub fn new(mem: M, layout: Layout) -> Self {
        Receiver {
            mem,
            layout,
            tail: 0,
            room_answered: 0,
        }
    }

    /// The receiver of a ring this side consumed from before: it continues
    /// from the `tail` in shared memory (only this side writes it) and
    /// expects the next frame to start there.
    pub fn resume(mem: M, layout: Layout) -> Self {
        let tail = mem.load_tail();
        let room_answered = mem.load_room();
        Receiver {
            mem,
            layout,
            tail,
            room_answered,
        }
    }

    /// Published slots not consumed yet, checked.
    fn available(&self) -> Result<u32, RingError> {
        let head = self.mem.load_head();
        let available = head.wrapping_sub(self.tail);
        if available > self.layout.nr_slots {
            return Err(RingError::BadIndexes {
                head,
                tail: self.tail,
            });
        }
        Ok(available)
    }

    /// Takes the next frame, copying its payload into `buf`: `Ok(None)` if
    /// there is none. On an error nothing is consumed; a corruption error
    /// stays until [`Receiver::resync`].
    pub fn receive(&mut self, buf: &mut [u8]) -> Result<Option<Frame>, RingError> {
        let available = self.available()?;
        if available == 0 {
            return Ok(None);
        }
        let start = self.layout.slot_offset(self.tail);
        let mut header = [0u8; FRAME_HEADER_SIZE];
        // A frame header never wraps: it is at the start of a slot.
        self.mem.read_slots(start, &mut header);
        let word = read_u32(&header, 0).unwrap_or(0);
        let len = (word & 0xffff) as usize;
        let kind = (word >> 16) as u16;
        let seq = read_u32(&header, 4).unwrap_or(0);
        if len > self.layout.max_payload() {
            return Err(RingError::BadLength { len });
        }
        let needed = self.layout.slots_for(len);
        if needed > available {
            return Err(RingError::Truncated { needed, available });
        }
        if seq != self.tail {
            return Err(RingError::BadSequence {
                expected: self.tail,
                found: seq,
            });
        }
        let buf_len = buf.len();
        let out = buf.get_mut(..len).ok_or(RingError::BufferTooSmall {
            len: buf_len,
            needed: len,
        })?;
        self.read_wrapping(self.layout.advance(start, FRAME_HEADER_SIZE), out);
        self.tail = self.tail.wrapping_add(needed);
        self.mem.store_tail(self.tail);
        Ok(Some(Frame { kind, len, seq }))
    }

    fn read_wrapping(&self, offset: usize, out: &mut [u8]) {
        let area = self.layout.slot_area();
        let first = out.len().min(area.saturating_sub(offset));
        let (a, b) = out.split_at_mut(first);
        if !a.is_empty() {
            self.mem.read_slots(offset, a);
        }
        if !b.is_empty() {
            self.mem.read_slots(0, b);
        }
    }

    /// Whether a frame is waiting (or the indexes are corrupt, which the
    /// next [`Receiver::receive`] reports).
    pub fn has_pending(&self) -> bool {
        self.mem.load_head() != self.tail
    }

    /// Announces that the receiver is about to sleep. Returns `true` if it
    /// may (the ring is still empty: the sender will notify it), `false` if
    /// a frame arrived meanwhile (`waiting` is cleared again).
    pub fn prepare_to_sleep(&self) -> bool {
        self.mem.store_waiting(true);
        self.mem.full_fence();
        if self.has_pending() {
            self.mem.store_waiting(false);
            return false;
        }
        true
    }

    /// After consuming: whether the sender asked for room since the last
    /// time this returned `true` (then the caller notifies it). Any value
    /// the sender wrote counts, so garbage costs at most a notification.
    pub fn room_wanted(&mut self) -> bool {
        self.mem.full_fence();
        let room = self.mem.load_room();
        if room == self.room_answered {
            return false;
        }
        self.room_answered = room;
        true
    }

    /// Woken up: the sender need not notify until the next sleep.
    pub fn woken(&self) {
        self.mem.store_waiting(false);
    }

    /// After a corruption error: drops everything published so far, and
    /// continues from the sender's `head`. Returns how many
    /// slots were dropped (at most the ring's size).
    pub fn resync(&mut self) -> u32 {
        let head = self.mem.load_head();
        let dropped = head.wrapping_sub(self.tail).min(self.layout.nr_slots);
        self.tail = head;
        self.mem.store_tail(self.tail);
        dropped
    }

    /// The shared memory this receiver reads.
    pub fn memory(&self) -> &M {
        &self.mem
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::string::ToString;
    use std::vec;
    use std::vec::Vec;

    /// A ring in plain memory, shared by a sender and a receiver in one
    /// thread.
    #[derive(Debug)]
    struct Plain {
        head: Cell<u32>,
        tail: Cell<u32>,
        waiting: Cell<bool>,
        room: Cell<u32>,
        slots: RefCell<Vec<u8>>,
    }

    impl Plain {
        fn new(layout: Layout) -> Rc<Self> {
            Rc::new(Plain {
                head: Cell::new(0),
                tail: Cell::new(0),
                waiting: Cell::new(false),
                room: Cell::new(0),
                slots: RefCell::new(vec![0xee; layout.slot_area()]),
            })
        }
    }

    impl RingMemory for Rc<Plain> {
        fn load_head(&self) -> u32 {
            self.head.get()
        }
        fn store_head(&self, head: u32) {
            self.head.set(head)
        }
        fn load_tail(&self) -> u32 {
            self.tail.get()
        }
        fn store_tail(&self, tail: u32) {
            self.tail.set(tail)
        }
        fn load_waiting(&self) -> bool {
            self.waiting.get()
        }
        fn store_waiting(&self, waiting: bool) {
            self.waiting.set(waiting)
        }
        fn load_room(&self) -> u32 {
            self.room.get()
        }
        fn store_room(&self, room: u32) {
            self.room.set(room)
        }
        fn full_fence(&self) {}
        fn write_slots(&self, offset: usize, bytes: &[u8]) {
            self.slots.borrow_mut()[offset..offset + bytes.len()].copy_from_slice(bytes);
        }
        fn read_slots(&self, offset: usize, out: &mut [u8]) {
            out.copy_from_slice(&self.slots.borrow()[offset..offset + out.len()]);
        }
    }

    fn pair(nr_slots: u32) -> (Sender<Rc<Plain>>, Receiver<Rc<Plain>>, Rc<Plain>) {
        let layout = Layout::new(nr_slots).unwrap();
        let mem = Plain::new(layout);
        init(&mem);
        (
            Sender::new(mem.clone(), layout),
            Receiver::new(mem.clone(), layout),
            mem,
        )
    }

    fn payload(n: usize, salt: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
            .collect()
    }

    #[test]
    fn layouts() {
        assert_eq!(Layout::new(0), None);
        assert_eq!(Layout::new(1), None);
        assert_eq!(Layout::new(3), None);
        assert_eq!(Layout::new(1 << 17), None);
        let l = Layout::new(4).unwrap();
        assert_eq!(l.size(), 0x80 + 256);
        assert_eq!(l.max_payload(), 248);
        assert_eq!(l.slots_for(0), 1);
        assert_eq!(l.slots_for(56), 1);
        assert_eq!(l.slots_for(57), 2);
        assert_eq!(Layout::new(MAX_SLOTS).unwrap().max_payload(), 65535);
        assert_eq!(Layout::new(1024).unwrap().slots_for(4096), 65);
    }

    #[test]
    fn frames_round_trip_and_wrap() {
        let (mut tx, mut rx, mem) = pair(8);
        let mut buf = vec![0u8; 1024];
        assert_eq!(rx.receive(&mut buf), Ok(None));
        let mut position = 0u32;
        for round in 0..50u32 {
            let len = (round as usize * 37) % 300;
            let data = payload(len, round as u8);
            let sent = tx.send(round as u16, &data).unwrap();
            // A frame's seq is the slot counter where it starts.
            assert_eq!(
                sent,
                Sent {
                    seq: position,
                    notify: false
                }
            );
            let frame = rx.receive(&mut buf).unwrap().unwrap();
            assert_eq!(
                frame,
                Frame {
                    kind: round as u16,
                    len,
                    seq: position
                }
            );
            assert_eq!(&buf[..len], &data[..]);
            position += tx.layout.slots_for(len);
        }
        assert_eq!(mem.head.get(), mem.tail.get());
        assert_eq!(rx.receive(&mut buf), Ok(None));
    }

    #[test]
    fn back_pressure_loses_nothing() {
        let (mut tx, mut rx, _) = pair(4);
        let a = payload(100, 1); // 2 slots
        let b = payload(60, 2); // 2 slots
        tx.send(1, &a).unwrap();
        tx.send(2, &b).unwrap();
        assert_eq!(tx.send(3, &[]), Err(RingError::Full { needed: 1, free: 0 }));
        let mut buf = [0u8; 256];
        assert_eq!(rx.receive(&mut buf).unwrap().unwrap().len, 100);
        assert_eq!(&buf[..100], &a[..]);
        let c = payload(130, 3); // 3 slots: still full
        assert_eq!(tx.send(3, &c), Err(RingError::Full { needed: 3, free: 2 }));
        assert_eq!(rx.receive(&mut buf).unwrap().unwrap().seq, 2);
        let sent = tx.send(3, &c).unwrap();
        assert_eq!(sent.seq, 4);
        let frame = rx.receive(&mut buf).unwrap().unwrap();
        assert_eq!((frame.kind, frame.seq), (3, 4));
        assert_eq!(&buf[..130], &c[..]);
    }

    #[test]
    fn too_large_and_small_buffers() {
        let (mut tx, mut rx, _) = pair(4);
        assert_eq!(
            tx.send(0, &[0; 249]),
            Err(RingError::TooLarge { len: 249, max: 248 })
        );
        tx.send(0, &[7; 248]).unwrap();
        let mut small = [0u8; 100];
        assert_eq!(
            rx.receive(&mut small),
            Err(RingError::BufferTooSmall {
                len: 100,
                needed: 248
            })
        );
        let mut buf = [0u8; 248];
        assert_eq!(rx.receive(&mut buf).unwrap().unwrap().len, 248);
    }

    #[test]
    fn notification_only_when_waiting() {
        let (mut tx, mut rx, mem) = pair(4);
        assert!(rx.prepare_to_sleep());
        assert!(mem.waiting.get());
        assert!(tx.send(0, b"wake").unwrap().notify);
        rx.woken();
        assert!(!tx.send(0, b"busy").unwrap().notify);
        // A frame already there: no sleep, and waiting is cleared again.
        assert!(!rx.prepare_to_sleep());
        assert!(!mem.waiting.get());
        let mut buf = [0u8; 64];
        assert!(rx.receive(&mut buf).unwrap().is_some());
    }

    #[test]
    fn room_is_notified_once_per_request() {
        let (mut tx, mut rx, mem) = pair(4);
        let mut buf = [0u8; 256];
        // Nothing asked: consuming notifies nobody.
        tx.send(0, &[1; 100]).unwrap();
        rx.receive(&mut buf).unwrap();
        assert!(!rx.room_wanted());
        // Full: the sender asks, there is no room, the receiver answers once.
        tx.send(0, &[2; 200]).unwrap();
        assert!(!tx.want_room(100));
        rx.receive(&mut buf).unwrap();
        assert!(rx.room_wanted());
        assert!(!rx.room_wanted(), "one notification per request");
        assert!(tx.has_room_for(200));
        // A request that finds room at once is still answered, harmlessly.
        assert!(tx.want_room(100));
        assert!(rx.room_wanted());
        assert!(!rx.room_wanted());
        // Garbage in `room` costs one notification, no more.
        mem.room.set(0xdead_beef);
        assert!(rx.room_wanted());
        assert!(!rx.room_wanted());
    }

    #[test]
    fn room_counters_resume() {
        let layout = Layout::new(4).unwrap();
        let (mut tx, _rx, mem) = pair(4);
        tx.send(0, &[1; 200]).unwrap();
        assert!(!tx.want_room(100));
        // A receiver that reloads takes the request as answered; one that
        // did not sees it.
        let mut resumed = Receiver::resume(mem.clone(), layout);
        assert!(!resumed.room_wanted());
        let mut tx2 = Sender::resume(mem.clone(), layout);
        assert!(!tx2.want_room(100));
        assert!(resumed.room_wanted());
        assert_eq!(mem.room.get(), 2);
    }

    #[test]
    fn corrupt_indexes_are_caught_on_both_sides() {
        let (mut tx, mut rx, mem) = pair(4);
        let mut buf = [0u8; 256];
        mem.head.set(1000);
        assert_eq!(
            rx.receive(&mut buf),
            Err(RingError::BadIndexes {
                head: 1000,
                tail: 0
            })
        );
        assert!(rx.receive(&mut buf).unwrap_err().is_corruption());
        assert_eq!(rx.resync(), 4);
        mem.head.set(1000);
        assert_eq!(rx.receive(&mut buf), Ok(None));
        // The sender keeps its own head; a bad tail stops it.
        mem.tail.set(77);
        assert_eq!(
            tx.send(0, b"x"),
            Err(RingError::BadIndexes { head: 0, tail: 77 })
        );
    }

    #[test]
    fn parts_arrive_as_one_payload() {
        let (mut tx, mut rx, _) = pair(8);
        let mut buf = [0u8; 512];
        // Wrap the ring first so the parts straddle its end.
        for _ in 0..3 {
            tx.send(0, &payload(100, 0)).unwrap();
            rx.receive(&mut buf).unwrap().unwrap();
        }
        let (a, b, c) = (payload(5, 1), payload(0, 2), payload(250, 3));
        tx.send_parts(4, &[&a, &b, &c]).unwrap();
        let frame = rx.receive(&mut buf).unwrap().unwrap();
        assert_eq!(frame.len, 255);
        assert_eq!(&buf[..5], &a[..]);
        assert_eq!(&buf[5..255], &c[..]);
        let too_big = payload(300, 0);
        assert!(matches!(
            tx.send_parts(1, &[&too_big, &too_big]),
            Err(RingError::TooLarge { len: 600, .. })
        ));
    }

    #[test]
    fn a_scribbled_head_heals_after_one_error_on_each_side() {
        // Someone writes garbage into the sender's head: the receiver
        // refuses it and resyncs to it, the sender's next send sees a tail
        // it cannot have, restarts there, and frames flow again.
        let (mut tx, mut rx, mem) = pair(8);
        let mut buf = [0u8; 256];
        tx.send(1, b"before").unwrap();
        mem.head.set(0xdead_beef);
        assert!(rx.receive(&mut buf).unwrap_err().is_corruption());
        assert_eq!(rx.resync(), 8);
        assert!(matches!(
            tx.send(1, b"lost"),
            Err(RingError::BadIndexes { .. })
        ));
        assert!(tx.has_room_for(5), "a corrupt tail counts as room");
        assert_eq!(tx.restart_at_tail(), 0);
        tx.send(2, b"after").unwrap();
        let frame = rx.receive(&mut buf).unwrap().unwrap();
        assert_eq!((frame.kind, &buf[..frame.len]), (2, &b"after"[..]));
        assert_eq!(rx.receive(&mut buf), Ok(None));
    }

    #[test]
    fn resumed_sides_continue_where_the_ring_is() {
        let (mut tx, mut rx, mem) = pair(8);
        let mut buf = [0u8; 256];
        for i in 0..3u8 {
            tx.send(u16::from(i), &[i; 70]).unwrap();
        }
        assert_eq!(rx.receive(&mut buf).unwrap().unwrap().kind, 0);
        // Both modules reload; what was in flight is still delivered.
        drop((tx, rx));
        let layout = Layout::new(8).unwrap();
        let mut tx = Sender::resume(mem.clone(), layout);
        let mut rx = Receiver::resume(mem.clone(), layout);
        tx.send(9, b"new").unwrap();
        // 2 + 2 + 1 slots in flight of 8.
        assert!(tx.has_room_for(3 * 64 - 8));
        assert!(!tx.has_room_for(3 * 64 - 7));
        let kinds: Vec<u16> = core::iter::from_fn(|| rx.receive(&mut buf).unwrap())
            .map(|f| f.kind)
            .collect();
        assert_eq!(kinds, [1, 2, 9]);
        assert!(tx.has_room_for(8 * 64 - 8));
    }

    #[test]
    fn corrupt_frames_are_refused_then_resynced() {
        let (mut tx, mut rx, mem) = pair(8);
        let mut buf = [0u8; 512];
        tx.send(5, &payload(10, 0)).unwrap();
        // Length beyond the ring.
        mem.slots.borrow_mut()[0..2].copy_from_slice(&600u16.to_le_bytes());
        assert_eq!(rx.receive(&mut buf), Err(RingError::BadLength { len: 600 }));
        // Length beyond what is published.
        mem.slots.borrow_mut()[0..2].copy_from_slice(&100u16.to_le_bytes());
        assert_eq!(
            rx.receive(&mut buf),
            Err(RingError::Truncated {
                needed: 2,
                available: 1
            })
        );
        // A frame that does not start where it is read (lost or replayed).
        mem.slots.borrow_mut()[0..2].copy_from_slice(&10u16.to_le_bytes());
        mem.slots.borrow_mut()[4..8].copy_from_slice(&9u32.to_le_bytes());
        assert_eq!(
            rx.receive(&mut buf),
            Err(RingError::BadSequence {
                expected: 0,
                found: 9
            })
        );
        assert_eq!(rx.resync(), 1);
        // After a resync frames flow from the sender's head on.
        tx.send(6, b"after").unwrap();
        let frame = rx.receive(&mut buf).unwrap().unwrap();
        assert_eq!((frame.kind, frame.seq, &buf[..5]), (6, 1, &b"after"[..]));
        tx.send(7, b"next").unwrap();
        assert_eq!(rx.receive(&mut buf).unwrap().unwrap().seq, 2);
    }

    #[test]
    fn indexes_wrap_at_2_pow_32() {
        let (mut tx, mut rx, mem) = pair(4);
        tx.head = u32::MAX - 1;
        mem.head.set(u32::MAX - 1);
        mem.tail.set(u32::MAX - 1);
        rx.tail = u32::MAX - 1;
        let mut buf = [0u8; 256];
        for i in 0..10u8 {
            tx.send(0, &payload(70, i)).unwrap(); // 2 slots each
            let frame = rx.receive(&mut buf).unwrap().unwrap();
            assert_eq!(&buf[..frame.len], &payload(70, i)[..]);
        }
        assert_eq!(mem.head.get(), 18);
    }

    #[test]
    fn error_texts() {
        assert_eq!(
            RingError::Full { needed: 3, free: 1 }.to_string(),
            "ring full: 3 slots needed, 1 free"
        );
        assert_eq!(
            RingError::BadSequence {
                expected: 4,
                found: 9
            }
            .to_string(),
            "frame 9 where 4 was expected"
        );
        assert!(!RingError::Full { needed: 1, free: 0 }.is_corruption());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any interleaving of sends and receives of any sizes up to
            /// the maximum delivers every accepted frame once, in order,
            /// intact, and refuses the rest with back-pressure.
            #[test]
            fn every_size_in_order(
                nr_slots in prop::sample::select(vec![2u32, 4, 8, 64, 1024]),
                ops in prop::collection::vec((any::<bool>(), 0usize..=65535, any::<u8>()), 1..200),
            ) {
                let (mut tx, mut rx, _) = pair(nr_slots);
                let max = Layout::new(nr_slots).unwrap().max_payload();
                let mut in_flight = std::collections::VecDeque::new();
                let mut buf = vec![0u8; max];
                for (send, size, salt) in ops {
                    if send {
                        let data = payload(size % (max + 1), salt);
                        match tx.send(u16::from(salt), &data) {
                            Ok(_) => in_flight.push_back((salt, data)),
                            Err(RingError::Full { .. }) => prop_assert!(!in_flight.is_empty()),
                            Err(e) => prop_assert!(false, "unexpected {e}"),
                        }
                    } else {
                        match rx.receive(&mut buf).unwrap() {
                            Some(frame) => {
                                let (salt, data) = in_flight.pop_front().unwrap();
                                prop_assert_eq!(frame.kind, u16::from(salt));
                                prop_assert_eq!(&buf[..frame.len], &data[..]);
                            }
                            None => prop_assert!(in_flight.is_empty()),
                        }
                    }
                }
                while let Some((_, data)) = in_flight.pop_front() {
                    let frame = rx.receive(&mut buf).unwrap().unwrap();
                    prop_assert_eq!(&buf[..frame.len], &data[..]);
                }
                prop_assert_eq!(rx.receive(&mut buf).unwrap(), None);
            }

            /// Whatever a peer writes into the shared memory, receiving
            /// never panics and never reports more bytes than the buffer.
            #[test]
            fn garbage_never_panics(
                head in any::<u32>(),
                slots in prop::collection::vec(any::<u8>(), 512),
                tries in 1usize..20,
            ) {
                let (_, mut rx, mem) = pair(8);
                mem.slots.borrow_mut().copy_from_slice(&slots);
                mem.head.set(head);
                let mut buf = vec![0u8; 504];
                for _ in 0..tries {
                    match rx.receive(&mut buf) {
                        Ok(Some(frame)) => prop_assert!(frame.len <= 504),
                        Ok(None) => break,
                        Err(e) => {
                            prop_assert!(e.is_corruption(), "{e}");
                            prop_assert!(rx.resync() <= 8);
                        }
                    }
                }
            }
        }
    }
}
