//! The common frame of every 4096-byte metadata block: header, checksum and
//! little-endian field accessors. Field offsets are documented in
//! `docs/metadata-format.md` and pinned by `tests/format_offsets.rs`.

use super::crc32c::crc32c;

/// Size of every metadata block in bytes.
pub const META_BLOCK_BYTES: usize = 4096;
/// Size of a sector, the address unit of the metadata.
pub const SECTOR_BYTES: u64 = 512;
/// Sectors per metadata block.
pub const META_BLOCK_SECTORS: u64 = (META_BLOCK_BYTES as u64) / SECTOR_BYTES;

/// One metadata block.
pub type MetaBlock = [u8; META_BLOCK_BYTES];

/// On-disk format version written by this engine and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;

/// Magic of superblocks: ASCII "DMRMSUPR" read as a little-endian u64.
pub const MAGIC_SUPERBLOCK: u64 = u64::from_le_bytes(*b"DMRMSUPR");
/// Magic of log blocks: ASCII "DMRMLOG1".
pub const MAGIC_LOG: u64 = u64::from_le_bytes(*b"DMRMLOG1");
/// Magic of snapshot blocks: ASCII "DMRMSNAP".
pub const MAGIC_SNAPSHOT: u64 = u64::from_le_bytes(*b"DMRMSNAP");

/// Offset of the u64 magic.
pub const OFF_MAGIC: usize = 0x00;
/// Offset of the u32 format version.
pub const OFF_VERSION: usize = 0x08;
/// Offset of the u32 block flags (meaning depends on the block type).
pub const OFF_FLAGS: usize = 0x0C;
/// Offset of the u64 location: the block's own sector in the spare region.
pub const OFF_LOCATION: usize = 0x10;
/// Offset of the u64 generation the block belongs to.
pub const OFF_GENERATION: usize = 0x18;
/// First byte of the type-specific payload area used for records.
pub const OFF_PAYLOAD: usize = 0x40;
/// End (exclusive) of the payload area; bytes up to the checksum are zero.
pub const PAYLOAD_END: usize = 0xFF8;
/// Offset of the u32 CRC32C over bytes `0..OFF_CHECKSUM`.
pub const OFF_CHECKSUM: usize = 0xFFC;

/// Bytes of payload available for records in one block.
pub const PAYLOAD_BYTES: usize = PAYLOAD_END - OFF_PAYLOAD;
/// 16-byte records (remap entries, log records) per block.
pub const RECORDS_PER_BLOCK: usize = PAYLOAD_BYTES / 16;
/// u64 bitmap words per snapshot bitmap block.
pub const WORDS_PER_BLOCK: usize = PAYLOAD_BYTES / 8;

/// Why a block's common frame was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameFault {
    /// The magic is not the one expected for this block type.
    BadMagic,
    /// The CRC32C does not match the contents.
    BadChecksum,
    /// The format version is not [`FORMAT_VERSION`].
    UnsupportedVersion,
    /// The location field is not the sector the block was read from.
    WrongLocation,
}

/// Reads a little-endian u64 at `offset` (0 if out of range).
pub fn get_u64(block: &MetaBlock, offset: usize) -> u64 {
    let mut bytes = [0u8; 8];
    if let Some(src) = block.get(offset..offset.saturating_add(8)) {
        bytes.copy_from_slice(src);
    }
    u64::from_le_bytes(bytes)
}

/// Reads a little-endian u32 at `offset` (0 if out of range).
pub fn get_u32(block: &MetaBlock, offset: usize) -> u32 {
    let mut bytes = [0u8; 4];
    if let Some(src) = block.get(offset..offset.saturating_add(4)) {
        bytes.copy_from_slice(src);
    }
    u32::from_le_bytes(bytes)
}

/// Writes a little-endian u64 at `offset` (ignored if out of range).
pub fn put_u64(block: &mut MetaBlock, offset: usize, value: u64) {
    if let Some(dst) = block.get_mut(offset..offset.saturating_add(8)) {
        dst.copy_from_slice(&value.to_le_bytes());
    }
}

/// Writes a little-endian u32 at `offset` (ignored if out of range).
pub fn put_u32(block: &mut MetaBlock, offset: usize, value: u32) {
    if let Some(dst) = block.get_mut(offset..offset.saturating_add(4)) {
        dst.copy_from_slice(&value.to_le_bytes());
    }
}

