//! Checking that a file is a Linux x86 bzImage a secondary can boot.
//!
//! The format is the x86 boot protocol (`Documentation/arch/x86/boot.rst`):
//! the file starts with the real-mode setup code, `setup_sects` 512-byte
//! sectors after the boot sector, and the protected-mode kernel follows it.
//! The setup header sits at offset 0x1f1 of the file and ends where the
//! two-byte short jump at 0x200 lands; a boot loader copies the header into
//! the zero page (`struct boot_params`) it hands the kernel.
//!
//! Popcorn loads the protected-mode kernel into a secondary's RAM partition
//! and enters it through the 64-bit entry point, so it needs more than a
//! valid header: protocol 2.12 or later (`xloadflags`, 64-bit entry),
//! `XLF_KERNEL_64`, and a relocatable kernel, because the partition is
//! wherever the primary's reserved pool is, never the kernel's compiled-in
//! address. Everything else is refused with the reason, before anything is
//! copied.
//!
//! The checks run in this order: is this a bzImage at all (length, boot
//! flag, `HdrS`, protocol, header end), is it whole (protected-mode part
//! inside the file), can Popcorn boot it (64-bit, relocatable, alignment,
//! `init_size`). So a truncated file is reported as truncated even when it
//! would also be unbootable.
//!
//! Requires nothing but `core`.

use core::fmt;

/// Offset of the setup header in the file (and in the zero page).
pub const SETUP_HEADER_OFFSET: usize = 0x1f1;
/// End of the space the zero page gives the setup header: no header may
/// extend past it.
pub const HEADER_AREA_END: usize = 0x280;
/// Oldest boot protocol accepted: 2.12 added `xloadflags`.
pub const MIN_PROTOCOL: u16 = 0x020c;
/// `loadflags` bit: the protected-mode code loads at 0x100000.
pub const LOADED_HIGH: u8 = 1 << 0;
/// `xloadflags` bit: the kernel has the 64-bit entry point at 0x200.
pub const XLF_KERNEL_64: u16 = 1 << 0;
/// `xloadflags` bit: kernel, boot params and command line may be above 4 GiB.
pub const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 1 << 1;
/// The smallest `kernel_alignment` accepted: one page.
pub const MIN_KERNEL_ALIGNMENT: u32 = 4096;

const SECTOR: usize = 512;
const OFF_SETUP_SECTS: usize = 0x1f1;
const OFF_BOOT_FLAG: usize = 0x1fe;
const OFF_JUMP: usize = 0x200;
const OFF_HEADER_MAGIC: usize = 0x202;
const OFF_VERSION: usize = 0x206;
const OFF_LOADFLAGS: usize = 0x211;
const OFF_CODE32_START: usize = 0x214;
const OFF_KERNEL_ALIGNMENT: usize = 0x230;
const OFF_RELOCATABLE: usize = 0x234;
const OFF_MIN_ALIGNMENT: usize = 0x235;
const OFF_XLOADFLAGS: usize = 0x236;
const OFF_CMDLINE_SIZE: usize = 0x238;
const OFF_PREF_ADDRESS: usize = 0x258;
const OFF_INIT_SIZE: usize = 0x260;
/// The header must reach at least past `init_size`, the last field read.
const MIN_HEADER_END: usize = OFF_INIT_SIZE + 4;

const BOOT_FLAG: u16 = 0xaa55;
const HEADER_MAGIC: &[u8; 4] = b"HdrS";
/// x86 `jmp rel8`, the instruction at 0x200 that skips the header.
const SHORT_JUMP: u8 = 0xeb;

