//! A small, bounds-checked reader for 64-bit little-endian ELF files (x86_64 and aarch64: every
//! CPU Lambda offers).
//!
//! It reads exactly what the stripper and the ABI audit need: the file header, program headers,
//! section headers and names, the dynamic table (DT_NEEDED, DT_SONAME, DT_RPATH/RUNPATH) and the
//! GNU version needs (which `GLIBC_2.x` each library requires). Dynamic data is located the way
//! the loader does it — through PT_DYNAMIC and the PT_LOAD address map — so files rewritten by
//! patchelf/auditwheel read correctly. Every offset is checked; a malformed file is an error,
//! never a panic.
//!
//! We do not use the `object` crate here: its 0.40 API for dynamic and version tables changed
//! shape, and this reader is the ~250 lines we actually need, tested against `readelf` output.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("not an ELF file")]
    NotElf,
    #[error("32-bit ELF (Lambda runs 64-bit code only)")]
    Class32,
    #[error("big-endian ELF (Lambda CPUs are little-endian)")]
    BigEndian,
    #[error("malformed ELF: {0}")]
    Malformed(&'static str),
}

pub const PT_LOAD: u32 = 1;
pub const PT_DYNAMIC: u32 = 2;
pub const SHT_NOBITS: u32 = 8;
pub const SHT_SYMTAB: u32 = 2;
pub const SHT_REL: u32 = 9;
pub const SHT_DYNSYM: u32 = 11;
pub const SHT_SYMTAB_SHNDX: u32 = 18;
pub const SHT_RELA: u32 = 4;
pub const SHF_ALLOC: u64 = 0x2;
pub const SHF_INFO_LINK: u64 = 0x40;
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;

const DT_NULL: i64 = 0;
const DT_NEEDED: i64 = 1;
const DT_STRTAB: i64 = 5;
const DT_STRSZ: i64 = 10;
const DT_SONAME: i64 = 14;
const DT_RPATH: i64 = 15;
const DT_RUNPATH: i64 = 29;
const DT_VERNEED: i64 = 0x6fff_fffe;
const DT_VERNEEDNUM: i64 = 0x6fff_ffff;

pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
}

fn u16_at(d: &[u8], off: u64) -> Result<u16, ElfError> {
    let o = usize::try_from(off).map_err(|_| ElfError::Malformed("offset"))?;
    d.get(o..o.checked_add(2).ok_or(ElfError::Malformed("offset"))?)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or(ElfError::Malformed("truncated"))
}

fn u32_at(d: &[u8], off: u64) -> Result<u32, ElfError> {
    let o = usize::try_from(off).map_err(|_| ElfError::Malformed("offset"))?;
    d.get(o..o.checked_add(4).ok_or(ElfError::Malformed("offset"))?)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(ElfError::Malformed("truncated"))
}

fn u64_at(d: &[u8], off: u64) -> Result<u64, ElfError> {
    let o = usize::try_from(off).map_err(|_| ElfError::Malformed("offset"))?;
    d.get(o..o.checked_add(8).ok_or(ElfError::Malformed("offset"))?)
        .map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
        .ok_or(ElfError::Malformed("truncated"))
}

/// A program header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phdr {
    pub typ: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub paddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

/// A section header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shdr {
    pub name: u32,
    pub typ: u32,
    pub flags: u64,
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub info: u32,
    pub addralign: u64,
    pub entsize: u64,
}

impl Shdr {
    /// File bytes the section occupies (none for NOBITS).
    pub fn file_size(&self) -> u64 {
        if self.typ == SHT_NOBITS { 0 } else { self.size }
    }
}

/// A parsed ELF64 little-endian file.
#[derive(Debug, Clone)]
pub struct Elf<'a> {
    pub data: &'a [u8],
    pub machine: u16,
    pub ehsize: u16,
    pub phoff: u64,
    pub phentsize: u16,
    pub shoff: u64,
    pub shentsize: u16,
    pub shstrndx: usize,
    pub phdrs: Vec<Phdr>,
    pub shdrs: Vec<Shdr>,
}

