//! Cutting secondary kernels' partitions out of the reserved memory pool.
//!
//! At boot the primary reserves one contiguous pool of RAM (`memmap=` or
//! CMA-like early reservation); it is the only memory secondaries ever get.
//! Each secondary receives one partition of it, and gives it back when it
//! stops, in whatever order kernels happen to stop. The same space must then
//! be usable again: starting and stopping a secondary any number of times
//! leaves the pool exactly as it was.
//!
//! [`PartitionPool`] is that bookkeeping, and nothing else: it never touches
//! the memory. It keeps the allocated partitions in a fixed array sorted by
//! address (no allocator, and a kernel runs at most [`MAX_PARTITIONS`]
//! secondaries); the free holes are the gaps between them, so the two views
//! can never disagree. Allocation is first fit at the lowest address, which
//! keeps the top of the pool in one piece for as long as possible and makes
//! placements predictable in logs and tests.
//!
//! Everything is in units of [`PARTITION_ALIGN`] (2 MiB): a secondary's RAM
//! is mapped with 2 MiB pages while it boots, and the x86 kernel wants its
//! physical load address 2 MiB aligned. Requests of other sizes are refused,
//! not rounded, so that what a user asked for is what a secondary gets.
//!
//! Requires nothing but `core`.

use core::fmt;

/// Alignment of the pool and of every partition's base and size: 2 MiB.
pub const PARTITION_ALIGN: u64 = 2 << 20;

/// Most partitions a pool hands out at once (one per running secondary).
pub const MAX_PARTITIONS: usize = 8;

const MIB: u64 = 1 << 20;
/// The offset bits within [`PARTITION_ALIGN`] (a power of two).
const ALIGN_MASK: u64 = PARTITION_ALIGN - 1;

/// A range of the pool given to one secondary kernel: `size` bytes from
/// physical address `base`.
///
/// Partitions made by [`PartitionPool::allocate`] have a non-zero size and
/// `base` and `size` aligned to [`PARTITION_ALIGN`]; the fields are public
/// so that the kernel can read them, and [`PartitionPool::release`] refuses
/// any value it did not hand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Partition {
    /// First physical address.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl Partition {
    /// One past the last physical address (saturating; never reached by
    /// partitions of a pool, whose end fits in 64 bits).
    pub const fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }

    /// Whether physical address `addr` lies in the partition.
    pub const fn contains(&self, addr: u64) -> bool {
        addr >= self.base && addr < self.end()
    }

    /// Whether the two partitions share a byte.
    pub const fn overlaps(&self, other: &Partition) -> bool {
        self.base < other.end() && other.base < self.end()
    }
}

/// Prints the range in the kernel's `%pR` style, with the size in MiB:
/// `[mem 0x0000000040000000-0x000000005fffffff] (512 MiB)`.
impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[mem {:#018x}-{:#018x}] ({} MiB)",
            self.base,
            self.end().saturating_sub(1),
            self.size / MIB
        )
    }
}

/// A free range of the pool, as listed by [`PartitionPool::holes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hole {
    /// First physical address.
    pub base: u64,
    /// Length in bytes; never zero.
    pub size: u64,
}