/// Why an image was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BzImageError {
    /// The file ends before the setup header area does (0x280 bytes).
    TooShort { len: usize },
    /// No 0xAA55 at 0x1fe: not a boot sector.
    NoBootFlag { found: u16 },
    /// No `HdrS` at 0x202: no setup header (a kernel older than 2.0, or
    /// not a kernel).
    NoHeaderMagic,
    /// Boot protocol older than [`MIN_PROTOCOL`].
    ProtocolTooOld { version: u16 },
    /// The byte at 0x200 is not a short jump, so the header's end is
    /// unknown.
    NoJump { opcode: u8 },
    /// The header, as the jump at 0x200 sizes it, ends before `init_size`
    /// or after [`HEADER_AREA_END`].
    BadHeaderEnd { header_end: usize },
    /// The protected-mode kernel would start at or after the end of the file.
    PayloadOutsideFile { offset: usize, len: usize },
    /// `XLF_KERNEL_64` is clear: no 64-bit entry point.
    Not64Bit,
    /// `relocatable_kernel` is zero: the kernel only runs at its
    /// compiled-in address (`CONFIG_RELOCATABLE=n`).
    NotRelocatable,
    /// `kernel_alignment` is not a power of two of at least 4096.
    BadAlignment { alignment: u32 },
    /// `init_size` is zero or smaller than the protected-mode kernel itself.
    BadInitSize { init_size: u32, payload_len: usize },
}

impl fmt::Display for BzImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BzImageError::TooShort { len } => write!(
                f,
                "image is {len} bytes, shorter than the setup header area ({HEADER_AREA_END})"
            ),
            BzImageError::NoBootFlag { found } => {
                write!(f, "no boot flag 0xaa55 at 0x1fe (found {found:#06x})")
            }
            BzImageError::NoHeaderMagic => write!(f, "no \"HdrS\" setup header at 0x202"),
            BzImageError::ProtocolTooOld { version } => write!(
                f,
                "boot protocol {}.{:02} is older than 2.12",
                version >> 8,
                version & 0xff
            ),
            BzImageError::NoJump { opcode } => {
                write!(f, "no short jump at 0x200 (found opcode {opcode:#04x})")
            }
            BzImageError::BadHeaderEnd { header_end } => write!(
                f,
                "setup header ends at {header_end:#x}, outside {MIN_HEADER_END:#x}..={HEADER_AREA_END:#x}"
            ),
            BzImageError::PayloadOutsideFile { offset, len } => write!(
                f,
                "protected-mode kernel at offset {offset} is outside the {len}-byte file (truncated?)"
            ),
            BzImageError::Not64Bit => write!(f, "not a 64-bit kernel (XLF_KERNEL_64 clear)"),
            BzImageError::NotRelocatable => {
                write!(f, "kernel is not relocatable (built without CONFIG_RELOCATABLE)")
            }
            BzImageError::BadAlignment { alignment } => write!(
                f,
                "kernel_alignment {alignment:#x} is not a power of two of at least {MIN_KERNEL_ALIGNMENT:#x}"
            ),
            BzImageError::BadInitSize {
                init_size,
                payload_len,
            } => write!(
                f,
                "init_size {init_size} is smaller than the {payload_len}-byte protected-mode kernel"
            ),
        }
    }
}

/// What Popcorn needs from a validated bzImage. Offsets are into the file
/// [`BzImage::parse`] was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BzImage {
    version: u16,
    setup_sects: u8,
    loadflags: u8,
    xloadflags: u16,
    code32_start: u32,
    kernel_alignment: u32,
    min_alignment_log2: u8,
    cmdline_size: u32,
    pref_address: u64,
    init_size: u32,
    header_end: usize,
    payload_offset: usize,
    payload_len: usize,
}

