//! CPU lists in the kernel's `cpulist` syntax: `0-3,6,8-9`.
//!
//! Users write them to `/sys/kernel/popcorn/boot` (`cpus=2-3`) and the kernel
//! prints them in `kernels/N/cpus`. Parsing is strict: a request that names a
//! CPU twice, a reversed range or anything but digits, `-` and `,` is refused
//! rather than guessed at, because the result decides which CPUs a running
//! kernel gives away.
//!
//! Requires: `crate::text`.

use core::fmt;

use crate::text::trim_end;

/// Largest number of CPUs a [`CpuSet`] can hold. Larger than any `NR_CPUS`
/// we build with; callers check CPUs against the running kernel themselves.
pub const MAX_CPUS: usize = 512;

const WORDS: usize = MAX_CPUS / 64;

/// A set of CPU numbers below [`MAX_CPUS`].
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuSet {
    words: [u64; WORDS],
}

/// Why a CPU list was refused. Offsets are byte offsets into the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The list names no CPU at all.
    Empty,
    /// A byte that is not a digit, `-` or `,`.
    Junk { at: usize },
    /// A number was expected: leading, trailing or doubled `,` or `-`.
    MissingNumber { at: usize },
    /// A range whose end is below its start, such as `3-1`.
    Reversed { start: u32, end: u32 },
    /// A CPU number of [`MAX_CPUS`] or more (including numbers too long to
    /// fit any integer).
    TooLarge { at: usize },
    /// The same CPU appears twice, directly or through overlapping ranges.
    Duplicate { cpu: u32 },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ParseError::Empty => write!(f, "empty CPU list"),
            ParseError::Junk { at } => write!(f, "unexpected character at offset {at}"),
            ParseError::MissingNumber { at } => write!(f, "CPU number expected at offset {at}"),
            ParseError::Reversed { start, end } => write!(f, "reversed range {start}-{end}"),
            ParseError::TooLarge { at } => {
                write!(f, "CPU number at offset {at} is not below {MAX_CPUS}")
            }
            ParseError::Duplicate { cpu } => write!(f, "CPU {cpu} listed twice"),
        }
    }
}

impl CpuSet {
    /// The empty set.
    pub const fn new() -> Self {
        CpuSet { words: [0; WORDS] }
    }

    /// Parses a CPU list. Trailing ASCII whitespace (the newline `echo`
    /// appends) is ignored; any other whitespace is an error.
    pub fn parse(input: &[u8]) -> Result<Self, ParseError> {
        let input = trim_end(input);
        if input.is_empty() {
            return Err(ParseError::Empty);
        }
        let mut set = CpuSet::new();
        let mut pos = 0;
        loop {
            let (start, next) = parse_number(input, pos)?;
            let (end, next) = match input.get(next) {
                Some(b'-') => parse_number(input, next.saturating_add(1))?,
                _ => (start, next),
            };
            if end < start {
                return Err(ParseError::Reversed { start, end });
            }
            for cpu in start..=end {
                if !set.insert(cpu) {
                    return Err(ParseError::Duplicate { cpu });
                }
            }
            match input.get(next) {
                None => return Ok(set),
                Some(b',') => pos = next.saturating_add(1),
                Some(_) => return Err(ParseError::Junk { at: next }),
            }
        }
    }

    /// Adds `cpu`; returns false if it was already present or is out of range.
    pub fn insert(&mut self, cpu: u32) -> bool {
        let Some((word, bit)) = locate(cpu) else {
            return false;
        };
        let Some(slot) = self.words.get_mut(word) else {
            return false;
        };
        let was_set = *slot & bit != 0;
        *slot |= bit;
        !was_set
    }

    /// Removes `cpu`; returns whether it was present.
    pub fn remove(&mut self, cpu: u32) -> bool {
        let Some((word, bit)) = locate(cpu) else {
            return false;
        };
        let Some(slot) = self.words.get_mut(word) else {
            return false;
        };
        let was_set = *slot & bit != 0;
        *slot &= !bit;
        was_set
    }

    /// Whether `cpu` is in the set.
    pub fn contains(&self, cpu: u32) -> bool {
        locate(cpu)
            .and_then(|(word, bit)| self.words.get(word).map(|w| w & bit != 0))
            .unwrap_or(false)
    }

