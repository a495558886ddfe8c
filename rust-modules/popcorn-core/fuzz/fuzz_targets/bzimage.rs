//! Kernel images (`bzimage.rs`), the zero page built from one
//! (`bootparams::build_zero_page`), and the read-back of a zero page
//! (`zero_page_summary`, which the loader runs on a page in the boot slot
//! the secondary can write).
//!
//! Properties: an accepted image has its header end in the header area,
//! its protected-mode kernel inside and at the end of the file, 64-bit
//! entry, relocation, a power-of-two alignment and an `init_size` that
//! covers the kernel; the getters give the header's bytes. A zero page is
//! built exactly when the boot protocol's rules hold (reference below);
//! then it reads back as what was put in, every byte no field names is 0,
//! nothing past the page is touched; a refusal leaves the buffer as it was.
//! Any page reads back without a panic, with at most 128 e820 entries.

#![no_main]

use libfuzzer_sys::fuzz_target;
use popcorn_core::bootparams::{build_zero_page, zero_page_summary, ZeroPageParams};
use popcorn_core::bzimage::{BzImage, XLF_CAN_BE_LOADED_ABOVE_4G, XLF_KERNEL_64};
use popcorn_core::e820::{E820Kind, E820Table, ZERO_PAGE_E820_TABLE, ZERO_PAGE_SIZE};
use popcorn_core_fuzz::{Bytes, le16, le32, le64};