/// What the dynamic loader will ask of a library.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dynamic {
    pub needed: Vec<String>,
    pub soname: Option<String>,
    pub runpath: Vec<String>,
    /// (library file, required version names), e.g. ("libc.so.6", ["GLIBC_2.17", …]).
    pub version_needs: Vec<(String, Vec<String>)>,
}

impl<'a> Elf<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Elf<'a>, ElfError> {
        check_ident(data)?;
        if data.len() < 64 {
            return Err(ElfError::Malformed("header truncated"));
        }
        let machine = u16_at(data, 0x12)?;
        let phoff = u64_at(data, 0x20)?;
        let shoff = u64_at(data, 0x28)?;
        let ehsize = u16_at(data, 0x34)?;
        let phentsize = u16_at(data, 0x36)?;
        let phnum = u16_at(data, 0x38)?;
        let shentsize = u16_at(data, 0x3a)?;
        let shnum = u64::from(u16_at(data, 0x3c)?);
        let shstrndx = u64::from(u16_at(data, 0x3e)?);
        if phnum > 0 && phentsize != 56 {
            return Err(ElfError::Malformed("program header size"));
        }
        let phdrs = read_phdrs(data, phoff, phnum)?;
        let (shdrs, shstrndx) = if shoff != 0 {
            read_shdrs(data, shoff, shentsize, shnum, shstrndx)?
        } else {
            (Vec::new(), shstrndx)
        };
        for p in &phdrs {
            let end = p.offset.checked_add(p.filesz);
            if end.is_none_or(|e| e > data.len() as u64) {
                return Err(ElfError::Malformed("segment outside the file"));
            }
        }
        Ok(Elf {
            data,
            machine,
            ehsize,
            phoff,
            phentsize,
            shoff,
            shentsize,
            shstrndx: shstrndx as usize,
            phdrs,
            shdrs,
        })
    }

    /// Name of section `i` from the section name table ("" when unavailable).
    pub fn section_name(&self, i: usize) -> &'a str {
        let (Some(s), Some(strtab)) = (self.shdrs.get(i), self.shdrs.get(self.shstrndx)) else {
            return "";
        };
        self.c_str(strtab.offset, strtab.size, u64::from(s.name))
            .unwrap_or("")
    }

    fn c_str(&self, table_off: u64, table_size: u64, idx: u64) -> Option<&'a str> {
        if idx >= table_size {
            return None;
        }
        let start = usize::try_from(table_off.checked_add(idx)?).ok()?;
        let end = usize::try_from(table_off.checked_add(table_size)?)
            .ok()?
            .min(self.data.len());
        let bytes = self.data.get(start..end)?;
        let nul = bytes.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&bytes[..nul]).ok()
    }

    /// File offset of a virtual address, through the PT_LOAD map.
    pub fn vaddr_to_offset(&self, vaddr: u64) -> Option<u64> {
        self.phdrs
            .iter()
            .filter(|p| p.typ == PT_LOAD)
            .find(|p| vaddr >= p.vaddr && vaddr < p.vaddr.saturating_add(p.filesz))
            .map(|p| p.offset + (vaddr - p.vaddr))
    }

    /// The dynamic table as the loader sees it (empty for static objects).
    pub fn dynamic(&self) -> Result<Dynamic, ElfError> {
        let Some(dyn_ph) = self.phdrs.iter().find(|p| p.typ == PT_DYNAMIC) else {
            return Ok(Dynamic::default());
        };
        let mut entries = Vec::new();
        let mut off = dyn_ph.offset;
        let end = dyn_ph.offset + dyn_ph.filesz;
        while off + 16 <= end {
            let tag = u64_at(self.data, off)? as i64;
            let val = u64_at(self.data, off + 8)?;
            if tag == DT_NULL {
                break;
            }
            entries.push((tag, val));
            off += 16;
        }
        let get = |t: i64| entries.iter().find(|e| e.0 == t).map(|e| e.1);
        let strtab = get(DT_STRTAB)
            .and_then(|v| self.vaddr_to_offset(v))
            .ok_or(ElfError::Malformed("dynamic string table"))?;
        let strsz = get(DT_STRSZ).unwrap_or(0);
        let string = |idx: u64| -> Result<String, ElfError> {
            self.c_str(strtab, strsz, idx)
                .map(str::to_string)
                .ok_or(ElfError::Malformed("dynamic string"))
        };
        let mut d = Dynamic::default();
        for &(tag, val) in &entries {
            match tag {
                DT_NEEDED => d.needed.push(string(val)?),
                DT_SONAME => d.soname = Some(string(val)?),
                DT_RPATH | DT_RUNPATH => {
                    d.runpath
                        .extend(string(val)?.split(':').map(str::to_string));
                }
                _ => {}
            }
        }
        if let (Some(vn), Some(count)) = (get(DT_VERNEED), get(DT_VERNEEDNUM)) {
            let mut off = self
                .vaddr_to_offset(vn)
                .ok_or(ElfError::Malformed("version needs"))?;
            for _ in 0..count.min(4096) {
                let cnt = u16_at(self.data, off + 2)?;
                let file = string(u64::from(u32_at(self.data, off + 4)?))?;
                let aux = u64::from(u32_at(self.data, off + 8)?);
                let next = u64::from(u32_at(self.data, off + 12)?);
                let mut versions = Vec::new();
                let mut aoff = off + aux;
                for _ in 0..cnt {
                    versions.push(string(u64::from(u32_at(self.data, aoff + 8)?))?);
                    let anext = u64::from(u32_at(self.data, aoff + 12)?);
                    if anext == 0 {
                        break;
                    }
                    aoff += anext;
                }
                d.version_needs.push((file, versions));
                if next == 0 {
                    break;
                }
                off += next;
            }
        }
        Ok(d)
    }
}

