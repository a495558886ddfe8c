//! The shared window's layout (`shared.rs`) for a base and size a
//! secondary reads from its `setup_data` (another kernel's bytes): where a
//! boot slot's parts and the rings are.
//!
//! Properties: a boot slot is given exactly when the window is 4 KiB
//! aligned, ends at or below 4 GiB without wrapping, and holds the slot;
//! then every part is page aligned, inside its slot, in the documented
//! order and sizes, and the slot inside the window; the rings' range is
//! the window from 1 MiB on. A refusal names the first rule broken.

#![no_main]

use libfuzzer_sys::fuzz_target;
use popcorn_core::shared::{
    boot_slot, rings_area, SharedError, BOOT_SLOTS_OFFSET, BOOT_SLOT_SIZE, CMDLINE_MAX, CONTROL_MAX, MAX_BOOT_SLOTS,
    PAGE_TABLES_MAX, RINGS_OFFSET, SETUP_DATA_MAX, WINDOW_LIMIT, ZERO_PAGE_MAX,
};
use popcorn_core_fuzz::Bytes;

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes::new(data);
    let base = input.addr();
    let size = if input.bool() { input.addr() } else { u64::from(input.u32()) << (input.u8() % 13) };
    let slot = input.upto(MAX_BOOT_SLOTS + 2);

    // The rules, in the documented order.
    let end = base.checked_add(size);
    let window_ok = if base % 0x1000 != 0 {
        Err(SharedError::Unaligned { base })
    } else if end.is_none() {
        Err(SharedError::Overflow { base, size })
    } else if end.unwrap() > WINDOW_LIMIT {
        Err(SharedError::Above4G { base, size })
    } else {
        Ok(())
    };

    let got = boot_slot(base, size, slot);
    let needed = BOOT_SLOTS_OFFSET + (slot as u64 + 1) * BOOT_SLOT_SIZE;
    let expected = if slot >= MAX_BOOT_SLOTS {
        Err(SharedError::NoSuchSlot { slot })
    } else if let Err(e) = window_ok {
        Err(e)
    } else if size < needed {
        Err(SharedError::TooSmall { size, needed })
    } else {
        Ok(())
    };
    match (got, expected) {
        (Ok(s), Ok(())) => {
            assert_eq!(s.index, slot);
            assert_eq!(s.base, base + BOOT_SLOTS_OFFSET + slot as u64 * BOOT_SLOT_SIZE);
            assert!(s.base >= base && s.end() <= base + size && s.end() <= WINDOW_LIMIT);
            let parts = [
                (s.zero_page, ZERO_PAGE_MAX),
                (s.setup_data, SETUP_DATA_MAX),
                (s.cmdline, CMDLINE_MAX),
                (s.control, CONTROL_MAX),
                (s.page_tables, PAGE_TABLES_MAX),
            ];
            let mut at = s.base;
            for (addr, max) in parts {
                assert_eq!(addr, at, "parts out of order or overlapping");
                assert_eq!(addr % 0x1000, 0);
                at = addr + max;
            }
            assert_eq!(at, s.end(), "the parts do not fill the slot");
            // Its text form names every part.
            assert_eq!(s.to_string().lines().count(), 7);
        }
        (Err(e), Err(want)) => assert_eq!(e, want),
        (got, want) => panic!("boot_slot({base:#x}, {size:#x}, {slot}) gave {got:?}, expected {want:?}"),
    }

    let got = rings_area(base, size);
    match (got, window_ok) {
        (Ok(r), Ok(())) => {
            assert!(size >= RINGS_OFFSET);
            assert_eq!((r.start, r.end), (base + RINGS_OFFSET, base + size));
        }
        (Err(SharedError::TooSmall { size: s, needed }), Ok(())) => {
            assert_eq!((s, needed), (size, RINGS_OFFSET));
            assert!(size < RINGS_OFFSET);
        }
        (Err(e), Err(want)) => assert_eq!(e, want),
        (got, want) => panic!("rings_area({base:#x}, {size:#x}) gave {got:?}, expected {want:?}"),
    }
});
