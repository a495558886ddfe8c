//! Values another kernel chose, at the edges of their types, fed to every
//! parser of what a peer writes (messages, rings, the window's header and
//! table, control pages, popnet frames). Each must come back as the
//! parser's typed error (or a value), never a panic: the kernel builds with
//! overflow checks, so an overflowing `+` there is a crash of the receiver
//! (issue 14 item 1). Tests run with overflow checks on too.

use std::cell::{Cell, RefCell};

use popcorn_core::control::{self, Snapshot};
use popcorn_core::migrate::{
    self, parse_pages, parse_state, parse_vmas, pages_header, vmas_header, Begin, Creds, Header, Signals, Vma, WireError,
    PAGE_SIZE, SIGNALS_SIZE, USER_END,
};
use popcorn_core::netframe::{self, NetHeader};
use popcorn_core::ring::{self, Layout, Receiver, RingMemory, Sender};
use popcorn_core::window::{self, KernelEntry, WindowLayout};

/// Addresses near the ends of the address types, and around user space's end.
const EDGES: [u64; 8] = [
    u64::MAX,
    u64::MAX - 1,
    !0xfff,
    !0xfff - 0x1000,
    1 << 63,
    USER_END,
    USER_END + 0x1000,
    USER_END - 0x1000,
];

fn begin() -> Begin {
    Begin { vmas: 1, pages: 1, mm: [0x40_0000; 11], home: 1, stub: 1 << 32, ..Begin::default() }
}

#[test]
fn begin_refuses_a_vdso_near_the_end_of_the_address_space() {
    for vdso in EDGES {
        let b = Begin { vdso, ..begin() };
        let parsed = Begin::parse(&b.encode(), 10);
        if vdso == USER_END - 0x1000 {
            assert_eq!(parsed.map(|b| b.vdso), Ok(vdso));
        } else {
            assert_eq!(parsed, Err(WireError::BadAddress(vdso)), "vdso {vdso:#x}");
        }
    }
}

#[test]
fn begin_takes_counts_and_ids_at_their_limits() {
    for mm in EDGES {
        let b = Begin { mm: [mm; 11], ..begin() };
        assert_eq!(Begin::parse(&b.encode(), 10).is_ok(), mm <= USER_END, "mm {mm:#x}");
    }
    for (vmas, pages, xsave_len) in [(u32::MAX, 1, 0), (1, u32::MAX, 0), (1, 1, u32::MAX)] {
        let b = Begin { vmas, pages, xsave_len, ..begin() };
        assert!(matches!(Begin::parse(&b.encode(), u32::MAX - 1), Err(WireError::BadCount(_))));
    }
    let b = Begin { home: u32::MAX, stub: u64::MAX, origin_pid: u32::MAX, ..begin() };
    assert_eq!(Begin::parse(&b.encode(), 10).map(|b| b.stub), Ok(u64::MAX));
}

#[test]
fn vmas_at_the_edges_are_refused() {
    for start in EDGES {
        for end in EDGES {
            for offset in EDGES.into_iter().chain([0]) {
                let mut body = vmas_header(1).to_vec();
                body.extend_from_slice(&Vma { start, end, flags: Vma::READ, offset }.encode());
                let got: Vec<_> = parse_vmas(&body).unwrap().collect();
                let fits = offset.checked_add(end.wrapping_sub(start)).is_some();
                let ok = start < end && end <= USER_END && fits && offset % 0x1000 == 0;
                assert_eq!(got[0].is_ok(), ok, "{start:#x}-{end:#x} at {offset:#x}");
            }
        }
    }
    // A count whose byte size overflows.
    for count in [u32::MAX, u32::MAX / 32 + 1] {
        assert!(parse_vmas(&vmas_header(count)).is_err());
        assert!(parse_pages(&pages_header(count)).is_err());
    }
}

#[test]
fn pages_at_the_edges_are_refused() {
    let mut body = pages_header(EDGES.len() as u32).to_vec();
    for addr in EDGES {
        body.extend_from_slice(&addr.to_le_bytes());
    }
    body.resize(body.len() + EDGES.len() * PAGE_SIZE, 0);
    for (got, addr) in parse_pages(&body).unwrap().zip(EDGES) {
        match got {
            Ok((a, page)) => assert!(a == USER_END - 0x1000 && page.len() == PAGE_SIZE),
            Err(e) => assert_eq!(e, WireError::BadAddress(addr)),
        }
    }
}

#[test]
fn state_with_extreme_sizes_and_signal_values() {
    // The XSAVE size comes from the peer's Begin; whatever it says, the
    // length check answers.
    for xsave_len in [usize::MAX, usize::MAX - 1, usize::MAX - SIGNALS_SIZE] {
        assert!(matches!(
            parse_state(&[0; 64], xsave_len, &mut Signals::default(), &mut Creds::default()),
            Err(WireError::BadLength { .. })
        ));
        assert_eq!(migrate::state_size(xsave_len), usize::MAX);
    }
    for sp in EDGES.into_iter().chain([0]) {
        for size in EDGES.into_iter().chain([1]) {
            let mut s = Signals { altstack_sp: sp, altstack_size: size, ..Signals::default() };
            s.actions[0].handler = sp;
            s.actions[63].restorer = size;
            let mut bytes = vec![0u8; SIGNALS_SIZE];
            s.encode_into(&mut bytes);
            let mut body = migrate::encode_regs(&[u64::MAX; migrate::NR_REGS]).to_vec();
            body.extend_from_slice(&bytes);
            let mut creds = vec![0u8; migrate::CREDS_SIZE];
            Creds::default().encode_into(&mut creds);
            body.extend_from_slice(&creds);
            assert_eq!(body.len(), migrate::state_size(0));
            let _ = parse_state(&body, 0, &mut Signals::default(), &mut Creds::default());
        }
    }
}

