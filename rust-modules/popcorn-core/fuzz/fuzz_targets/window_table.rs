//! The message layer's part of the shared window (`window.rs`): the kernel
//! table's entries and the header page another kernel wrote, the ring
//! placement for a window size, and the checks of what a table entry
//! says (notify APIC IDs, forged fields, the state a kernel acts on).
//!
//! Properties: a parsed entry holds exactly the fields at their offsets
//! and only a state some kernel writes, and `parse(write(e)) == e`; the
//! header check accepts exactly the header `init_header` writes for the
//! same window; every ring of a window's layout lies inside the window, on
//! its own, the largest that fit; an APIC ID that passes the checks is
//! never a broadcast, ours, the primary's or one not assigned.

#![no_main]

use libfuzzer_sys::fuzz_target;
use popcorn_core::ring::MAX_SLOTS;
use popcorn_core::window::{
    self, check_peer_notify, init_header, mapped_rings, max_apic_id, trusted_state, Assignment, IpiRefused,
    KernelEntry, SlotState, WindowError, WindowLayout, ENTRY_SIZE, KERNEL_SLOTS, NR_RINGS, RINGS_OFFSET,
    X2APIC_BROADCAST, XAPIC_BROADCAST, XAPIC_MAX_ID,
};
use popcorn_core_fuzz::{Bytes, le32, le64};

