//! Where a secondary's kernel and initramfs go inside its partition.
//!
//! The kernel's protected-mode part is copied to the partition's base,
//! rounded up to the image's `kernel_alignment`, and owns `init_size`
//! bytes from there (the decompressor works in that range). The initramfs
//! goes at the top of the partition, page aligned, where boot loaders
//! usually put it. A kernel below 16 MiB (`LOAD_PHYSICAL_ADDR`) is refused:
//! the decompressor would move itself up to 16 MiB, out of the partition
//! and into the primary's RAM.
//!
//! Requires nothing but `core`.

use core::fmt;

/// Lowest address the decompressor leaves a relocatable kernel at.
pub const MIN_KERNEL_ADDRESS: u64 = 16 << 20;

/// Physical addresses of what goes into a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Where the protected-mode part is copied; the 64-bit entry is at +0x200.
    pub kernel: u64,
    /// First byte after the kernel's `init_size` range.
    pub kernel_end: u64,
    /// Where the initramfs is copied.
    pub initrd: u64,
    /// Its length.
    pub initrd_len: u64,
}

/// Why a kernel and initramfs cannot go into a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacementError {
    /// `kernel_alignment` is not a power of two.
    BadAlignment { alignment: u64 },
    /// The kernel would start below [`MIN_KERNEL_ADDRESS`].
    BelowMinimum { kernel: u64 },
    /// Kernel (`init_size`) and initramfs need more than the partition.
    DoesNotFit { needed: u64, size: u64 },
}

impl fmt::Display for PlacementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PlacementError::BadAlignment { alignment } => {
                write!(f, "kernel alignment {alignment:#x} is not a power of two")
            }
            PlacementError::BelowMinimum { kernel } => write!(
                f,
                "kernel at {kernel:#x} would be below 16 MiB, where the decompressor moves it out of the partition"
            ),
            PlacementError::DoesNotFit { needed, size } => write!(
                f,
                "kernel and initramfs need at least {needed} bytes, the partition has {size}"
            ),
        }
    }
}

/// Places a kernel needing `init_size` bytes at `kernel_alignment` and an
/// initramfs of `initrd_len` bytes into the partition `[base, base + size)`.
pub fn place(
    base: u64,
    size: u64,
    kernel_alignment: u64,
    init_size: u64,
    initrd_len: u64,
) -> Result<Placement, PlacementError> {
    let mask = match kernel_alignment.checked_sub(1) {
        Some(mask) if kernel_alignment.is_power_of_two() => mask,
        _ => {
            return Err(PlacementError::BadAlignment {
                alignment: kernel_alignment,
            })
        }
    };
    let too_big = PlacementError::DoesNotFit {
        needed: init_size.saturating_add(initrd_len),
        size,
    };
    let kernel = base.checked_add(mask).ok_or(too_big)? & !mask;
    if kernel < MIN_KERNEL_ADDRESS {
        return Err(PlacementError::BelowMinimum { kernel });
    }
    let kernel_end = kernel.checked_add(init_size).ok_or(too_big)?;
    let end = base.checked_add(size).ok_or(too_big)?;
    let initrd = end.checked_sub(initrd_len).ok_or(too_big)? & !0xfff;
    if initrd < kernel_end {
        return Err(PlacementError::DoesNotFit {
            needed: kernel_end.saturating_sub(base).saturating_add(initrd_len),
            size,
        });
    }
    Ok(Placement {
        kernel,
        kernel_end,
        initrd,
        initrd_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = 1 << 20;

    #[test]
    fn kernel_at_the_aligned_base_initrd_at_the_top() {
        let p = place(0x4000_0000, 512 * M, 2 * M, 40 * M, 0x1c_5936).unwrap();
        assert_eq!(p.kernel, 0x4000_0000);
        assert_eq!(p.kernel_end, 0x4000_0000 + 40 * M);
        assert_eq!(p.initrd, (0x4000_0000 + 512 * M - 0x1c_5936) & !0xfff);
        assert_eq!(p.initrd % 4096, 0);
        assert!(p.initrd + p.initrd_len <= 0x4000_0000 + 512 * M);
    }

    #[test]
    fn rounds_the_kernel_up_to_its_alignment() {
        let p = place(0x4020_0000, 512 * M, 16 * M, 40 * M, 4096).unwrap();
        assert_eq!(p.kernel, 0x4100_0000);
    }

    #[test]
    fn refuses_a_kernel_below_16_mib() {
        assert_eq!(
            place(2 * M, 512 * M, 2 * M, 40 * M, 4096),
            Err(PlacementError::BelowMinimum { kernel: 2 * M })
        );
        // Rounding up can lift it to exactly 16 MiB, which is fine.
        assert_eq!(
            place(14 * M, 512 * M, 16 * M, 40 * M, 4096).unwrap().kernel,
            16 * M
        );
    }

    #[test]
    fn refuses_what_does_not_fit() {
        assert!(matches!(
            place(0x4000_0000, 64 * M, 2 * M, 40 * M, 30 * M),
            Err(PlacementError::DoesNotFit { size, .. }) if size == 64 * M
        ));
        assert!(place(0x4000_0000, 64 * M, 2 * M, 40 * M, 24 * M - 4096).is_ok());
        assert!(place(0x4000_0000, 64 * M, 2 * M, 40 * M, 100 * M).is_err());
        assert!(place(u64::MAX - M, 4 * M, 2 * M, M, 4096).is_err());
    }

    #[test]
    fn refuses_a_bad_alignment() {
        assert_eq!(
            place(0x4000_0000, 512 * M, 3 * M, M, 0),
            Err(PlacementError::BadAlignment { alignment: 3 * M })
        );
    }

    proptest::proptest! {
        #[test]
        fn placements_stay_inside_and_never_overlap(
            base in 0u64..(8u64 << 30), size in 0u64..(2u64 << 30),
            align_log in 12u32..25, init_size in 0u64..(128u64 << 20), initrd in 0u64..(512u64 << 20),
        ) {
            if let Ok(p) = place(base, size, 1 << align_log, init_size, initrd) {
                proptest::prop_assert!(p.kernel >= base && p.kernel >= MIN_KERNEL_ADDRESS);
                proptest::prop_assert!(p.kernel_end <= p.initrd);
                proptest::prop_assert!(p.initrd + p.initrd_len <= base + size);
            }
        }
    }
}