impl BzImage {
    /// Validates the whole image file; see the module docs for what is
    /// refused.
    pub fn parse(image: &[u8]) -> Result<Self, BzImageError> {
        let too_short = BzImageError::TooShort { len: image.len() };
        if image.len() < HEADER_AREA_END {
            return Err(too_short);
        }
        // With the length checked none of these reads can fail, but a
        // `get` that cannot fail is still no panic.
        let u8_at = |off: usize| image.get(off).copied().ok_or(too_short);
        let u16_at = |off: usize| {
            le_bytes(image, off)
                .map(u16::from_le_bytes)
                .ok_or(too_short)
        };
        let u32_at = |off: usize| {
            le_bytes(image, off)
                .map(u32::from_le_bytes)
                .ok_or(too_short)
        };
        let u64_at = |off: usize| {
            le_bytes(image, off)
                .map(u64::from_le_bytes)
                .ok_or(too_short)
        };

        let boot_flag = u16_at(OFF_BOOT_FLAG)?;
        if boot_flag != BOOT_FLAG {
            return Err(BzImageError::NoBootFlag { found: boot_flag });
        }
        if le_bytes::<4>(image, OFF_HEADER_MAGIC) != Some(*HEADER_MAGIC) {
            return Err(BzImageError::NoHeaderMagic);
        }
        let version = u16_at(OFF_VERSION)?;
        if version < MIN_PROTOCOL {
            return Err(BzImageError::ProtocolTooOld { version });
        }
        let opcode = u8_at(OFF_JUMP)?;
        if opcode != SHORT_JUMP {
            return Err(BzImageError::NoJump { opcode });
        }
        // The jump's target is relative to the next instruction, at 0x202.
        let header_end = OFF_HEADER_MAGIC.saturating_add(usize::from(u8_at(OFF_JUMP + 1)?));
        if !(MIN_HEADER_END..=HEADER_AREA_END).contains(&header_end) || header_end > image.len() {
            return Err(BzImageError::BadHeaderEnd { header_end });
        }

        let setup_sects = match u8_at(OFF_SETUP_SECTS)? {
            // Protocol: "If this field is 0, the real value is 4."
            0 => 4,
            n => n,
        };
        // At most 256 * 512: no overflow, but say so in the arithmetic.
        let payload_offset = usize::from(setup_sects)
            .saturating_add(1)
            .saturating_mul(SECTOR);
        let payload_len = match image.len().checked_sub(payload_offset) {
            Some(len) if len > 0 => len,
            _ => {
                return Err(BzImageError::PayloadOutsideFile {
                    offset: payload_offset,
                    len: image.len(),
                })
            }
        };

        let xloadflags = u16_at(OFF_XLOADFLAGS)?;
        if xloadflags & XLF_KERNEL_64 == 0 {
            return Err(BzImageError::Not64Bit);
        }
        if u8_at(OFF_RELOCATABLE)? == 0 {
            return Err(BzImageError::NotRelocatable);
        }
        let kernel_alignment = u32_at(OFF_KERNEL_ALIGNMENT)?;
        if !kernel_alignment.is_power_of_two() || kernel_alignment < MIN_KERNEL_ALIGNMENT {
            return Err(BzImageError::BadAlignment {
                alignment: kernel_alignment,
            });
        }
        let init_size = u32_at(OFF_INIT_SIZE)?;
        // A `u32` always fits a `usize` on the 64-bit targets this runs on;
        // should it not, treat the size as unlimited rather than wrap.
        let init_size_bytes = usize::try_from(init_size).unwrap_or(usize::MAX);
        if init_size == 0 || init_size_bytes < payload_len {
            return Err(BzImageError::BadInitSize {
                init_size,
                payload_len,
            });
        }

        Ok(BzImage {
            version,
            setup_sects,
            loadflags: u8_at(OFF_LOADFLAGS)?,
            xloadflags,
            code32_start: u32_at(OFF_CODE32_START)?,
            kernel_alignment,
            min_alignment_log2: u8_at(OFF_MIN_ALIGNMENT)?,
            cmdline_size: u32_at(OFF_CMDLINE_SIZE)?,
            pref_address: u64_at(OFF_PREF_ADDRESS)?,
            init_size,
            header_end,
            payload_offset,
            payload_len,
        })
    }

    /// Boot protocol version, major in the high byte: 0x020f is 2.15.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Number of 512-byte setup sectors after the boot sector, with the
    /// protocol's "0 means 4" applied.
    pub fn setup_sects(&self) -> u8 {
        self.setup_sects
    }