/// Why a pool could not be set up, or a partition allocated or released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// The pool to manage has size zero.
    EmptyPool,
    /// The pool's base or size is not a multiple of [`PARTITION_ALIGN`].
    UnalignedPool { base: u64, size: u64 },
    /// The pool's end, `base + size`, does not fit in 64 bits.
    PoolOverflow { base: u64, size: u64 },
    /// A partition of size zero was asked for.
    ZeroSize,
    /// A partition size that is not a multiple of [`PARTITION_ALIGN`].
    UnalignedSize { size: u64 },
    /// No free hole holds `requested` bytes; the largest one has
    /// `largest_free` (zero when the pool is full).
    Exhausted { requested: u64, largest_free: u64 },
    /// [`MAX_PARTITIONS`] partitions are allocated already.
    TooManyPartitions,
    /// The partition to release is not one the pool handed out (or it was
    /// released already).
    NotAllocated { base: u64, size: u64 },
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PoolError::EmptyPool => write!(f, "the memory pool is empty"),
            PoolError::UnalignedPool { base, size } => write!(
                f,
                "memory pool at {base:#x} of {size:#x} bytes is not 2 MiB aligned"
            ),
            PoolError::PoolOverflow { base, size } => write!(
                f,
                "memory pool at {base:#x} of {size:#x} bytes ends beyond 2^64"
            ),
            PoolError::ZeroSize => write!(f, "partition size is zero"),
            PoolError::UnalignedSize { size } => {
                write!(f, "partition size {size} is not a multiple of 2 MiB")
            }
            PoolError::Exhausted {
                requested,
                largest_free,
            } => write!(
                f,
                "no free {} MiB in the memory pool (largest free hole: {} MiB)",
                requested / MIB,
                largest_free / MIB
            ),
            PoolError::TooManyPartitions => {
                write!(f, "all {MAX_PARTITIONS} memory partitions are in use")
            }
            PoolError::NotAllocated { base, size } => write!(
                f,
                "no partition of {size:#x} bytes at {base:#x} is allocated"
            ),
        }
    }
}

/// The reserved pool and the partitions currently cut out of it.
///
/// Two pools compare equal when they cover the same range and hold the same
/// partitions, so a test can check that a pool is back where it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionPool {
    base: u64,
    size: u64,
    /// The allocated partitions, sorted by base, non-overlapping, inside the
    /// pool; entries from `count` on are `Partition::default()`.
    parts: [Partition; MAX_PARTITIONS],
    count: usize,
}

impl PartitionPool {
    /// A pool of `size` bytes at physical address `base` with nothing
    /// allocated. Both must be non-zero multiples of [`PARTITION_ALIGN`]
    /// (`base` may be zero), and the pool must end below 2^64.
    pub const fn new(base: u64, size: u64) -> Result<Self, PoolError> {
        if size == 0 {
            return Err(PoolError::EmptyPool);
        }
        if (base | size) & ALIGN_MASK != 0 {
            return Err(PoolError::UnalignedPool { base, size });
        }
        if base.checked_add(size).is_none() {
            return Err(PoolError::PoolOverflow { base, size });
        }
        Ok(PartitionPool {
            base,
            size,
            parts: [Partition { base: 0, size: 0 }; MAX_PARTITIONS],
            count: 0,
        })
    }

    /// First physical address of the pool.
    pub const fn base(&self) -> u64 {
        self.base
    }

    /// One past the last physical address of the pool.
    pub const fn end(&self) -> u64 {
        // Checked in `new`.
        self.base.saturating_add(self.size)
    }

    /// Size of the whole pool, allocated or not.
    pub const fn total_bytes(&self) -> u64 {
        self.size
    }

    /// Bytes not in any partition.
    pub fn free_bytes(&self) -> u64 {
        self.size.saturating_sub(self.allocated_bytes())
    }

    /// Bytes in partitions.
    pub fn allocated_bytes(&self) -> u64 {
        self.partitions()
            .fold(0u64, |sum, part| sum.saturating_add(part.size))
    }

    /// Size of the largest free hole; zero when the pool is full. A request
    /// of up to this size succeeds (if a partition slot is left).
    pub fn largest_free(&self) -> u64 {
        self.holes().map(|hole| hole.size).max().unwrap_or(0)
    }

    /// Number of partitions allocated.
    pub const fn partition_count(&self) -> usize {
        self.count
    }