#[test]
fn headers_and_words_with_extreme_fields() {
    let mut m = Header { op: migrate::Op::Abort, id: u64::MAX }.encode().to_vec();
    assert_eq!(Header::parse(&m).map(|(h, _)| h.id), Ok(u64::MAX));
    m[0] = 0xff;
    m[1] = 0xff;
    assert_eq!(Header::parse(&m), Err(WireError::UnknownOp(u16::MAX)));
    assert_eq!(migrate::parse_word(&[0xff; 4]), Ok(u32::MAX));
}

/// A ring's memory with indexes a peer set.
struct Plain {
    head: Cell<u32>,
    tail: Cell<u32>,
    room: Cell<u32>,
    slots: RefCell<Vec<u8>>,
}

impl RingMemory for &Plain {
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
        false
    }
    fn store_waiting(&self, _: bool) {}
    fn load_room(&self) -> u32 {
        self.room.get()
    }
    fn store_room(&self, room: u32) {
        self.room.set(room)
    }
    fn full_fence(&self) {}
    fn write_slots(&self, offset: usize, bytes: &[u8]) {
        self.slots.borrow_mut()[offset..][..bytes.len()].copy_from_slice(bytes);
    }
    fn read_slots(&self, offset: usize, out: &mut [u8]) {
        out.copy_from_slice(&self.slots.borrow()[offset..][..out.len()]);
    }
}

#[test]
fn rings_with_extreme_indexes_and_frame_headers() {
    let layout = Layout::new(4).unwrap();
    let words = [0, 1, 3, 4, 5, u32::MAX, u32::MAX - 1, u32::MAX - 3, 1 << 31];
    for head in words {
        for tail in words {
            for header in [u64::MAX, 0xffff_ffff_0000_ffff, (u64::from(tail) << 32) | 0xffff, u64::from(tail) << 32] {
                let mem = Plain {
                    head: Cell::new(head),
                    tail: Cell::new(tail),
                    room: Cell::new(u32::MAX),
                    slots: RefCell::new(vec![0xff; layout.slot_area()]),
                };
                let start = (tail as usize % 4) * ring::SLOT_SIZE;
                mem.slots.borrow_mut()[start..][..8].copy_from_slice(&header.to_le_bytes());
                let mut rx = Receiver::resume(&mem, layout);
                let mut buf = [0u8; 256];
                if let Err(e) = rx.receive(&mut buf) {
                    if e.is_corruption() {
                        assert!(rx.resync() <= 4);
                    }
                }
                let _ = rx.room_wanted();
                let mut tx = Sender::resume(&mem, layout);
                let _ = tx.want_room(usize::MAX);
                let _ = tx.send(u16::MAX, &[0xaa; 100]);
                let _ = tx.send_parts(1, &[&[1; 200], &[2; 200]]);
                assert!(tx.restart_at_tail() <= 4);
            }
        }
    }
    assert!(Layout::new(u32::MAX).is_none());
    assert_eq!(Layout::new(4).map(|l| l.slots_for(usize::MAX)), Some(u32::MAX));
}

#[test]
fn window_header_and_table_full_of_ones() {
    let layout = WindowLayout::for_window(64 << 20).unwrap();
    for page in [vec![0xff; 4096], vec![0xff; 3], vec![]] {
        assert!(window::check_header(&page, &layout).is_err());
        for slot in [0, window::KERNEL_SLOTS, usize::MAX] {
            let _ = KernelEntry::parse(&page, slot);
        }
    }
    for (from, to) in [(usize::MAX, 0), (0, usize::MAX), (usize::MAX, usize::MAX), (window::KERNEL_SLOTS, 0)] {
        assert!(layout.ring_offset(from, to).is_err());
    }
    assert!(window::entry_page(usize::MAX).is_err());
    for size in [u64::MAX, u64::MAX - 1, 0] {
        let _ = WindowLayout::for_window(size);
    }
}

#[test]
fn control_pages_full_of_ones() {
    for page in [vec![0xff; 4096], vec![0x7f; 4096], vec![0xff; 7]] {
        for nr_cpus in [0, 1, control::MAX_CPUS, usize::MAX] {
            let snap = Snapshot::parse(&page, nr_cpus);
            assert!(snap.nr_cpus() <= control::MAX_CPUS);
            let mut watch = control::Watch::new(u64::MAX, control::Timeouts { boot_ms: u64::MAX, heartbeat_ms: 0 });
            let _ = watch.assess(u64::MAX, &snap);
            let _ = watch.assess(0, &snap);
            let _ = snap.message();
        }
    }
}

#[test]
fn netframes_with_extreme_checksum_fields() {
    let mut frame = vec![0u8; netframe::HEADER_SIZE + netframe::ETH_HLEN + 64];
    for (start, offset) in [(u16::MAX, u16::MAX), (14, u16::MAX), (u16::MAX, 0), (14, 62), (14, 63)] {
        frame[0] = 1; // checksum requested
        frame[1] = 0;
        frame[2..4].copy_from_slice(&start.to_le_bytes());
        frame[4..6].copy_from_slice(&offset.to_le_bytes());
        frame[6..8].copy_from_slice(&u16::MAX.to_le_bytes());
        let ok = usize::from(start) + usize::from(offset) + 2 <= 78;
        assert_eq!(NetHeader::parse(&frame, usize::MAX).is_ok(), ok, "{start} {offset}");
    }
    let _ = netframe::dest_of(&[0xff; 6]);
    let _ = netframe::mac_of(u32::MAX);
}