    /// `loadflags`; see [`LOADED_HIGH`].
    pub fn loadflags(&self) -> u8 {
        self.loadflags
    }

    /// `xloadflags`; see [`XLF_KERNEL_64`], [`XLF_CAN_BE_LOADED_ABOVE_4G`].
    pub fn xloadflags(&self) -> u16 {
        self.xloadflags
    }

    /// Whether the kernel, its zero page and command line may all be above
    /// 4 GiB.
    pub fn can_load_above_4g(&self) -> bool {
        self.xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G != 0
    }

    /// `code32_start`: where the kernel expects its protected-mode code by
    /// default (the 32-bit entry; Popcorn uses the 64-bit one at load
    /// address + 0x200).
    pub fn code32_start(&self) -> u32 {
        self.code32_start
    }

    /// Physical alignment the relocatable kernel needs (a power of two of at
    /// least 4096).
    pub fn kernel_alignment(&self) -> u32 {
        self.kernel_alignment
    }

    /// `min_alignment`: log2 of the smallest alignment the kernel accepts,
    /// as read (unchecked).
    pub fn min_alignment_log2(&self) -> u8 {
        self.min_alignment_log2
    }

    /// Longest command line the kernel accepts, not counting the NUL.
    pub fn cmdline_size(&self) -> u32 {
        self.cmdline_size
    }

    /// Load address the kernel prefers (its compiled-in address).
    pub fn pref_address(&self) -> u64 {
        self.pref_address
    }

    /// Bytes of memory the kernel needs from its load address to
    /// decompress and start; at least the protected-mode kernel's length.
    pub fn init_size(&self) -> u32 {
        self.init_size
    }

    /// Offset where the setup header ends (exclusive).
    pub fn header_end(&self) -> usize {
        self.header_end
    }

    /// Offset of the protected-mode kernel: `(setup_sects + 1) * 512`.
    pub fn payload_offset(&self) -> usize {
        self.payload_offset
    }

    /// Length of the protected-mode kernel: the rest of the file.
    pub fn payload_len(&self) -> usize {
        self.payload_len
    }

    /// The setup header, `image[0x1f1..header_end]`, to copy to the same
    /// offset of a zeroed zero page. `None` if `image` is not (at least as
    /// long as) the image this was parsed from.
    pub fn setup_header<'a>(&self, image: &'a [u8]) -> Option<&'a [u8]> {
        image.get(SETUP_HEADER_OFFSET..self.header_end)
    }

    /// The protected-mode kernel, to copy to the load address. `None` if
    /// `image` is not the image this was parsed from.
    pub fn payload<'a>(&self, image: &'a [u8]) -> Option<&'a [u8]> {
        let end = self.payload_offset.checked_add(self.payload_len)?;
        image.get(self.payload_offset..end)
    }
}

