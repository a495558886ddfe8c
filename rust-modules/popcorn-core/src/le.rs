//! Little-endian fields at byte offsets, for layouts shared with C or with
//! another kernel. Reads past the end give `None` and writes past the end
//! do nothing, so no caller can panic on a short buffer.
//!
//! Requires nothing but `core`.

/// The `u16` at `off`, if the bytes are there.
pub fn read_u16(bytes: &[u8], off: usize) -> Option<u16> {
    let raw = bytes.get(off..off.checked_add(2)?)?;
    raw.try_into().ok().map(u16::from_le_bytes)
}

/// The `u32` at `off`, if the bytes are there.
pub fn read_u32(bytes: &[u8], off: usize) -> Option<u32> {
    let raw = bytes.get(off..off.checked_add(4)?)?;
    raw.try_into().ok().map(u32::from_le_bytes)
}

/// The `u64` at `off`, if the bytes are there.
pub fn read_u64(bytes: &[u8], off: usize) -> Option<u64> {
    let raw = bytes.get(off..off.checked_add(8)?)?;
    raw.try_into().ok().map(u64::from_le_bytes)
}

/// Copies `value` to `off`; returns whether it fit.
pub fn put(bytes: &mut [u8], off: usize, value: &[u8]) -> bool {
    let Some(end) = off.checked_add(value.len()) else {
        return false;
    };
    match bytes.get_mut(off..end) {
        Some(dest) => {
            dest.copy_from_slice(value);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_in_bounds_only() {
        let mut b = [0u8; 12];
        assert!(put(&mut b, 0, &0x1122_3344u32.to_le_bytes()));
        assert!(put(&mut b, 4, &0x0102_0304_0506_0708u64.to_le_bytes()));
        assert_eq!(read_u32(&b, 0), Some(0x1122_3344));
        assert_eq!(read_u64(&b, 4), Some(0x0102_0304_0506_0708));
        assert_eq!(read_u16(&b, 0), Some(0x3344));
        assert_eq!(read_u16(&b, 11), None);
        assert_eq!(read_u32(&b, 9), None);
        assert_eq!(read_u64(&b, 5), None);
        assert_eq!(read_u32(&b, usize::MAX), None);
        assert!(!put(&mut b, 10, &[1, 2, 3]));
        assert!(!put(&mut b, usize::MAX, &[1]));
        assert_eq!(b[10..], [0x02, 0x01]);
    }
}