/// Refuse what is not a 64-bit little-endian ELF file.
fn check_ident(data: &[u8]) -> Result<(), ElfError> {
    if !is_elf(data) {
        return Err(ElfError::NotElf);
    }
    match data.get(4) {
        Some(2) => {}
        Some(1) => return Err(ElfError::Class32),
        _ => return Err(ElfError::Malformed("class")),
    }
    match data.get(5) {
        Some(1) => {}
        Some(2) => return Err(ElfError::BigEndian),
        _ => return Err(ElfError::Malformed("data encoding")),
    }
    Ok(())
}

/// Whether `count` entries of `size` bytes from `off` lie inside `data`.
fn fits(data: &[u8], off: u64, count: u64, size: u64) -> bool {
    count
        .checked_mul(size)
        .and_then(|n| off.checked_add(n))
        .is_some_and(|end| end <= data.len() as u64)
}

/// The `phnum` program headers at `phoff`.
fn read_phdrs(data: &[u8], phoff: u64, phnum: u16) -> Result<Vec<Phdr>, ElfError> {
    if !fits(data, phoff, u64::from(phnum), 56) {
        return Err(ElfError::Malformed("program headers outside the file"));
    }
    let mut phdrs = Vec::with_capacity(phnum as usize);
    for i in 0..u64::from(phnum) {
        let o = phoff
            .checked_add(i * 56)
            .ok_or(ElfError::Malformed("phoff"))?;
        phdrs.push(Phdr {
            typ: u32_at(data, o)?,
            flags: u32_at(data, o + 4)?,
            offset: u64_at(data, o + 8)?,
            vaddr: u64_at(data, o + 16)?,
            paddr: u64_at(data, o + 24)?,
            filesz: u64_at(data, o + 32)?,
            memsz: u64_at(data, o + 40)?,
            align: u64_at(data, o + 48)?,
        });
    }
    Ok(phdrs)
}

