//! The byte layout of ZIP records (APPNOTE 6.3): local file headers, central directory
//! headers and the end records, with ZIP64 extra fields where sizes or offsets need them.
//! Pure functions, no I/O: [`super::zip`] decides what to write and where.

/// Stored (no compression).
pub const STORED: u16 = 0;
/// Deflate.
pub const DEFLATED: u16 = 8;

const LIMIT32: u64 = 0xFFFF_FFFF;
const ZIP64_EXTRA: u16 = 0x0001;
/// General purpose flag: the name is UTF-8.
const FLAG_UTF8: u16 = 1 << 11;
/// General purpose flag: CRC and sizes follow the data in a data descriptor.
const FLAG_DESCRIPTOR: u16 = 1 << 3;
/// Made by: Unix (3), in the high byte.
const MADE_BY_UNIX: u16 = 3 << 8;
/// Regular file, rw-r--r--, in the high half of the external attributes.
const UNIX_FILE_0644: u32 = 0o100644 << 16;

/// One archive member, as recorded in its headers.
#[derive(Debug, Clone)]
pub struct Member {
    /// Name inside the archive (`/`-separated).
    pub name: String,
    /// [`STORED`] or [`DEFLATED`].
    pub method: u16,
    /// MS-DOS time and date of the entries.
    pub dos_time: u16,
    /// MS-DOS date.
    pub dos_date: u16,
    /// CRC-32 of the uncompressed data.
    pub crc: u32,
    /// Bytes of (compressed) data in the archive.
    pub compressed: u64,
    /// Bytes of original data.
    pub uncompressed: u64,
    /// Offset of the local header in the archive.
    pub offset: u64,
    /// The local header carries a ZIP64 extra field (sizes may pass 4 GiB).
    pub zip64: bool,
    /// Written in one pass: the local header has zero CRC and sizes, and a data
    /// descriptor follows the data (flag bit 3).
    pub descriptor: bool,
}

impl Member {
    fn flags(&self) -> u16 {
        let utf8 = if self.name.is_ascii() { 0 } else { FLAG_UTF8 };
        let descriptor = if self.descriptor { FLAG_DESCRIPTOR } else { 0 };
        utf8 | descriptor
    }

    /// The data descriptor written after the data of a one-pass entry: signature, CRC,
    /// then the sizes, 8 bytes each when the local header has a ZIP64 extra field.
    pub fn data_descriptor(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(24);
        put32(&mut b, 0x0807_4b50);
        put32(&mut b, self.crc);
        if self.zip64 {
            put64(&mut b, self.compressed);
            put64(&mut b, self.uncompressed);
        } else {
            put32(&mut b, self.compressed as u32);
            put32(&mut b, self.uncompressed as u32);
        }
        b
    }

    /// Whether the sizes fit the local header as it was laid out.
    pub fn fits(&self) -> bool {
        self.zip64 || (self.compressed < LIMIT32 && self.uncompressed < LIMIT32)
    }

    fn version(&self, zip64: bool) -> u16 {
        if zip64 {
            45
        } else {
            20
        }
    }

    /// The local file header. Its length depends only on the name and [`Member::zip64`],
    /// so it can be written first with zero sizes and rewritten in place once they are known.
    pub fn local_header(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(30 + self.name.len() + 20);
        put32(&mut b, 0x0403_4b50);
        put16(&mut b, self.version(self.zip64));
        put16(&mut b, self.flags());
        put16(&mut b, self.method);
        put16(&mut b, self.dos_time);
        put16(&mut b, self.dos_date);
        put32(&mut b, self.crc);
        if self.zip64 {
            put32(&mut b, LIMIT32 as u32);
            put32(&mut b, LIMIT32 as u32);
        } else {
            put32(&mut b, self.compressed as u32);
            put32(&mut b, self.uncompressed as u32);
        }
        put16(&mut b, self.name.len() as u16);
        put16(&mut b, if self.zip64 { 20 } else { 0 });
        b.extend_from_slice(self.name.as_bytes());
        if self.zip64 {
            put16(&mut b, ZIP64_EXTRA);
            put16(&mut b, 16);
            put64(&mut b, self.uncompressed);
            put64(&mut b, self.compressed);
        }
        b
    }

