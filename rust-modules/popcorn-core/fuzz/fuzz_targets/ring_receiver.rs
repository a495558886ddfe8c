//! The receiving end of a ring (`ring::Receiver`) against a sender that may
//! lie: indexes and slots that change between two loads, scribbles, and an
//! honest sender in between (`ringmem`). Checks, for every operation:
//!
//! - each shared field is loaded at most once and no slot byte is read
//!   twice (no double fetch), nothing outside the slot area is touched;
//! - a frame received is consistent with the one `head` it saw and the
//!   bytes it read: it starts at our `tail`, fits the published slots, the
//!   buffer and the maximum, its payload is exactly the bytes after its
//!   header, and `tail` moves past it and nowhere else;
//! - an error consumes nothing and says what the memory showed;
//! - while nobody tampered with the ring, every frame the honest sender
//!   sent arrives once, in order, intact (receive(send(x)) == x).

#![no_main]

use std::collections::VecDeque;

use libfuzzer_sys::fuzz_target;
use popcorn_core::ring::{Receiver, RingError, Sender, FRAME_HEADER_SIZE, SLOT_SIZE};
use popcorn_core_fuzz::pattern;
use popcorn_core_fuzz::ringmem::{self, Event, SentFrame};

fuzz_target!(|data: &[u8]| {
    let mem = ringmem::ring_for(data);
    let layout = mem.layout();
    let nr = layout.nr_slots();
    let area = layout.slot_area();
    let max = layout.max_payload();

    let mut rx = Receiver::new(&mem, layout);
    let mut tail = 0u32; // what the receiver's tail must be
    let mut room_answered = 0u32;
    let mut peer = Sender::new(mem.peer(), layout);
    // Frames the honest sender sent and the receiver has not taken yet.
    let mut sent: VecDeque<SentFrame> = VecDeque::new();
    let mut buf = vec![0u8; max];

    while !mem.input().is_empty() {
        let op = mem.input().u8();
        match op % 12 {
            0 | 1 | 2 => {
                // The honest sender sends a frame.
                let (kind, len, salt) = {
                    let mut i = mem.input();
                    (i.u16(), i.upto(max), i.u8())
                };
                let payload = pattern(len, salt);
                match peer.send(kind, &payload) {
                    Ok(s) => sent.push_back((kind, payload, s.seq)),
                    Err(RingError::Full { .. }) => {}
                    Err(e) => {
                        assert!(mem.tampered(), "honest sender refused by an untouched ring: {e}");
                        peer.restart_at_tail();
                        sent.clear();
                    }
                }
            }
            3 | 4 | 5 => {
                let buf_len = if mem.input().bool() { max } else { mem.input().upto(max) };
                mem.begin_op();
                let result = rx.receive(&mut buf[..buf_len]);
                let log = mem.take_log();
                let (heads, tails, waits, rooms) = ringmem::load_counts(&log);
                assert_eq!((heads, tails, waits, rooms), (1, 0, 0, 0), "receive loads head once, nothing else: {log:?}");
                let Event::LoadHead(head) = log[0] else { panic!("receive starts without loading head: {log:?}") };
                let available = head.wrapping_sub(tail);
                let reads = ringmem::reads(&log);
                ringmem::assert_disjoint(&reads, "receive read");
                let stores: Vec<&Event> = log.iter().filter(|e| matches!(e, Event::StoreTail(_))).collect();
                match result {
                    Ok(None) => {
                        assert_eq!(available, 0, "an empty ring with {available} slots published");
                        assert!(reads.is_empty() && stores.is_empty());
                        assert!(mem.tampered() || sent.is_empty(), "a sent frame went missing");
                    }
                    Ok(Some(frame)) => {
                        assert!(available <= nr);
                        assert_eq!(frame.seq, tail, "a frame that does not start at our tail");
                        assert!(frame.len <= buf_len && frame.len <= max);
                        let needed = layout.slots_for(frame.len);
                        assert!(needed >= 1 && needed <= available, "{needed} slots taken, {available} published");
                        assert_eq!(stores, [&Event::StoreTail(tail.wrapping_add(needed))]);
                        assert_eq!(log.last(), Some(&Event::StoreTail(tail.wrapping_add(needed))), "tail moved before the copy ended");
                        // The header: 8 bytes at the start of our tail's slot.
                        let start = (tail & (nr - 1)) as usize * SLOT_SIZE;
                        let (hoff, header) = reads[0];
                        assert_eq!((hoff, header.len()), (start, FRAME_HEADER_SIZE));
                        let word = u32::from_le_bytes(header[0..4].try_into().unwrap());
                        assert_eq!(frame.len, (word & 0xffff) as usize);
                        assert_eq!(frame.kind, (word >> 16) as u16);
                        assert_eq!(frame.seq, u32::from_le_bytes(header[4..8].try_into().unwrap()));
                        // The payload: exactly the bytes after the header,
                        // each read once, and what the caller got.
                        let payload = ringmem::contiguous(&reads[1..], start + FRAME_HEADER_SIZE, frame.len, area);
                        assert_eq!(&buf[..frame.len], &payload[..], "the caller got other bytes than were read");
                        tail = tail.wrapping_add(needed);
                        if !mem.tampered() {
                            ringmem::assert_is_next(&mut sent, frame, &buf[..frame.len]);
                        }
                    }
                    Err(e) => {
                        assert!(stores.is_empty(), "an error consumed slots: {e}");
                        match e {
                            RingError::BadIndexes { head: h, tail: t } => {
                                assert_eq!((h, t), (head, tail));
                                assert!(available > nr);
                            }
                            RingError::BadLength { len } => assert!(len > max),
                            RingError::Truncated { needed, available: a } => {
                                assert_eq!(a, available);
                                assert!(needed > a);
                            }
                            RingError::BadSequence { expected, found } => {
                                assert_eq!(expected, tail);
                                assert_ne!(found, tail);
                            }
                            RingError::BufferTooSmall { len, needed } => {
                                assert_eq!(len, buf_len);
                                assert!(needed > buf_len);
                            }
                            other => panic!("receive reported {other:?}"),
                        }
                        if !matches!(e, RingError::BufferTooSmall { .. }) {
                            assert!(mem.tampered(), "an untouched ring reported {e}");
                            assert!(e.is_corruption());
                        }
                    }
                }
            }
            6 => {
                mem.begin_op();
                let dropped = rx.resync();
                let log = mem.take_log();
                let [Event::LoadHead(head), Event::StoreTail(t)] = log[..] else { panic!("resync: {log:?}") };
                assert_eq!(t, head);
                assert_eq!(dropped, head.wrapping_sub(tail).min(nr));
                tail = head;
                if !mem.tampered() {
                    sent.clear();
                }
            }
            7 => {
                mem.begin_op();
                let pending = rx.has_pending();
                let log = mem.take_log();
                let [Event::LoadHead(head)] = log[..] else { panic!("has_pending: {log:?}") };
                assert_eq!(pending, head != tail);
            }
            8 => {
                mem.begin_op();
                let sleep = rx.prepare_to_sleep();
                let log = mem.take_log();
                let [Event::StoreWaiting(true), Event::Fence, Event::LoadHead(head), ref rest @ ..] = log[..] else {
                    panic!("prepare_to_sleep: {log:?}")
                };
                assert_eq!(sleep, head == tail);
                let expected = if sleep { &[][..] } else { &[Event::StoreWaiting(false)][..] };
                assert_eq!(rest, expected);
                if mem.input().bool() {
                    mem.begin_op();
                    rx.woken();
                    assert_eq!(mem.take_log(), [Event::StoreWaiting(false)]);
                }
            }
            9 => {
                if mem.input().bool() {
                    let len = mem.input().upto(max);
                    peer.want_room(len);
                }
                mem.begin_op();
                let wanted = rx.room_wanted();
                let log = mem.take_log();
                let [Event::Fence, Event::LoadRoom(room)] = log[..] else { panic!("room_wanted: {log:?}") };
                assert_eq!(wanted, room != room_answered);
                room_answered = room;
            }
            10 => {
                // The receiver's module reloads.
                mem.begin_op();
                rx = Receiver::resume(&mem, layout);
                let log = mem.take_log();
                let (_, tails, _, rooms) = ringmem::load_counts(&log);
                assert_eq!((tails, rooms, log.len()), (1, 1, 2), "resume: {log:?}");
                for e in &log {
                    match *e {
                        Event::LoadTail(t) => {
                            assert!(mem.tampered() || t == tail, "our own tail changed");
                            tail = t;
                        }
                        Event::LoadRoom(r) => room_answered = r,
                        _ => unreachable!(),
                    }
                }
            }
            _ => {
                // The sender scribbles.
                let mut i = mem.input();
                let what = i.u8() % 4;
                match what {
                    0 => {
                        let v = if i.bool() { i.u32() } else { tail.wrapping_add(i.upto(2 * nr as usize) as u32) };
                        drop(i);
                        mem.scribble_head(v);
                    }
                    1 => {
                        let off = i.upto(area);
                        let n = i.upto(16);
                        let bytes = i.take(n).to_vec();
                        drop(i);
                        mem.scribble_slots(off, &bytes);
                    }
                    2 => {
                        let v = i.u32();
                        drop(i);
                        mem.scribble_room(v);
                    }
                    _ => {
                        let v = i.u32();
                        drop(i);
                        mem.scribble_waiting(v);
                    }
                }
            }
        }
    }

    // Nobody tampered: what was sent and not dropped arrives, in order.
    if !mem.tampered() {
        ringmem::assert_all_arrive(&mut rx, &mut sent);
    }
});