    /// Number of CPUs in the set.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// Whether the two sets share a CPU.
    pub fn intersects(&self, other: &CpuSet) -> bool {
        self.words
            .iter()
            .zip(other.words.iter())
            .any(|(a, b)| a & b != 0)
    }

    /// The CPUs in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..MAX_CPUS as u32).filter(move |&cpu| self.contains(cpu))
    }

    /// The set as increasing, maximal, inclusive ranges.
    pub fn ranges(&self) -> Ranges<'_> {
        Ranges { set: self, next: 0 }
    }
}

impl FromIterator<u32> for CpuSet {
    /// Collects CPUs; numbers at or above [`MAX_CPUS`] are dropped.
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        let mut set = CpuSet::new();
        for cpu in iter {
            set.insert(cpu);
        }
        set
    }
}

/// Iterator over the maximal ranges of a [`CpuSet`], see [`CpuSet::ranges`].
pub struct Ranges<'a> {
    set: &'a CpuSet,
    next: u32,
}

impl Iterator for Ranges<'_> {
    type Item = (u32, u32);

    fn next(&mut self) -> Option<(u32, u32)> {
        let start = (self.next..MAX_CPUS as u32).find(|&cpu| self.set.contains(cpu))?;
        let mut end = start;
        while let Some(after) = end.checked_add(1).filter(|&cpu| self.set.contains(cpu)) {
            end = after;
        }
        self.next = end.saturating_add(1);
        Some((start, end))
    }
}

/// Prints the canonical list (`0-3,6,8-9`), the format of the kernel's own
/// `/sys/devices/system/cpu/online`. The empty set prints as nothing.
impl fmt::Display for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (start, end)) in self.ranges().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CpuSet({self})")
    }
}

fn locate(cpu: u32) -> Option<(usize, u64)> {
    let cpu = cpu as usize;
    (cpu < MAX_CPUS).then(|| (cpu / 64, 1u64 << (cpu % 64)))
}