fn state(b: &mut Bytes) -> SlotState {
    [SlotState::Empty, SlotState::Starting, SlotState::Live, SlotState::Gone][usize::from(b.u8() % 4)]
}

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes::new(data);

    // A window size: any, or near the sizes where the ring size changes.
    let size = if input.bool() {
        input.u64()
    } else {
        let slots = 1u64 << (input.u8() % 18);
        let stride = (0x80 + 64 * slots).next_multiple_of(0x1000);
        (RINGS_OFFSET + stride * NR_RINGS as u64).wrapping_add(u64::from(input.u16())).wrapping_sub(0x8000)
    };
    let layout = match WindowLayout::for_window(size) {
        Ok(layout) => {
            let ring = layout.ring();
            let stride = layout.ring_stride();
            assert!(stride >= ring.size() as u64 && stride % 0x1000 == 0);
            // All rings fit, and twice the slots would not.
            assert!(RINGS_OFFSET + stride * NR_RINGS as u64 <= size);
            if ring.nr_slots() < MAX_SLOTS {
                let bigger = (0x80 + 64 * 2 * u64::from(ring.nr_slots())).next_multiple_of(0x1000);
                assert!(RINGS_OFFSET.checked_add(bigger * NR_RINGS as u64).is_none_or(|end| end > size));
            }
            let mut offsets = Vec::with_capacity(NR_RINGS);
            for from in 0..KERNEL_SLOTS + 1 {
                for to in 0..KERNEL_SLOTS + 1 {
                    let offset = layout.ring_offset(from, to);
                    if from == to || from >= KERNEL_SLOTS || to >= KERNEL_SLOTS {
                        assert!(matches!(offset, Err(WindowError::BadSlot { .. })));
                        continue;
                    }
                    let offset = offset.unwrap();
                    assert!(offset >= RINGS_OFFSET && offset + ring.size() as u64 <= size);
                    offsets.push(offset);
                }
            }
            offsets.sort();
            assert!(offsets.windows(2).all(|w| w[1] - w[0] >= ring.size() as u64), "rings overlap");
            Some(layout)
        }
        Err(WindowError::NoRoomForRings { size: s }) => {
            assert_eq!(s, size);
            let smallest = (0x80u64 + 64 * 2).next_multiple_of(0x1000) * NR_RINGS as u64;
            assert!(size.checked_sub(RINGS_OFFSET).is_none_or(|room| room < smallest));
            None
        }
        Err(e) => panic!("for_window: {e}"),
    };

    // The header page a peer wrote.
    let page_len = input.upto(0x48);
    let mut page = input.take(page_len).to_vec();
    if let Some(layout) = &layout {
        // Field by field: the first one missing or wrong is the error.
        let fields = [
            (0, window::WINDOW_MAGIC),
            (4, window::WINDOW_VERSION),
            (8, KERNEL_SLOTS as u32),
            (12, layout.ring().nr_slots()),
        ];
        let mut expected: Result<(), Result<WindowError, usize>> = Ok(());
        for (off, value) in fields {
            if page.len() < off + 4 {
                expected = Err(Ok(WindowError::Short { len: page.len(), needed: off + 4 }));
                break;
            }
            if le32(&page, off) != value {
                expected = Err(Err(off));
                break;
            }
        }
        match (window::check_header(&page, layout), expected) {
            (Ok(()), Ok(())) => {}
            (Err(e @ WindowError::Short { .. }), Err(Ok(want))) => assert_eq!(e, want),
            (Err(WindowError::BadHeader { found, .. }), Err(Err(off))) => assert_eq!(found, le32(&page, off)),
            (got, want) => panic!("check_header gave {got:?}, expected {want:?}"),
        }
        page.resize(0x40, 0xaa);
        init_header(&mut page, layout).unwrap();
        assert_eq!(window::check_header(&page, layout), Ok(()));
        assert!(page[0x10..0x40].iter().all(|&b| b == 0));
    }

    // A table entry a peer wrote.
    let slot = input.upto(KERNEL_SLOTS + 1);
    let len = if input.bool() { ENTRY_SIZE } else { input.upto(ENTRY_SIZE + 8) };
    let raw = input.take(len);
    match KernelEntry::parse(raw, slot) {
        Ok(e) => {
            assert!(raw.len() >= ENTRY_SIZE);
            assert_eq!(SlotState::from_raw(le32(raw, 0)), Some(e.state));
            assert_eq!(
                (e.generation, e.kernel_id, e.notify_apic_id, e.nr_cpus, e.mem_bytes, e.heartbeat),
                (le32(raw, 4), le32(raw, 8), le32(raw, 12), le32(raw, 16), le64(raw, 0x18), le64(raw, 0x20))
            );
            let mut out = [0xaau8; ENTRY_SIZE];
            e.write(&mut out).unwrap();
            assert_eq!(KernelEntry::parse(&out, slot), Ok(e));
            // What is not a field is written as 0.
            let mut expect = raw[..ENTRY_SIZE].to_vec();
            expect[0x14..0x18].fill(0);
            expect[0x28..0x40].fill(0);
            assert_eq!(&out[..], &expect[..]);

            // Checking its notify APIC ID.
            let own: Vec<u32> = (0..input.u8() % 4).map(|_| input.u32()).collect();
            let primary = input.u32();
            let known: Vec<u32> = own.iter().copied().chain([primary]).collect();
            let max = max_apic_id(&known);
            assert!(max == XAPIC_MAX_ID || max == X2APIC_BROADCAST - 1);
            match check_peer_notify(e.notify_apic_id, &own, primary, max) {
                Ok(id) => {
                    assert_eq!(id, e.notify_apic_id);
                    assert!(id <= max && id != X2APIC_BROADCAST);
                    assert!(max > XAPIC_MAX_ID || id != XAPIC_BROADCAST);
                    assert!(!own.contains(&id) && id != primary);
                }
                Err(IpiRefused::NotAssigned { .. }) => panic!("check_peer_notify knows no assignment"),
                Err(_) => {}
            }
            // Against what the primary assigned.
            let ids: Vec<u32> = (0..input.u8() % 34).map(|_| input.u32()).collect();
            let (kernel_id, generation) = (input.u32(), input.u32());
            match Assignment::new(kernel_id, generation, &ids) {
                Some(a) => {
                    assert!(!ids.is_empty() && ids.len() <= window::MAX_ASSIGNED_CPUS);
                    assert!(!ids.contains(&X2APIC_BROADCAST));
                    assert_eq!(a.apic_ids(), &ids[..]);
                    assert_eq!(a.notify_apic_id(), ids[0]);
                    let forged = a.forged(&e);
                    assert_eq!(forged.kernel_id, e.kernel_id != kernel_id);
                    assert_eq!(forged.generation, e.generation != generation);
                    assert_eq!(forged.notify_apic_id, !ids.contains(&e.notify_apic_id));
                    match a.notify_target(e.notify_apic_id) {
                        Ok(id) => assert!(ids.contains(&id) && id == e.notify_apic_id),
                        Err(r) => assert_eq!(r, IpiRefused::NotAssigned { apic_id: e.notify_apic_id }),
                    }
                }
                None => assert!(ids.is_empty() || ids.len() > window::MAX_ASSIGNED_CPUS || ids.contains(&X2APIC_BROADCAST)),
            }
            // The state a kernel acts on.
            let (assigned, ended) = (input.bool(), state(&mut input));
            let acted = trusted_state(assigned, ended, Some(e.state));
            if assigned {
                assert_eq!(acted == SlotState::Live, e.state == SlotState::Live);
                assert!(matches!(acted, SlotState::Live | SlotState::Starting));
            } else {
                assert!(matches!(acted, SlotState::Empty | SlotState::Gone), "a kernel the primary ended acts as {acted:?}");
            }
        }
        Err(WindowError::Short { len: l, needed }) => {
            assert_eq!((l, needed), (raw.len(), ENTRY_SIZE));
            assert!(raw.len() < ENTRY_SIZE);
        }
        Err(WindowError::BadState { slot: s, raw: r }) => {
            assert_eq!((s, r), (slot, le32(raw, 0)));
            assert!(r > 3);
            let (assigned, ended) = (input.bool(), state(&mut input));
            let acted = trusted_state(assigned, ended, None);
            assert_ne!(acted, SlotState::Live, "a corrupt entry reads as live");
        }
        Err(e) => panic!("KernelEntry::parse: {e}"),
    }

    // Which rings a kernel maps.
    let me = input.upto(KERNEL_SLOTS + 1);
    let rings: Vec<(usize, usize)> = mapped_rings(me).collect();
    for &(from, to) in &rings {
        assert!(from != to && from < KERNEL_SLOTS && to < KERNEL_SLOTS);
        assert!(me == 0 || from == me || to == me);
    }
    let expected = match me {
        0 => NR_RINGS,
        m if m < KERNEL_SLOTS => 2 * (KERNEL_SLOTS - 1),
        _ => 0,
    };
    assert_eq!(rings.len(), expected);
});