/// Reads the 16 raw bytes at `offset` (zeros if out of range).
pub fn get_bytes16(block: &MetaBlock, offset: usize) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    if let Some(src) = block.get(offset..offset.saturating_add(16)) {
        bytes.copy_from_slice(src);
    }
    bytes
}

/// Writes 16 raw bytes at `offset` (ignored if out of range).
pub fn put_bytes16(block: &mut MetaBlock, offset: usize, value: &[u8; 16]) {
    if let Some(dst) = block.get_mut(offset..offset.saturating_add(16)) {
        dst.copy_from_slice(value);
    }
}

/// Offset of record `index` in the payload area, if it fits in the block.
pub fn record_offset(index: usize) -> Option<usize> {
    if index < RECORDS_PER_BLOCK {
        Some(OFF_PAYLOAD + index * 16)
    } else {
        None
    }
}

/// Offset of bitmap word `index` in the payload area, if it fits.
pub fn word_offset(index: usize) -> Option<usize> {
    if index < WORDS_PER_BLOCK {
        Some(OFF_PAYLOAD + index * 8)
    } else {
        None
    }
}

/// The checksum a block should carry.
pub fn compute_checksum(block: &MetaBlock) -> u32 {
    crc32c(block.get(..OFF_CHECKSUM).unwrap_or(&[]))
}

/// Clears `block` and writes the common header fields.
pub fn start_block(block: &mut MetaBlock, magic: u64, flags: u32, location: u64, generation: u64) {
    block.fill(0);
    put_u64(block, OFF_MAGIC, magic);
    put_u32(block, OFF_VERSION, FORMAT_VERSION);
    put_u32(block, OFF_FLAGS, flags);
    put_u64(block, OFF_LOCATION, location);
    put_u64(block, OFF_GENERATION, generation);
}

/// Stores the checksum; call after every field is written.
pub fn seal(block: &mut MetaBlock) {
    let checksum = compute_checksum(block);
    put_u32(block, OFF_CHECKSUM, checksum);
}

/// Checks magic, checksum, version and location, in that order (so a
/// damaged block reports the most specific reason a tool can act on).
pub fn check_frame(block: &MetaBlock, magic: u64, location: u64) -> Result<(), FrameFault> {
    if get_u64(block, OFF_MAGIC) != magic {
        return Err(FrameFault::BadMagic);
    }
    if get_u32(block, OFF_CHECKSUM) != compute_checksum(block) {
        return Err(FrameFault::BadChecksum);
    }
    if get_u32(block, OFF_VERSION) != FORMAT_VERSION {
        return Err(FrameFault::UnsupportedVersion);
    }
    if get_u64(block, OFF_LOCATION) != location {
        return Err(FrameFault::WrongLocation);
    }
    Ok(())
}

/// True if every byte of the block is zero (never written).
pub fn is_zero(block: &MetaBlock) -> bool {
    block.iter().all(|&byte| byte == 0)
}

/// Views the first [`META_BLOCK_BYTES`] of a caller buffer as a block.
pub fn as_block_mut(buf: &mut [u8]) -> Option<&mut MetaBlock> {
    buf.get_mut(..META_BLOCK_BYTES)
        .and_then(|slice| <&mut MetaBlock>::try_from(slice).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_block_passes_frame_check() {
        let mut block = [0u8; META_BLOCK_BYTES];
        start_block(&mut block, MAGIC_LOG, 1, 24, 7);
        seal(&mut block);
        assert_eq!(check_frame(&block, MAGIC_LOG, 24), Ok(()));
        assert_eq!(
            check_frame(&block, MAGIC_LOG, 32),
            Err(FrameFault::WrongLocation)
        );
        assert_eq!(
            check_frame(&block, MAGIC_SNAPSHOT, 24),
            Err(FrameFault::BadMagic)
        );
        block[100] ^= 1;
        assert_eq!(
            check_frame(&block, MAGIC_LOG, 24),
            Err(FrameFault::BadChecksum)
        );
    }

    #[test]
    fn record_geometry() {
        assert_eq!(RECORDS_PER_BLOCK, 251);
        assert_eq!(WORDS_PER_BLOCK, 503);
        assert_eq!(record_offset(251), None);
        assert_eq!(word_offset(502), Some(OFF_PAYLOAD + 502 * 8));
    }
}