    /// The allocated partitions, by increasing address.
    pub fn partitions(&self) -> impl Iterator<Item = Partition> + '_ {
        self.parts.iter().take(self.count).copied()
    }

    /// The free holes, by increasing address. Adjacent free space is always
    /// reported as one hole.
    pub fn holes(&self) -> Holes<'_> {
        Holes {
            pool: self,
            next_part: 0,
            cursor: self.base,
        }
    }

    /// Cuts a partition of `size` bytes from the lowest free hole that holds
    /// it.
    ///
    /// `size` must be a non-zero multiple of [`PARTITION_ALIGN`]. Fails with
    /// [`PoolError::TooManyPartitions`] when [`MAX_PARTITIONS`] are
    /// allocated, and with [`PoolError::Exhausted`] (naming the largest free
    /// hole) when no hole is large enough. On error the pool is unchanged.
    pub fn allocate(&mut self, size: u64) -> Result<Partition, PoolError> {
        if size == 0 {
            return Err(PoolError::ZeroSize);
        }
        if size & ALIGN_MASK != 0 {
            return Err(PoolError::UnalignedSize { size });
        }
        if self.count >= MAX_PARTITIONS {
            return Err(PoolError::TooManyPartitions);
        }
        let hole = self
            .holes()
            .find(|hole| hole.size >= size)
            .ok_or(PoolError::Exhausted {
                requested: size,
                largest_free: self.largest_free(),
            })?;
        let part = Partition {
            base: hole.base,
            size,
        };
        let index = self.partitions().take_while(|p| p.base < part.base).count();
        self.insert_at(index, part)?;
        Ok(part)
    }

    /// Gives `partition` back to the pool. It must be exactly a partition
    /// that [`allocate`](Self::allocate) returned and that is not released
    /// yet; anything else is refused with [`PoolError::NotAllocated`] and
    /// leaves the pool unchanged.
    pub fn release(&mut self, partition: Partition) -> Result<(), PoolError> {
        let not_allocated = PoolError::NotAllocated {
            base: partition.base,
            size: partition.size,
        };
        let index = self
            .partitions()
            .position(|p| p == partition)
            .ok_or(not_allocated)?;
        // Shift the partitions after `index` down by one, carrying an empty
        // entry into the last used slot.
        let used = self.parts.iter_mut().take(self.count).skip(index);
        let mut carry = Partition::default();
        for slot in used.rev() {
            carry = core::mem::replace(slot, carry);
        }
        self.count = self.count.saturating_sub(1);
        Ok(())
    }

    /// The default partition size for a secondary started without `mem=`.
    ///
    /// The free bytes are shared evenly among the `reserved_slots_left`
    /// secondaries that may still start (counting the one being started; 0
    /// is taken as 1), rounded down to [`PARTITION_ALIGN`], so that starting
    /// them one after the other without `mem=` leaves room for each. The
    /// result is capped at [`largest_free`](Self::largest_free), because a
    /// partition is contiguous: when the free space is fragmented, the
    /// default is what can actually be allocated now.
    ///
    /// Zero means no partition can be offered (the pool is full, or its free
    /// space is less than 2 MiB per remaining secondary); the caller reports
    /// that instead of calling [`allocate`](Self::allocate).
    pub fn default_share(&self, reserved_slots_left: usize) -> u64 {
        let slots = u64::try_from(reserved_slots_left.max(1)).unwrap_or(u64::MAX);
        let share = self.free_bytes().checked_div(slots).unwrap_or(0);
        let share = share & !ALIGN_MASK;
        share.min(self.largest_free())
    }

    /// Puts `part` at position `index` of the sorted array, shifting the
    /// later ones up. The caller has checked that a slot is free.
    fn insert_at(&mut self, index: usize, part: Partition) -> Result<(), PoolError> {
        if self.count >= MAX_PARTITIONS || index > self.count {
            return Err(PoolError::TooManyPartitions);
        }
        let slots = self
            .parts
            .iter_mut()
            .take(self.count.saturating_add(1))
            .skip(index);
        let mut carry = part;
        for slot in slots {
            carry = core::mem::replace(slot, carry);
        }
        self.count = self.count.saturating_add(1);
        Ok(())
    }
}

/// Iterator over the free holes of a pool, see [`PartitionPool::holes`].
pub struct Holes<'a> {
    pool: &'a PartitionPool,
    /// Index of the first partition at or above `cursor`.
    next_part: usize,
    /// Start of the space not yet reported.
    cursor: u64,
}