/// The `N` bytes at `off`, for `from_le_bytes`.
fn le_bytes<const N: usize>(image: &[u8], off: usize) -> Option<[u8; N]> {
    let end = off.checked_add(N)?;
    image.get(off..end)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;
    use std::vec;
    use std::vec::Vec;

    const SETUP_SECTS: u8 = 4;
    const PAYLOAD_LEN: usize = 8192;

    fn put(image: &mut [u8], off: usize, bytes: &[u8]) {
        image[off..off + bytes.len()].copy_from_slice(bytes);
    }

    /// A minimal image Popcorn accepts: protocol 2.15, 64-bit, relocatable,
    /// 4 setup sectors and an 8 KiB protected-mode part.
    fn synthetic() -> Vec<u8> {
        let payload_offset = (usize::from(SETUP_SECTS) + 1) * 512;
        let mut image = vec![0u8; payload_offset + PAYLOAD_LEN];
        image[OFF_SETUP_SECTS] = SETUP_SECTS;
        put(&mut image, OFF_BOOT_FLAG, &0xaa55u16.to_le_bytes());
        put(&mut image, OFF_JUMP, &[0xeb, 0x6a]);
        put(&mut image, OFF_HEADER_MAGIC, b"HdrS");
        put(&mut image, OFF_VERSION, &0x020fu16.to_le_bytes());
        image[OFF_LOADFLAGS] = LOADED_HIGH;
        put(&mut image, OFF_CODE32_START, &0x10_0000u32.to_le_bytes());
        put(
            &mut image,
            OFF_KERNEL_ALIGNMENT,
            &0x20_0000u32.to_le_bytes(),
        );
        image[OFF_RELOCATABLE] = 1;
        image[OFF_MIN_ALIGNMENT] = 21;
        put(
            &mut image,
            OFF_XLOADFLAGS,
            &(XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G).to_le_bytes(),
        );
        put(&mut image, OFF_CMDLINE_SIZE, &2047u32.to_le_bytes());
        put(&mut image, OFF_PREF_ADDRESS, &0x100_0000u64.to_le_bytes());
        put(&mut image, OFF_INIT_SIZE, &0x10_0000u32.to_le_bytes());
        // Mark the payload so `payload()` can be checked.
        image[payload_offset] = 0x5a;
        *image.last_mut().unwrap() = 0xa5;
        image
    }

    fn parse_with(patch: impl FnOnce(&mut Vec<u8>)) -> Result<BzImage, BzImageError> {
        let mut image = synthetic();
        patch(&mut image);
        BzImage::parse(&image)
    }

    #[test]
    fn parses_a_synthetic_image() {
        let image = synthetic();
        let bz = BzImage::parse(&image).unwrap();
        assert_eq!(bz.version(), 0x020f);
        assert_eq!(bz.setup_sects(), 4);
        assert_eq!(bz.payload_offset(), 5 * 512);
        assert_eq!(bz.payload_len(), PAYLOAD_LEN);
        assert_eq!(bz.loadflags(), LOADED_HIGH);
        assert_eq!(bz.xloadflags(), 3);
        assert!(bz.can_load_above_4g());
        assert_eq!(bz.code32_start(), 0x10_0000);
        assert_eq!(bz.kernel_alignment(), 0x20_0000);
        assert_eq!(bz.min_alignment_log2(), 21);
        assert_eq!(bz.cmdline_size(), 2047);
        assert_eq!(bz.pref_address(), 0x100_0000);
        assert_eq!(bz.init_size(), 0x10_0000);
        assert_eq!(bz.header_end(), 0x26c);

        let header = bz.setup_header(&image).unwrap();
        assert_eq!(header.len(), 0x26c - 0x1f1);
        assert_eq!(header[0], SETUP_SECTS);
        assert_eq!(&header[0x202 - 0x1f1..][..4], b"HdrS");
        let payload = bz.payload(&image).unwrap();
        assert_eq!(payload.len(), PAYLOAD_LEN);
        assert_eq!((payload[0], payload[PAYLOAD_LEN - 1]), (0x5a, 0xa5));
        // Slices of another, shorter image are refused, not indexed.
        assert_eq!(bz.setup_header(&image[..0x200]), None);
        assert_eq!(bz.payload(&image[..image.len() - 1]), None);
    }

    #[test]
    fn zero_setup_sects_means_four() {
        let bz = parse_with(|image| image[OFF_SETUP_SECTS] = 0).unwrap();
        assert_eq!(bz.setup_sects(), 4);
        assert_eq!(bz.payload_offset(), 2560);
    }

    #[test]
    fn protocol_2_12_and_a_header_ending_at_init_size_are_enough() {
        let bz = parse_with(|image| {
            put(image, OFF_VERSION, &0x020cu16.to_le_bytes());
            // 0x202 + 0x62 = 0x264, just past init_size.
            image[OFF_JUMP + 1] = 0x62;
        })
        .unwrap();
        assert_eq!(bz.version(), 0x020c);
        assert_eq!(bz.header_end(), 0x264);
        assert!(parse_with(|image| image[OFF_JUMP + 1] = 0x7e).is_ok());
    }

    #[test]
    fn refuses_short_files() {
        let image = synthetic();
        assert_eq!(
            BzImage::parse(&image[..0x27f]),
            Err(BzImageError::TooShort { len: 0x27f })
        );
        assert_eq!(BzImage::parse(&[]), Err(BzImageError::TooShort { len: 0 }));
    }

    #[test]
    fn refuses_a_missing_boot_flag() {
        assert_eq!(
            parse_with(|image| image[OFF_BOOT_FLAG] = 0),
            Err(BzImageError::NoBootFlag { found: 0xaa00 })
        );
    }

    #[test]
    fn refuses_a_missing_header_magic() {
        assert_eq!(
            parse_with(|image| put(image, OFF_HEADER_MAGIC, b"HdrZ")),
            Err(BzImageError::NoHeaderMagic)
        );
    }

    #[test]
    fn refuses_old_protocols() {
        assert_eq!(
            parse_with(|image| put(image, OFF_VERSION, &0x020bu16.to_le_bytes())),
            Err(BzImageError::ProtocolTooOld { version: 0x020b })
        );
    }

    #[test]
    fn refuses_a_missing_jump() {
        assert_eq!(
            parse_with(|image| image[OFF_JUMP] = 0xe9),
            Err(BzImageError::NoJump { opcode: 0xe9 })
        );
    }

    #[test]
    fn refuses_a_header_end_outside_the_header_area() {
        // Before init_size.
        assert_eq!(
            parse_with(|image| image[OFF_JUMP + 1] = 0x61),
            Err(BzImageError::BadHeaderEnd { header_end: 0x263 })
        );
        // Past 0x280.
        assert_eq!(
            parse_with(|image| image[OFF_JUMP + 1] = 0x7f),
            Err(BzImageError::BadHeaderEnd { header_end: 0x281 })
        );
        assert_eq!(
            parse_with(|image| image[OFF_JUMP + 1] = 0xff),
            Err(BzImageError::BadHeaderEnd { header_end: 0x301 })
        );
    }

    #[test]
    fn refuses_a_payload_outside_the_file() {
        let image = synthetic();
        // Exactly the setup code, no protected-mode part.
        assert_eq!(
            BzImage::parse(&image[..2560]),
            Err(BzImageError::PayloadOutsideFile {
                offset: 2560,
                len: 2560
            })
        );
        assert_eq!(
            parse_with(|image| image[OFF_SETUP_SECTS] = 255),
            Err(BzImageError::PayloadOutsideFile {
                offset: 256 * 512,
                len: 2560 + PAYLOAD_LEN
            })
        );
        // One byte of payload is enough for the structure checks.
        assert!(BzImage::parse(&image[..2561]).is_ok());
    }

    #[test]
    fn refuses_32_bit_kernels() {
        assert_eq!(
            parse_with(|image| image[OFF_XLOADFLAGS] = XLF_CAN_BE_LOADED_ABOVE_4G as u8),
            Err(BzImageError::Not64Bit)
        );
    }

    #[test]
    fn refuses_non_relocatable_kernels() {
        assert_eq!(
            parse_with(|image| image[OFF_RELOCATABLE] = 0),
            Err(BzImageError::NotRelocatable)
        );
        // Any non-zero value means relocatable.
        assert!(parse_with(|image| image[OFF_RELOCATABLE] = 2).is_ok());
    }

    #[test]
    fn refuses_bad_alignments() {
        for alignment in [0u32, 1, 2048, 0x3000, 0x20_0001, u32::MAX] {
            assert_eq!(
                parse_with(|image| put(image, OFF_KERNEL_ALIGNMENT, &alignment.to_le_bytes())),
                Err(BzImageError::BadAlignment { alignment }),
                "{alignment:#x}"
            );
        }
        for alignment in [4096u32, 0x1000_0000, 1 << 31] {
            assert!(
                parse_with(|image| put(image, OFF_KERNEL_ALIGNMENT, &alignment.to_le_bytes()))
                    .is_ok()
            );
        }
    }

    #[test]
    fn refuses_bad_init_sizes() {
        for init_size in [0u32, PAYLOAD_LEN as u32 - 1] {
            assert_eq!(
                parse_with(|image| put(image, OFF_INIT_SIZE, &init_size.to_le_bytes())),
                Err(BzImageError::BadInitSize {
                    init_size,
                    payload_len: PAYLOAD_LEN
                })
            );
        }
        let bz = parse_with(|image| put(image, OFF_INIT_SIZE, &(PAYLOAD_LEN as u32).to_le_bytes()))
            .unwrap();
        assert_eq!(bz.init_size() as usize, bz.payload_len());
    }

    #[test]
    fn errors_have_log_texts() {
        let cases = [
            (
                BzImageError::TooShort { len: 12 },
                "image is 12 bytes, shorter than the setup header area (640)",
            ),
            (
                BzImageError::NoBootFlag { found: 0x1234 },
                "no boot flag 0xaa55 at 0x1fe (found 0x1234)",
            ),
            (
                BzImageError::NoHeaderMagic,
                "no \"HdrS\" setup header at 0x202",
            ),
            (
                BzImageError::ProtocolTooOld { version: 0x0209 },
                "boot protocol 2.09 is older than 2.12",
            ),
            (
                BzImageError::NoJump { opcode: 0xe9 },
                "no short jump at 0x200 (found opcode 0xe9)",
            ),
            (
                BzImageError::BadHeaderEnd { header_end: 0x301 },
                "setup header ends at 0x301, outside 0x264..=0x280",
            ),
            (
                BzImageError::PayloadOutsideFile {
                    offset: 16384,
                    len: 1024,
                },
                "protected-mode kernel at offset 16384 is outside the 1024-byte file (truncated?)",
            ),
            (
                BzImageError::Not64Bit,
                "not a 64-bit kernel (XLF_KERNEL_64 clear)",
            ),
            (
                BzImageError::NotRelocatable,
                "kernel is not relocatable (built without CONFIG_RELOCATABLE)",
            ),
            (
                BzImageError::BadAlignment { alignment: 0x800 },
                "kernel_alignment 0x800 is not a power of two of at least 0x1000",
            ),
            (
                BzImageError::BadInitSize {
                    init_size: 5,
                    payload_len: 9,
                },
                "init_size 5 is smaller than the 9-byte protected-mode kernel",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(proptest::num::u8::ANY, 0..4096)) {
            let _ = BzImage::parse(&input);
        }

        #[test]
        fn corrupted_headers_never_panic_and_accepted_ones_are_consistent(
            patches in proptest::collection::vec((0x1f0usize..0x280, proptest::num::u8::ANY), 0..8),
            cut in 0usize..(2560 + PAYLOAD_LEN),
        ) {
            let mut image = synthetic();
            for (off, byte) in patches {
                image[off] = byte;
            }
            image.truncate(image.len() - cut);
            if let Ok(bz) = BzImage::parse(&image) {
                proptest::prop_assert!(bz.setup_header(&image).is_some());
                let payload = bz.payload(&image);
                proptest::prop_assert!(payload.is_some_and(|p| !p.is_empty()));
                proptest::prop_assert_eq!(bz.payload_offset() + bz.payload_len(), image.len());
                proptest::prop_assert!(bz.init_size() as usize >= bz.payload_len());
                proptest::prop_assert!(bz.header_end() <= HEADER_AREA_END);
            }
        }
    }

    /// The real kernel the project builds: `$POPCORN_BZIMAGE`, or
    /// `build/bzImage` in the repository. `None` (and a note) if missing.
    fn real_image() -> Option<(std::path::PathBuf, Vec<u8>)> {
        let path = match std::env::var_os("POPCORN_BZIMAGE") {
            Some(path) => std::path::PathBuf::from(path),
            None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/bzImage"),
        };
        match std::fs::read(&path) {
            Ok(image) => Some((path, image)),
            Err(error) => {
                std::println!(
                    "skipped: no bzImage at {} ({error}); set POPCORN_BZIMAGE",
                    path.display()
                );
                None
            }
        }
    }

    /// The real image with `relocatable_kernel` set, if the build has
    /// `CONFIG_RELOCATABLE=n`: Popcorn refuses such a kernel, but the other
    /// checks should still run on real data. Says so loudly.
    fn relocatable_copy(path: &std::path::Path, image: &[u8]) -> Vec<u8> {
        let mut copy = image.to_vec();
        if image.get(OFF_RELOCATABLE) == Some(&0) {
            std::println!(
                "NOTE: {} is not relocatable (CONFIG_RELOCATABLE=n), so Popcorn cannot boot it \
                 as a secondary; testing the other checks on a copy with relocatable_kernel=1",
                path.display()
            );
            assert_eq!(BzImage::parse(image), Err(BzImageError::NotRelocatable));
            copy[OFF_RELOCATABLE] = 1;
        }
        copy
    }

    #[test]
    fn real_image_parses() {
        let Some((path, image)) = real_image() else {
            return;
        };
        let image = relocatable_copy(&path, &image);
        let bz = BzImage::parse(&image).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(bz.version() >= 0x020f, "protocol {:#x}", bz.version());
        assert_ne!(bz.xloadflags() & XLF_KERNEL_64, 0);
        assert_eq!(
            bz.payload_offset(),
            (usize::from(bz.setup_sects()) + 1) * 512
        );
        assert_eq!(bz.payload_offset() + bz.payload_len(), image.len());
        assert!(bz.kernel_alignment() >= 0x20_0000);
        assert!(bz.cmdline_size() >= 255);
        assert!(bz.init_size() as usize > bz.payload_len());
        assert!(bz.loadflags() & LOADED_HIGH != 0);
        // Protocol 2.15 added kernel_info_offset at 0x268.
        assert!(bz.header_end() >= 0x26c, "{:#x}", bz.header_end());
        let header = bz.setup_header(&image).unwrap();
        assert_eq!(
            &header[OFF_HEADER_MAGIC - SETUP_HEADER_OFFSET..][..4],
            b"HdrS"
        );
        std::println!("{}: {bz:?}", path.display());
    }

    #[test]
    fn real_image_corruptions_are_caught() {
        let Some((path, image)) = real_image() else {
            return;
        };
        let image = relocatable_copy(&path, &image);
        let corrupt = |patch: &dyn Fn(&mut Vec<u8>)| {
            let mut copy = image.clone();
            patch(&mut copy);
            BzImage::parse(&copy)
        };
        let setup_sects = match image[OFF_SETUP_SECTS] {
            0 => 4,
            n => usize::from(n),
        };
        assert_eq!(
            corrupt(&|copy| copy.truncate(1024)),
            Err(BzImageError::PayloadOutsideFile {
                offset: (setup_sects + 1) * 512,
                len: 1024
            })
        );
        assert_eq!(
            corrupt(&|copy| copy.truncate(0x200)),
            Err(BzImageError::TooShort { len: 0x200 })
        );
        assert_eq!(
            corrupt(&|copy| copy[OFF_HEADER_MAGIC] = b'X'),
            Err(BzImageError::NoHeaderMagic)
        );
        assert_eq!(
            corrupt(&|copy| copy[OFF_BOOT_FLAG + 1] = 0),
            Err(BzImageError::NoBootFlag { found: 0x0055 })
        );
        assert_eq!(
            corrupt(&|copy| put(copy, OFF_VERSION, &0x0209u16.to_le_bytes())),
            Err(BzImageError::ProtocolTooOld { version: 0x0209 })
        );
        assert_eq!(
            corrupt(&|copy| copy[OFF_RELOCATABLE] = 0),
            Err(BzImageError::NotRelocatable)
        );
        assert_eq!(
            corrupt(&|copy| copy[OFF_XLOADFLAGS] &= !(XLF_KERNEL_64 as u8)),
            Err(BzImageError::Not64Bit)
        );
    }
}
