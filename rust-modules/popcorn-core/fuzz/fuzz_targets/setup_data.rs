//! Popcorn's `setup_data` node (`bootparams.rs`), which tells a secondary
//! what it owns: raw bytes as a primary (or anything else) may have left
//! them, and nodes the builder writes from values the fuzzer picks.
//!
//! Properties: a node is accepted exactly when the documented rules hold
//! (a reference predicate below, written from the module docs' list);
//! what is accepted re-encodes to the same bytes (but `next`, which the
//! reader ignores) and `parse(build(x)) == x`; the builder refuses what a
//! reader would refuse and then leaves its buffer as it was.

#![no_main]

use libfuzzer_sys::fuzz_target;
use popcorn_core::bootparams::{
    build_setup_data, parse_setup_data, PopcornSetupData, INVALID_APIC_ID, POPCORN_MAX_CPUS,
    POPCORN_SETUP_DATA_SIZE,
};
use popcorn_core_fuzz::Bytes;

/// The module docs' list, from `kernel_id` on.
fn valid(i: &PopcornSetupData) -> bool {
    let n = i.nr_cpus as usize;
    if i.kernel_id == 0 || n == 0 || n > POPCORN_MAX_CPUS {
        return false;
    }
    let cpus = &i.apic_ids[..n];
    let distinct = cpus.iter().enumerate().all(|(k, id)| !cpus[..k].contains(id));
    let page = |a: u64| a % 4096 == 0;
    let shared_end = i.shared_base.checked_add(i.shared_size);
    i.apic_ids[n..].iter().all(|&id| id == 0)
        && distinct
        && !cpus.contains(&INVALID_APIC_ID)
        && i.boot_cpu_apic_id != INVALID_APIC_ID
        && i.notify_apic_id != INVALID_APIC_ID
        && !cpus.contains(&i.boot_cpu_apic_id)
        && !cpus.contains(&i.notify_apic_id)
        && i.shared_size != 0
        && shared_end.is_some()
        && page(i.shared_base)
        && page(i.shared_size)
        && i.tsc_khz != 0
        && page(i.control_phys)
        && i.control_phys >= i.shared_base
        && i.control_phys.checked_add(4096).is_some_and(|end| end <= shared_end.unwrap())
}

fn check_accepted(info: &PopcornSetupData, bytes: &[u8]) {
    assert!(valid(info), "accepted against the rules: {info:?}");
    assert!(info.cpus().len() == info.nr_cpus as usize);
    let mut out = vec![0u8; POPCORN_SETUP_DATA_SIZE];
    assert_eq!(build_setup_data(&mut out, info), Ok(POPCORN_SETUP_DATA_SIZE));
    let mut expected = bytes[..POPCORN_SETUP_DATA_SIZE].to_vec();
    expected[..8].fill(0); // `next`
    assert_eq!(out, expected, "an accepted node does not re-encode to itself");
    assert_eq!(info.to_string().lines().count(), 11);
}

/// Values near what a primary writes, now and then not.
fn info(input: &mut Bytes) -> PopcornSetupData {
    let mut i = PopcornSetupData {
        kernel_id: if input.u8() < 0xf0 { 1 + u32::from(input.u8()) } else { input.u32() },
        boot_cpu_apic_id: if input.u8() < 0xf0 { u32::from(input.u8()) } else { input.u32() },
        notify_apic_id: if input.u8() < 0xf0 { u32::from(input.u8()) } else { input.u32() },
        tsc_khz: if input.u8() < 0xf0 { 1 + u32::from(input.u16()) } else { input.u32() },
        lapic_khz: input.u32(),
        console_port: input.u16(),
        ..PopcornSetupData::default()
    };
    let n = input.upto(POPCORN_MAX_CPUS + 2);
    let ids: Vec<u32> = (0..n).map(|k| if input.u8() < 0xf0 { 100 + k as u32 } else { input.u32() }).collect();
    match i.set_cpus(&ids) {
        Ok(()) => assert_eq!(i.cpus(), &ids[..]),
        Err(_) => assert!(n > POPCORN_MAX_CPUS),
    }
    if input.u8() == 0xff {
        i.nr_cpus = input.u32();
    }
    if input.u8() == 0xff {
        let k = input.upto(POPCORN_MAX_CPUS - 1);
        i.apic_ids[k] = input.u32();
    }
    i.shared_base = if input.u8() < 0xf0 { input.addr() & !0xfff & 0xffff_ffff } else { input.addr() };
    i.shared_size = if input.u8() < 0xf0 { (1 + u64::from(input.u16())) << 12 } else { input.addr() };
    i.control_phys = if input.u8() < 0xf0 {
        i.shared_base.wrapping_add((input.u64() % i.shared_size.max(1)) & !0xfff)
    } else {
        input.addr()
    };
    i
}

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes::new(data);
    let mode = input.u8() % 3;
    if mode == 0 {
        // Raw bytes.
        let bytes = input.rest();
        if let Ok(info) = parse_setup_data(bytes) {
            check_accepted(&info, bytes);
        }
    } else if mode == 1 {
        // A node as a primary writes it, then a few bytes changed.
        let i = info(&mut input);
        let mut node = vec![0u8; POPCORN_SETUP_DATA_SIZE];
        if build_setup_data(&mut node, &i).is_err() {
            return;
        }
        for _ in 0..input.u8() % 4 {
            let at = input.upto(POPCORN_SETUP_DATA_SIZE - 1);
            node[at] = input.u8();
        }
        if input.u8() == 0xff {
            node.truncate(input.upto(POPCORN_SETUP_DATA_SIZE));
        }
        if let Ok(info) = parse_setup_data(&node) {
            check_accepted(&info, &node);
        }
    } else {
        let i = info(&mut input);
        let fill = input.u8();
        let mut out = vec![fill; POPCORN_SETUP_DATA_SIZE + input.upto(8)];
        if input.u8() == 0xff {
            out.truncate(input.upto(POPCORN_SETUP_DATA_SIZE));
        }
        let before = out.clone();
        match build_setup_data(&mut out, &i) {
            Ok(n) => {
                assert!(valid(&i), "built against the rules: {i:?}");
                assert_eq!(n, POPCORN_SETUP_DATA_SIZE);
                assert_eq!(&out[n..], &before[n..], "wrote past the node");
                assert_eq!(parse_setup_data(&out), Ok(i), "parse(build(x)) != x");
                check_accepted(&i, &out);
            }
            Err(e) => {
                assert!(!valid(&i) || before.len() < POPCORN_SETUP_DATA_SIZE, "refused a good node: {e}");
                assert_eq!(out, before, "a refusal wrote into the buffer");
                assert!(i.validate().is_err() || before.len() < POPCORN_SETUP_DATA_SIZE);
            }
        }
    }
});