/// Parses the decimal number starting at `pos`; returns it and the offset of
/// the first byte after it.
fn parse_number(input: &[u8], pos: usize) -> Result<(u32, usize), ParseError> {
    let rest = input.get(pos..).unwrap_or(&[]);
    let mut value: u32 = 0;
    let mut digits: usize = 0;
    for &digit in rest.iter().take_while(|b| b.is_ascii_digit()) {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u32::from(digit.saturating_sub(b'0'))))
            .filter(|&v| (v as usize) < MAX_CPUS)
            .ok_or(ParseError::TooLarge { at: pos })?;
        digits = digits.saturating_add(1);
    }
    if digits == 0 {
        return match rest.first() {
            None | Some(b',') | Some(b'-') => Err(ParseError::MissingNumber { at: pos }),
            Some(_) => Err(ParseError::Junk { at: pos }),
        };
    }
    Ok((value, pos.saturating_add(digits)))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    fn parse(s: &str) -> Result<CpuSet, ParseError> {
        CpuSet::parse(s.as_bytes())
    }

    fn cpus(s: &str) -> Vec<u32> {
        parse(s).expect("valid list").iter().collect()
    }

    #[test]
    fn parses_single_cpus_and_ranges() {
        assert_eq!(cpus("0"), [0]);
        assert_eq!(cpus("0-3,6,8-9"), [0, 1, 2, 3, 6, 8, 9]);
        assert_eq!(cpus("2-3"), [2, 3]);
        assert_eq!(cpus("5-5"), [5]);
        assert_eq!(cpus("9,1"), [1, 9]);
        assert_eq!(cpus("007"), [7]);
        assert_eq!(cpus("511"), [511]);
    }

    #[test]
    fn ignores_only_trailing_whitespace() {
        assert_eq!(cpus("2-3\n"), [2, 3]);
        assert_eq!(cpus("1 \t\n"), [1]);
        assert_eq!(parse(" 1"), Err(ParseError::Junk { at: 0 }));
        assert_eq!(parse("1, 2"), Err(ParseError::Junk { at: 2 }));
    }

    #[test]
    fn refuses_empty_lists() {
        assert_eq!(parse(""), Err(ParseError::Empty));
        assert_eq!(parse("\n"), Err(ParseError::Empty));
        assert_eq!(parse("   "), Err(ParseError::Empty));
    }

    #[test]
    fn refuses_missing_numbers() {
        assert_eq!(parse(","), Err(ParseError::MissingNumber { at: 0 }));
        assert_eq!(parse("1,"), Err(ParseError::MissingNumber { at: 2 }));
        assert_eq!(parse("1,,2"), Err(ParseError::MissingNumber { at: 2 }));
        assert_eq!(parse("-3"), Err(ParseError::MissingNumber { at: 0 }));
        assert_eq!(parse("3-"), Err(ParseError::MissingNumber { at: 2 }));
        assert_eq!(parse("1--3"), Err(ParseError::MissingNumber { at: 2 }));
    }

    #[test]
    fn refuses_reversed_ranges() {
        assert_eq!(parse("3-1"), Err(ParseError::Reversed { start: 3, end: 1 }));
        assert_eq!(
            parse("0,9-8"),
            Err(ParseError::Reversed { start: 9, end: 8 })
        );
    }

    #[test]
    fn refuses_numbers_that_overflow_or_exceed_the_set() {
        assert_eq!(parse("512"), Err(ParseError::TooLarge { at: 0 }));
        assert_eq!(parse("0-512"), Err(ParseError::TooLarge { at: 2 }));
        assert_eq!(parse("4294967296"), Err(ParseError::TooLarge { at: 0 }));
        assert_eq!(
            parse("99999999999999999999999999"),
            Err(ParseError::TooLarge { at: 0 })
        );
    }

    #[test]
    fn refuses_junk() {
        assert_eq!(parse("a"), Err(ParseError::Junk { at: 0 }));
        assert_eq!(parse("1a"), Err(ParseError::Junk { at: 1 }));
        assert_eq!(parse("1-2-3"), Err(ParseError::Junk { at: 3 }));
        assert_eq!(parse("+1"), Err(ParseError::Junk { at: 0 }));
        assert_eq!(parse("1;2"), Err(ParseError::Junk { at: 1 }));
        assert_eq!(parse("0x2"), Err(ParseError::Junk { at: 1 }));
        assert_eq!(parse("1\n2"), Err(ParseError::Junk { at: 1 }));
        assert_eq!(CpuSet::parse(b"1\xff"), Err(ParseError::Junk { at: 1 }));
    }

    #[test]
    fn refuses_duplicates() {
        assert_eq!(parse("2,2"), Err(ParseError::Duplicate { cpu: 2 }));
        assert_eq!(parse("0-3,2"), Err(ParseError::Duplicate { cpu: 2 }));
        assert_eq!(parse("4-6,1-5"), Err(ParseError::Duplicate { cpu: 4 }));
    }

    #[test]
    fn prints_canonical_lists() {
        assert_eq!(CpuSet::new().to_string(), "");
        assert_eq!(parse("0-3,6,8-9").unwrap().to_string(), "0-3,6,8-9");
        assert_eq!(parse("9,8,0,2,1,3,6").unwrap().to_string(), "0-3,6,8-9");
        assert_eq!(parse("63-64").unwrap().to_string(), "63-64");
        assert_eq!(parse("0-511").unwrap().to_string(), "0-511");
        assert_eq!(parse("511").unwrap().to_string(), "511");
    }

    #[test]
    fn set_operations() {
        let mut set = parse("1-2").unwrap();
        assert_eq!(set.len(), 2);
        assert!(set.intersects(&parse("2-5").unwrap()));
        assert!(!set.intersects(&parse("3-5").unwrap()));
        assert!(set.remove(1));
        assert!(!set.remove(1));
        assert!(!set.insert(600));
        assert!(!set.contains(600));
        assert_eq!(
            [7u32, 3, 9999].into_iter().collect::<CpuSet>().to_string(),
            "3,7"
        );
        assert!(CpuSet::new().is_empty());
    }

    proptest::proptest! {
        #[test]
        fn printing_then_parsing_gives_the_same_set(cpus in proptest::collection::vec(0u32..MAX_CPUS as u32, 1..64)) {
            let set: CpuSet = cpus.into_iter().collect();
            let printed = set.to_string();
            proptest::prop_assert_eq!(parse(&printed), Ok(set));
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let _ = CpuSet::parse(&input);
        }
    }
}