/// The section headers (extended numbering read), each inside the file; and shstrndx.
fn read_shdrs(
    data: &[u8],
    shoff: u64,
    shentsize: u16,
    mut shnum: u64,
    mut shstrndx: u64,
) -> Result<(Vec<Shdr>, u64), ElfError> {
    if shentsize != 64 {
        return Err(ElfError::Malformed("section header size"));
    }
    if !fits(data, shoff, shnum.max(1), 64) {
        return Err(ElfError::Malformed("section headers outside the file"));
    }
    // Extended numbering: the real counts live in section 0.
    if shnum == 0 {
        shnum = u64_at(data, shoff + 32)?;
    }
    if shstrndx == 0xffff {
        shstrndx = u64::from(u32_at(data, shoff + 40)?);
    }
    if shnum > 65_536 * 16 || !fits(data, shoff, shnum, 64) {
        return Err(ElfError::Malformed("section count"));
    }
    let mut shdrs = Vec::new();
    for i in 0..shnum {
        let o = shoff
            .checked_add(i * 64)
            .ok_or(ElfError::Malformed("shoff"))?;
        shdrs.push(Shdr {
            name: u32_at(data, o)?,
            typ: u32_at(data, o + 4)?,
            flags: u64_at(data, o + 8)?,
            addr: u64_at(data, o + 16)?,
            offset: u64_at(data, o + 24)?,
            size: u64_at(data, o + 32)?,
            link: u32_at(data, o + 40)?,
            info: u32_at(data, o + 44)?,
            addralign: u64_at(data, o + 48)?,
            entsize: u64_at(data, o + 56)?,
        });
    }
    // A section without file bytes (NOBITS `.bss`, an empty section) may name any
    // offset, even past the end of the file: nothing is read there.
    for s in shdrs.iter().filter(|s| s.file_size() > 0) {
        let end = s.offset.checked_add(s.file_size());
        if end.is_none_or(|e| e > data.len() as u64) {
            return Err(ElfError::Malformed("section outside the file"));
        }
    }
    Ok((shdrs, shstrndx))
}

/// Parse `GLIBC_2.28` → (2, 28).
pub fn glibc_version(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix("GLIBC_")?;
    let mut it = rest.split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next().map_or(Some(0), |m| m.parse().ok())?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_elf_and_32bit() {
        assert_eq!(Elf::parse(b"hello").err(), Some(ElfError::NotElf));
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 1;
        assert_eq!(Elf::parse(&h).err(), Some(ElfError::Class32));
        h[4] = 2;
        h[5] = 2;
        assert_eq!(Elf::parse(&h).err(), Some(ElfError::BigEndian));
        h[5] = 1;
        h.truncate(40);
        assert!(Elf::parse(&h).is_err());
    }

    /// A 64-byte little-endian ELF64 header with the given table offsets and counts.
    fn header(phoff: u64, phnum: u16, shoff: u64, shnum: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..6].copy_from_slice(b"\x7fELF\x02\x01");
        h[0x20..0x28].copy_from_slice(&phoff.to_le_bytes());
        h[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        h[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        h[0x38..0x3a].copy_from_slice(&phnum.to_le_bytes());
        h[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        h[0x3c..0x3e].copy_from_slice(&shnum.to_le_bytes());
        h
    }

    #[test]
    fn table_offsets_near_the_end_of_the_address_space_are_malformed_not_a_panic() {
        // Regression (fuzzing): `offset + field` overflowed before the bounds check.
        for (phoff, phnum, shoff, shnum) in [
            (u64::MAX - 3, 1, 0, 0),
            (u64::MAX - 60, 2, 0, 0),
            (0, 0, u64::MAX - 20, 0),
            (0, 0, u64::MAX - 100, 1),
            (0, 0, u64::MAX, 0),
        ] {
            let h = header(phoff, phnum, shoff, shnum);
            assert!(Elf::parse(&h).is_err(), "{phoff} {phnum} {shoff} {shnum}");
        }
    }

    #[test]
    fn glibc_versions() {
        assert_eq!(glibc_version("GLIBC_2.28"), Some((2, 28)));
        assert_eq!(glibc_version("GLIBC_2.2.5"), Some((2, 2)));
        assert_eq!(glibc_version("GLIBCXX_3.4"), None);
        assert_eq!(glibc_version("GLIBC_PRIVATE"), None);
    }

    #[test]
    fn reads_this_test_binary() {
        // The running test executable is a real ELF on Linux.
        let exe = std::fs::read("/proc/self/exe").expect("read self");
        let elf = Elf::parse(&exe).expect("parse self");
        assert!(matches!(elf.machine, EM_X86_64 | EM_AARCH64));
        let d = elf.dynamic().expect("dynamic");
        assert!(d.needed.iter().any(|n| n.starts_with("libc.so")), "{d:?}");
        assert!(
            d.version_needs
                .iter()
                .any(|(f, v)| f.starts_with("libc.so") && v.iter().any(|x| x.starts_with("GLIBC_")))
        );
    }
}