impl Iterator for Holes<'_> {
    type Item = Hole;

    fn next(&mut self) -> Option<Hole> {
        while let Some(part) = self.pool.partitions().nth(self.next_part) {
            self.next_part = self.next_part.saturating_add(1);
            let gap = part.base.saturating_sub(self.cursor);
            let start = self.cursor;
            self.cursor = part.end();
            if gap > 0 {
                return Some(Hole {
                    base: start,
                    size: gap,
                });
            }
        }
        let end = self.pool.end();
        if self.cursor < end {
            let hole = Hole {
                base: self.cursor,
                size: end.saturating_sub(self.cursor),
            };
            self.cursor = end;
            return Some(hole);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::string::ToString;
    use std::vec::Vec;

    const M2: u64 = PARTITION_ALIGN;
    const GIB: u64 = 1 << 30;

    fn pool(base: u64, size: u64) -> PartitionPool {
        PartitionPool::new(base, size).expect("valid pool")
    }

    fn holes(pool: &PartitionPool) -> Vec<(u64, u64)> {
        pool.holes().map(|h| (h.base, h.size)).collect()
    }

    fn parts(pool: &PartitionPool) -> Vec<(u64, u64)> {
        pool.partitions().map(|p| (p.base, p.size)).collect()
    }

    #[test]
    fn new_validates_the_pool() {
        assert_eq!(PartitionPool::new(GIB, 0), Err(PoolError::EmptyPool));
        assert_eq!(PartitionPool::new(0, 0), Err(PoolError::EmptyPool));
        assert_eq!(
            PartitionPool::new(GIB + 4096, GIB),
            Err(PoolError::UnalignedPool {
                base: GIB + 4096,
                size: GIB
            })
        );
        assert_eq!(
            PartitionPool::new(GIB, GIB + MIB),
            Err(PoolError::UnalignedPool {
                base: GIB,
                size: GIB + MIB
            })
        );
        let top = u64::MAX - (M2 - 1);
        assert_eq!(
            PartitionPool::new(top, M2),
            Err(PoolError::PoolOverflow {
                base: top,
                size: M2
            })
        );
        assert_eq!(
            PartitionPool::new(M2, top),
            Err(PoolError::PoolOverflow {
                base: M2,
                size: top
            })
        );
        // The highest pool that fits: ends exactly at the last 2 MiB.
        let p = pool(top - M2, M2);
        assert_eq!(p.end(), top);
        let p = pool(0, M2);
        assert_eq!((p.base(), p.end(), p.total_bytes()), (0, M2, M2));
    }

    #[test]
    fn a_new_pool_is_one_hole() {
        let p = pool(4 * GIB, GIB);
        assert_eq!(p.free_bytes(), GIB);
        assert_eq!(p.allocated_bytes(), 0);
        assert_eq!(p.largest_free(), GIB);
        assert_eq!(p.partition_count(), 0);
        assert_eq!(holes(&p), [(4 * GIB, GIB)]);
        assert_eq!(p.partitions().count(), 0);
    }

    #[test]
    fn allocates_first_fit_from_the_bottom() {
        let mut p = pool(GIB, GIB);
        let a = p.allocate(256 * MIB).unwrap();
        let b = p.allocate(128 * MIB).unwrap();
        let c = p.allocate(M2).unwrap();
        assert_eq!(
            a,
            Partition {
                base: GIB,
                size: 256 * MIB
            }
        );
        assert_eq!(b.base, GIB + 256 * MIB);
        assert_eq!(c.base, GIB + 384 * MIB);
        assert_eq!(p.free_bytes(), GIB - 384 * MIB - M2);
        assert_eq!(holes(&p), [(GIB + 384 * MIB + M2, GIB - 384 * MIB - M2)]);

        // Free the middle one: a small request fills the lowest hole that
        // holds it, a large one skips it.
        p.release(b).unwrap();
        assert_eq!(
            holes(&p),
            [
                (GIB + 256 * MIB, 128 * MIB),
                (GIB + 384 * MIB + M2, GIB - 384 * MIB - M2)
            ]
        );
        let big = p.allocate(256 * MIB).unwrap();
        assert_eq!(big.base, GIB + 384 * MIB + M2);
        let small = p.allocate(64 * MIB).unwrap();
        assert_eq!(small.base, GIB + 256 * MIB);
        assert_eq!(
            parts(&p),
            [
                (GIB, 256 * MIB),
                (GIB + 256 * MIB, 64 * MIB),
                (GIB + 384 * MIB, M2),
                (GIB + 384 * MIB + M2, 256 * MIB)
            ]
        );
    }

    #[test]
    fn the_whole_pool_can_be_one_partition() {
        let mut p = pool(0, 64 * MIB);
        let all = p.allocate(64 * MIB).unwrap();
        assert_eq!(
            all,
            Partition {
                base: 0,
                size: 64 * MIB
            }
        );
        assert_eq!(p.free_bytes(), 0);
        assert_eq!(p.largest_free(), 0);
        assert_eq!(p.holes().count(), 0);
        assert_eq!(
            p.allocate(M2),
            Err(PoolError::Exhausted {
                requested: M2,
                largest_free: 0
            })
        );
        p.release(all).unwrap();
        assert_eq!(p, pool(0, 64 * MIB));
    }

    #[test]
    fn refuses_bad_sizes() {
        let mut p = pool(GIB, GIB);
        assert_eq!(p.allocate(0), Err(PoolError::ZeroSize));
        assert_eq!(p.allocate(1), Err(PoolError::UnalignedSize { size: 1 }));
        assert_eq!(
            p.allocate(M2 + 4096),
            Err(PoolError::UnalignedSize { size: M2 + 4096 })
        );
        assert_eq!(p.allocate(MIB), Err(PoolError::UnalignedSize { size: MIB }));
        assert_eq!(
            p.allocate(u64::MAX),
            Err(PoolError::UnalignedSize { size: u64::MAX })
        );
        assert_eq!(p, pool(GIB, GIB));
    }

    #[test]
    fn reports_the_largest_hole_when_exhausted() {
        let mut p = pool(0, 16 * M2);
        let a = p.allocate(4 * M2).unwrap();
        let _b = p.allocate(2 * M2).unwrap();
        let c = p.allocate(4 * M2).unwrap();
        let _d = p.allocate(M2).unwrap();
        p.release(a).unwrap();
        p.release(c).unwrap();
        // Holes: 4, 4 and 5 blocks, 13 free in all, but not 6 in a row.
        assert_eq!(p.free_bytes(), 13 * M2);
        assert_eq!(p.largest_free(), 5 * M2);
        let before = p.clone();
        assert_eq!(
            p.allocate(6 * M2),
            Err(PoolError::Exhausted {
                requested: 6 * M2,
                largest_free: 5 * M2
            })
        );
        assert_eq!(p, before);
        assert_eq!(
            p.allocate(u64::MAX - (M2 - 1)),
            Err(PoolError::Exhausted {
                requested: u64::MAX - (M2 - 1),
                largest_free: 5 * M2
            })
        );
        assert_eq!(p.allocate(5 * M2).unwrap().base, 11 * M2);
    }

    #[test]
    fn caps_the_number_of_partitions() {
        let mut p = pool(0, GIB);
        let all: Vec<Partition> = (0..MAX_PARTITIONS)
            .map(|_| p.allocate(M2).unwrap())
            .collect();
        assert_eq!(p.partition_count(), MAX_PARTITIONS);
        let before = p.clone();
        assert_eq!(p.allocate(M2), Err(PoolError::TooManyPartitions));
        assert_eq!(p, before);
        p.release(all[3]).unwrap();
        assert_eq!(p.allocate(M2).unwrap(), all[3]);
        assert_eq!(p.allocate(M2), Err(PoolError::TooManyPartitions));
    }

    #[test]
    fn release_refuses_what_was_not_handed_out() {
        let mut p = pool(GIB, GIB);
        let a = p.allocate(64 * MIB).unwrap();
        let b = p.allocate(64 * MIB).unwrap();
        let before = p.clone();
        let bogus = [
            Partition {
                base: a.base,
                size: M2,
            },
            Partition {
                base: a.base,
                size: 128 * MIB,
            },
            Partition {
                base: a.base + M2,
                size: 62 * MIB,
            },
            Partition {
                base: b.end(),
                size: 64 * MIB,
            },
            Partition { base: 0, size: 0 },
            Partition::default(),
            Partition {
                base: u64::MAX,
                size: u64::MAX,
            },
        ];
        for part in bogus {
            assert_eq!(
                p.release(part),
                Err(PoolError::NotAllocated {
                    base: part.base,
                    size: part.size
                })
            );
            assert_eq!(p, before);
        }
        p.release(a).unwrap();
        assert_eq!(
            p.release(a),
            Err(PoolError::NotAllocated {
                base: a.base,
                size: a.size
            })
        );
        p.release(b).unwrap();
        assert_eq!(p, pool(GIB, GIB));
    }

    #[test]
    fn freed_neighbours_merge_into_one_hole() {
        let mut p = pool(0, 10 * M2);
        let a = p.allocate(2 * M2).unwrap();
        let b = p.allocate(3 * M2).unwrap();
        let c = p.allocate(M2).unwrap();
        p.release(a).unwrap();
        p.release(b).unwrap();
        assert_eq!(holes(&p), [(0, 5 * M2), (6 * M2, 4 * M2)]);
        p.release(c).unwrap();
        assert_eq!(holes(&p), [(0, 10 * M2)]);
    }

    #[test]
    fn staging_and_releasing_twenty_times_restores_the_pool() {
        let start = pool(GIB, 3 * GIB);
        let mut p = start.clone();
        for _ in 0..20 {
            let part = p.allocate(512 * MIB).unwrap();
            assert_eq!(part.base, GIB);
            p.release(part).unwrap();
            assert_eq!(p, start);
        }
        // And with several partitions released in mixed order.
        for round in 0..20 {
            let got: Vec<Partition> = (1..=5).map(|n| p.allocate(n * 64 * MIB).unwrap()).collect();
            let order: [usize; 5] = if round % 2 == 0 {
                [2, 0, 4, 1, 3]
            } else {
                [4, 3, 2, 1, 0]
            };
            for i in order {
                p.release(got[i]).unwrap();
            }
            assert_eq!(p, start);
        }
    }

    #[test]
    fn default_share_divides_the_free_space() {
        let mut p = pool(0, GIB);
        assert_eq!(p.default_share(1), GIB);
        assert_eq!(p.default_share(0), GIB);
        assert_eq!(p.default_share(2), 512 * MIB);
        assert_eq!(p.default_share(4), 256 * MIB);
        // 1 GiB / 3 = 341.33 MiB, rounded down to 340 MiB.
        assert_eq!(p.default_share(3), 340 * MIB);
        assert_eq!(p.default_share(512), M2);
        assert_eq!(p.default_share(513), 0);
        assert_eq!(p.default_share(usize::MAX), 0);

        // Fragmented: 13 blocks free, but at most 5 contiguous.
        let mut p2 = pool(0, 16 * M2);
        let a = p2.allocate(4 * M2).unwrap();
        p2.allocate(2 * M2).unwrap();
        let c = p2.allocate(4 * M2).unwrap();
        p2.allocate(M2).unwrap();
        p2.release(a).unwrap();
        p2.release(c).unwrap();
        assert_eq!(p2.default_share(1), 5 * M2);
        assert_eq!(p2.default_share(2), 5 * M2);
        assert_eq!(p2.default_share(3), 4 * M2);
        assert_eq!(p2.allocate(p2.default_share(1)).unwrap().size, 5 * M2);

        // The share that is offered can always be allocated.
        let share = p.default_share(3);
        let first = p.allocate(share).unwrap();
        // 684 MiB left for two.
        assert_eq!(p.default_share(2), 342 * MIB);
        p.release(first).unwrap();
        let full = p.allocate(GIB).unwrap();
        assert_eq!(p.default_share(1), 0);
        p.release(full).unwrap();
    }

    #[test]
    fn partition_helpers() {
        let a = Partition {
            base: 4 * M2,
            size: 2 * M2,
        };
        assert_eq!(a.end(), 6 * M2);
        assert!(a.contains(4 * M2));
        assert!(a.contains(6 * M2 - 1));
        assert!(!a.contains(6 * M2));
        assert!(!a.contains(4 * M2 - 1));
        assert!(a.overlaps(&Partition {
            base: 5 * M2,
            size: 4 * M2
        }));
        assert!(!a.overlaps(&Partition {
            base: 6 * M2,
            size: M2
        }));
        assert!(!a.overlaps(&Partition {
            base: 0,
            size: 4 * M2
        }));
        assert!(
            a < Partition {
                base: 5 * M2,
                size: M2
            }
        );
        let huge = Partition {
            base: u64::MAX,
            size: u64::MAX,
        };
        assert_eq!(huge.end(), u64::MAX);
    }

    #[test]
    fn display() {
        let a = Partition {
            base: GIB,
            size: 512 * MIB,
        };
        assert_eq!(
            a.to_string(),
            "[mem 0x0000000040000000-0x000000005fffffff] (512 MiB)"
        );
        assert_eq!(
            PoolError::Exhausted {
                requested: 512 * MIB,
                largest_free: 256 * MIB
            }
            .to_string(),
            "no free 512 MiB in the memory pool (largest free hole: 256 MiB)"
        );
        assert_eq!(
            PoolError::TooManyPartitions.to_string(),
            "all 8 memory partitions are in use"
        );
        assert_eq!(
            PoolError::UnalignedSize { size: 4096 }.to_string(),
            "partition size 4096 is not a multiple of 2 MiB"
        );
        assert_eq!(
            PoolError::NotAllocated {
                base: GIB,
                size: M2
            }
            .to_string(),
            "no partition of 0x200000 bytes at 0x40000000 is allocated"
        );
        for e in [
            PoolError::EmptyPool,
            PoolError::UnalignedPool { base: 1, size: 2 },
            PoolError::PoolOverflow { base: 1, size: 2 },
            PoolError::ZeroSize,
        ] {
            assert!(!e.to_string().is_empty());
        }
    }

    /// Checks every invariant of a pool against `expected`, the set of
    /// partitions the test believes are allocated.
    fn check(p: &PartitionPool, expected: &[Partition]) -> Result<(), TestCaseError> {
        let got: Vec<Partition> = p.partitions().collect();
        let mut want = expected.to_vec();
        want.sort();
        prop_assert_eq!(&got, &want);
        for pair in got.windows(2) {
            prop_assert!(pair[0].end() <= pair[1].base, "overlap: {:?}", pair);
        }
        for part in &got {
            prop_assert!(part.base >= p.base() && part.end() <= p.end());
            prop_assert!(part.size > 0);
            prop_assert_eq!(part.base % PARTITION_ALIGN, 0);
            prop_assert_eq!(part.size % PARTITION_ALIGN, 0);
        }
        let allocated: u64 = got.iter().map(|part| part.size).sum();
        prop_assert_eq!(p.free_bytes() + allocated, p.total_bytes());
        prop_assert_eq!(p.allocated_bytes(), allocated);

        // Holes and partitions tile the pool exactly, and no two holes touch.
        let hs: Vec<Hole> = p.holes().collect();
        let free: u64 = hs.iter().map(|h| h.size).sum();
        prop_assert_eq!(free, p.free_bytes());
        let mut pieces: Vec<(u64, u64, bool)> = got
            .iter()
            .map(|part| (part.base, part.end(), true))
            .chain(hs.iter().map(|h| (h.base, h.base + h.size, false)))
            .collect();
        pieces.sort();
        let mut cursor = p.base();
        let mut last_was_hole = false;
        for (start, end, is_part) in pieces {
            prop_assert_eq!(start, cursor);
            prop_assert!(end > start);
            prop_assert!(is_part || !last_was_hole, "adjacent holes");
            last_was_hole = !is_part;
            cursor = end;
        }
        prop_assert_eq!(cursor, p.end());
        prop_assert_eq!(
            p.largest_free(),
            hs.iter().map(|h| h.size).max().unwrap_or(0)
        );
        Ok(())
    }

    #[derive(Debug, Clone)]
    enum Op {
        Allocate(u64),
        Release(usize),
        ReleaseBogus(u64, u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u64..24).prop_map(|blocks| Op::Allocate(blocks * M2)),
            1 => any::<u64>().prop_map(Op::Allocate),
            4 => any::<usize>().prop_map(Op::Release),
            1 => (0u64..40, 0u64..24).prop_map(|(b, s)| Op::ReleaseBogus(b * M2, s * M2)),
        ]
    }

    proptest! {
        #[test]
        fn random_allocations_and_releases_keep_the_books(
            base_blocks in 0u64..4096,
            size_blocks in 1u64..64,
            ops in proptest::collection::vec(op(), 0..80),
        ) {
            let start = pool(base_blocks * M2, size_blocks * M2);
            let mut p = start.clone();
            let mut live: Vec<Partition> = Vec::new();
            for op in ops {
                match op {
                    Op::Allocate(size) => {
                        let before = p.clone();
                        let fit = p.holes().find(|h| h.size >= size).map(|h| h.base);
                        let largest = p.largest_free();
                        match p.allocate(size) {
                            Ok(part) => {
                                prop_assert_eq!(part.size, size);
                                prop_assert_eq!(Some(part.base), fit);
                                prop_assert!(live.iter().all(|l| !l.overlaps(&part)));
                                live.push(part);
                            }
                            Err(e) => {
                                prop_assert_eq!(&p, &before);
                                let want = if size == 0 {
                                    PoolError::ZeroSize
                                } else if size % M2 != 0 {
                                    PoolError::UnalignedSize { size }
                                } else if live.len() == MAX_PARTITIONS {
                                    PoolError::TooManyPartitions
                                } else {
                                    prop_assert!(fit.is_none());
                                    PoolError::Exhausted { requested: size, largest_free: largest }
                                };
                                prop_assert_eq!(e, want);
                            }
                        }
                    }
                    Op::Release(i) => {
                        if !live.is_empty() {
                            let part = live.swap_remove(i % live.len());
                            prop_assert_eq!(p.release(part), Ok(()));
                        }
                    }
                    Op::ReleaseBogus(base, size) => {
                        let part = Partition { base, size };
                        let before = p.clone();
                        if let Some(i) = live.iter().position(|l| *l == part) {
                            live.swap_remove(i);
                            prop_assert_eq!(p.release(part), Ok(()));
                        } else {
                            prop_assert_eq!(
                                p.release(part),
                                Err(PoolError::NotAllocated { base, size })
                            );
                            prop_assert_eq!(&p, &before);
                        }
                    }
                }
                check(&p, &live)?;
                let share = p.default_share(MAX_PARTITIONS - live.len());
                prop_assert_eq!(share % M2, 0);
                prop_assert!(share <= p.largest_free());
                if share > 0 {
                    let mut trial = p.clone();
                    if live.len() < MAX_PARTITIONS {
                        prop_assert!(trial.allocate(share).is_ok());
                    }
                }
            }
            for part in live.drain(..) {
                prop_assert_eq!(p.release(part), Ok(()));
            }
            check(&p, &live)?;
            prop_assert_eq!(holes(&p), [(start.base(), start.total_bytes())]);
            prop_assert_eq!(p, start);
        }

        #[test]
        fn new_never_panics(base in any::<u64>(), size in any::<u64>()) {
            if let Ok(p) = PartitionPool::new(base, size) {
                prop_assert_eq!(holes(&p), [(base, size)]);
            }
        }
    }
}