    /// The central directory header.
    pub fn central_header(&self) -> Vec<u8> {
        let big_sizes = self.zip64 || self.compressed >= LIMIT32 || self.uncompressed >= LIMIT32;
        let big_offset = self.offset >= LIMIT32;
        let mut extra = Vec::new();
        if big_sizes {
            put64(&mut extra, self.uncompressed);
            put64(&mut extra, self.compressed);
        }
        if big_offset {
            put64(&mut extra, self.offset);
        }
        let zip64 = !extra.is_empty();
        let mut b = Vec::with_capacity(46 + self.name.len() + 4 + extra.len());
        put32(&mut b, 0x0201_4b50);
        put16(&mut b, MADE_BY_UNIX | self.version(zip64));
        put16(&mut b, self.version(zip64));
        put16(&mut b, self.flags());
        put16(&mut b, self.method);
        put16(&mut b, self.dos_time);
        put16(&mut b, self.dos_date);
        put32(&mut b, self.crc);
        put32(
            &mut b,
            if big_sizes { LIMIT32 } else { self.compressed } as u32,
        );
        put32(
            &mut b,
            if big_sizes {
                LIMIT32
            } else {
                self.uncompressed
            } as u32,
        );
        put16(&mut b, self.name.len() as u16);
        put16(&mut b, if zip64 { extra.len() as u16 + 4 } else { 0 });
        put16(&mut b, 0); // comment length
        put16(&mut b, 0); // disk number start
        put16(&mut b, 0); // internal attributes
        put32(&mut b, UNIX_FILE_0644);
        put32(
            &mut b,
            if big_offset { LIMIT32 } else { self.offset } as u32,
        );
        b.extend_from_slice(self.name.as_bytes());
        if zip64 {
            put16(&mut b, ZIP64_EXTRA);
            put16(&mut b, extra.len() as u16);
            b.extend_from_slice(&extra);
        }
        b
    }
}

/// The end of the archive: ZIP64 end record and locator when the counts or offsets need
/// them, then the classic end of central directory record. `end_offset` is where these
/// records start (just after the central directory).
pub fn end_records(entries: u64, cd_offset: u64, cd_size: u64, end_offset: u64) -> Vec<u8> {
    let zip64 = entries >= 0xFFFF || cd_offset >= LIMIT32 || cd_size >= LIMIT32;
    let mut b = Vec::with_capacity(22 + 56 + 20);
    if zip64 {
        put32(&mut b, 0x0606_4b50);
        put64(&mut b, 44); // size of the rest of this record
        put16(&mut b, MADE_BY_UNIX | 45);
        put16(&mut b, 45);
        put32(&mut b, 0); // this disk
        put32(&mut b, 0); // disk of the central directory
        put64(&mut b, entries);
        put64(&mut b, entries);
        put64(&mut b, cd_size);
        put64(&mut b, cd_offset);
        put32(&mut b, 0x0706_4b50);
        put32(&mut b, 0); // disk of the ZIP64 end record
        put64(&mut b, end_offset);
        put32(&mut b, 1); // total disks
    }
    put32(&mut b, 0x0605_4b50);
    put16(&mut b, 0);
    put16(&mut b, 0);
    let count = entries.min(0xFFFF) as u16;
    put16(&mut b, count);
    put16(&mut b, count);
    put32(&mut b, cd_size.min(LIMIT32) as u32);
    put32(&mut b, cd_offset.min(LIMIT32) as u32);
    put16(&mut b, 0); // comment length
    b
}

fn put16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_le_bytes());
}

fn put32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}

fn put64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(zip64: bool) -> Member {
        Member {
            name: "filestore/ab/été".into(),
            method: DEFLATED,
            dos_time: 0x1234,
            dos_date: 0x5678,
            crc: 0xDEAD_BEEF,
            compressed: 10,
            uncompressed: 20,
            offset: 0,
            zip64,
            descriptor: false,
        }
    }

    #[test]
    fn local_header_length_does_not_depend_on_sizes() {
        for zip64 in [false, true] {
            let mut m = member(zip64);
            let before = m.local_header().len();
            m.compressed = 3_000_000_000;
            m.uncompressed = 3_500_000_000;
            assert_eq!(m.local_header().len(), before);
        }
    }

    #[test]
    fn data_descriptors_follow_the_zip64_choice_of_the_local_header() {
        let mut m = member(false);
        m.descriptor = true;
        assert_eq!(m.data_descriptor().len(), 16);
        assert_eq!(
            m.local_header()[6..8],
            (FLAG_DESCRIPTOR | FLAG_UTF8).to_le_bytes()
        );
        m.zip64 = true;
        assert_eq!(m.data_descriptor().len(), 24);
    }

    #[test]
    fn zip64_fields_appear_only_when_needed() {
        let small = member(false);
        assert!(small.fits());
        assert_eq!(small.central_header().len(), 46 + small.name.len());
        let mut big = member(false);
        big.uncompressed = 5 << 30;
        assert!(!big.fits());
        big.offset = 6 << 30;
        // Sizes (16) and offset (8) in a 4-byte-headed extra field.
        assert_eq!(big.central_header().len(), 46 + big.name.len() + 28);
        assert_eq!(end_records(3, 100, 50, 150).len(), 22);
        assert_eq!(end_records(70_000, 100, 50, 150).len(), 22 + 56 + 20);
    }
}