/// A small image every check passes, for the fuzzer to change.
fn template(payload: usize, setup_sects: u8) -> Vec<u8> {
    let sects = if setup_sects == 0 { 4 } else { usize::from(setup_sects) };
    let mut image = vec![0u8; (sects + 1) * 512 + payload];
    image[0x1f1] = setup_sects;
    image[0x1fe..0x200].copy_from_slice(&0xaa55u16.to_le_bytes());
    image[0x200] = 0xeb;
    image[0x201] = 0x6a; // header ends at 0x26c
    image[0x202..0x206].copy_from_slice(b"HdrS");
    image[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    image[0x211] = 1;
    image[0x214..0x218].copy_from_slice(&0x10_0000u32.to_le_bytes());
    image[0x22c..0x230].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    image[0x230..0x234].copy_from_slice(&0x20_0000u32.to_le_bytes());
    image[0x234] = 1;
    image[0x235] = 21;
    image[0x236..0x238].copy_from_slice(&(XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G).to_le_bytes());
    image[0x238..0x23c].copy_from_slice(&2047u32.to_le_bytes());
    image[0x258..0x260].copy_from_slice(&0x100_0000u64.to_le_bytes());
    image[0x260..0x264].copy_from_slice(&0x10_0000u32.to_le_bytes());
    image
}

fn check_summary(page: &[u8]) {
    let Ok(s) = zero_page_summary(page) else {
        assert!(page.len() < ZERO_PAGE_SIZE);
        return;
    };
    let count = usize::from(page[0x1e8]).min(128);
    let entries: Vec<_> = s.e820().collect();
    assert_eq!(entries.len(), count);
    for (i, e) in entries.iter().enumerate() {
        let at = ZERO_PAGE_E820_TABLE + 20 * i;
        assert_eq!((e.addr, e.size, e.kind), (le64(page, at), le64(page, at + 8), le32(page, at + 16)));
    }
    assert_eq!(s.cmd_line_ptr(), u64::from(le32(page, 0x228)) | u64::from(le32(page, 0xc8)) << 32);
    let text = s.to_string();
    assert_eq!(text.lines().count(), 15 + count);
}

/// An address below 4 GiB, or any.
fn small(input: &mut Bytes) -> u64 {
    if input.bool() {
        u64::from(input.u32())
    } else {
        input.addr()
    }
}

fn check_image(image: &[u8], input: &mut Bytes) {
    let Ok(bz) = BzImage::parse(image) else {
        return;
    };
    let header_end = bz.header_end();
    assert!((0x264..=0x280).contains(&header_end) && header_end <= image.len());
    assert_eq!(header_end, 0x202 + usize::from(image[0x201]));
    assert_eq!(image[0x200], 0xeb);
    assert_eq!(&image[0x202..0x206], b"HdrS");
    assert_eq!(le16(image, 0x1fe), 0xaa55);
    let sects = if image[0x1f1] == 0 { 4 } else { image[0x1f1] };
    assert_eq!(bz.setup_sects(), sects);
    assert_eq!(bz.payload_offset(), (usize::from(sects) + 1) * 512);
    assert!(bz.payload_len() > 0 && bz.payload_offset() + bz.payload_len() == image.len());
    assert_eq!(bz.payload(image), Some(&image[bz.payload_offset()..]));
    assert_eq!(bz.setup_header(image), Some(&image[0x1f1..header_end]));
    assert!(bz.version() >= 0x020c && bz.version() == le16(image, 0x206));
    assert!(bz.xloadflags() & XLF_KERNEL_64 != 0 && bz.xloadflags() == le16(image, 0x236));
    assert_ne!(image[0x234], 0);
    assert!(bz.kernel_alignment().is_power_of_two() && bz.kernel_alignment() >= 4096);
    assert!(bz.init_size() as usize >= bz.payload_len());
    assert_eq!(
        (bz.loadflags(), bz.code32_start(), bz.cmdline_size(), bz.pref_address(), bz.min_alignment_log2()),
        (image[0x211], le32(image, 0x214), le32(image, 0x238), le64(image, 0x258), image[0x235])
    );

    // A zero page for it.
    let mut e820 = E820Table::new();
    for _ in 0..input.u8() % 4 {
        let kind = if input.bool() { E820Kind::Ram } else { E820Kind::Reserved };
        let (addr, size) = (input.addr(), input.addr());
        let _ = e820.add(addr, size, kind);
    }
    let p = ZeroPageParams {
        cmdline_phys: small(input),
        ramdisk_phys: small(input),
        ramdisk_size: if input.bool() { 0 } else { small(input) },
        setup_data_phys: input.u64(),
        e820: &e820,
    };
    let above_4g = bz.xloadflags() & XLF_CAN_BE_LOADED_ABOVE_4G != 0;
    let initrd_addr_max = u64::from(le32(image, 0x22c));
    let ramdisk_ok = if p.ramdisk_size == 0 {
        p.ramdisk_phys == 0
    } else {
        p.ramdisk_phys
            .checked_add(p.ramdisk_size - 1)
            .is_some_and(|last| above_4g || last <= initrd_addr_max)
    };
    let valid = p.cmdline_phys != 0 && (p.cmdline_phys < 1 << 32 || above_4g) && ramdisk_ok;

    let mut out = vec![input.u8(); if input.u8() == 0xff { input.upto(ZERO_PAGE_SIZE + 8) } else { ZERO_PAGE_SIZE + 16 }];
    let before = out.clone();
    match build_zero_page(&mut out, image, &bz, &p) {
        Ok(()) => {
            assert!(valid && before.len() >= ZERO_PAGE_SIZE, "built against the rules: {p:?}");
            assert_eq!(out[ZERO_PAGE_SIZE..], before[ZERO_PAGE_SIZE..], "wrote past the page");
            let page = &out[..ZERO_PAGE_SIZE];
            let s = zero_page_summary(page).unwrap();
            assert_eq!(
                (s.cmd_line_ptr(), s.ramdisk_image(), s.ramdisk_size(), s.setup_data()),
                (p.cmdline_phys, p.ramdisk_phys, p.ramdisk_size, p.setup_data_phys)
            );
            assert_eq!((s.version(), s.xloadflags(), s.loadflags()), (bz.version(), bz.xloadflags(), bz.loadflags() & !0x80));
            assert_eq!((s.type_of_loader(), s.sentinel(), s.vid_mode(), s.acpi_rsdp_addr(), s.hardware_subarch()), (0xff, 0, 0xffff, 0, 0));
            let entries: Vec<_> = s.e820().map(|e| (e.addr, e.size, e.kind)).collect();
            let table: Vec<_> = e820.entries().map(|e| (e.addr, e.size, e.kind.code())).collect();
            assert_eq!(entries, table);
            // The header as in the image, but for what a loader writes.
            for at in 0x1f1..header_end {
                let written = matches!(at, 0x1fa..=0x1fb | 0x210..=0x211 | 0x218..=0x21f | 0x224..=0x22b | 0x23c..=0x23f | 0x250..=0x257);
                if !written {
                    assert_eq!(page[at], image[at], "header byte {at:#x} not copied");
                }
            }
            // Every byte no field names is 0.
            for (at, &b) in page.iter().enumerate() {
                let named = matches!(at, 0x70..=0x77 | 0xc0..=0xcb | 0x1e8)
                    || (0x1f1..header_end).contains(&at)
                    || (ZERO_PAGE_E820_TABLE..ZERO_PAGE_E820_TABLE + 128 * 20).contains(&at);
                assert!(named || b == 0, "stray byte {b:#x} at {at:#x}");
            }
            check_summary(page);
        }
        Err(e) => {
            assert!(!valid || before.len() < ZERO_PAGE_SIZE, "refused a good zero page: {e} ({p:?})");
            assert_eq!(out, before, "a refusal wrote into the buffer");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes::new(data);
    match input.u8() % 3 {
        0 => {
            let len = if input.bool() { ZERO_PAGE_SIZE } else { input.upto(ZERO_PAGE_SIZE + 8) };
            let mut page = input.take(len).to_vec();
            page.resize(len, 0);
            check_summary(&page);
        }
        1 => {
            let image = input.rest().to_vec();
            check_image(&image, &mut Bytes::new(&[]));
        }
        _ => {
            let payload = input.upto(4096);
            let mut image = template(payload, input.u8() % 8);
            for _ in 0..input.u8() % 8 {
                let at = 0x1f0 + input.upto(0x90);
                if at < image.len() {
                    image[at] = input.u8();
                }
            }
            if input.u8() == 0xff {
                image.truncate(input.upto(image.len()));
            }
            check_image(&image, &mut input);
        }
    }
});
