//! Strip ELF shared libraries of what the dynamic loader never reads — safely.
//!
//! Removed: `.symtab` and its `.strtab`, `.debug_*` / `.zdebug_*`, `.comment`, `.gnu_debuglink`,
//! `.gnu_debugaltlink`, `.stab*`, and relocation sections that apply only to those. Everything the
//! loader uses (every PT_LOAD segment's bytes, `.dynsym`, `.dynstr`, version tables,
//! `.note.gnu.build-id`, …) is copied verbatim.
//!
//! Compaction: loadable segments are grouped (overlapping or touching PT_LOADs form one group)
//! and each group is moved toward the start of the file only by a multiple of its alignment, so
//! `p_offset ≡ p_vaddr (mod p_align)` holds for every segment. This is the rule GNU strip breaks on
//! patchelf/auditwheel-modified libraries (numpy's bundled OpenBLAS: "ELF load command
//! address/offset not page-aligned"). Kept non-allocated sections follow (the section name
//! table rebuilt without the removed sections' names), then a fresh section header table.
//!
//! Anything unusual keeps the original bytes and says why ([`KeepReason`]): not ELF, 32-bit or
//! big-endian, unknown section flags, removable sections numbered before allocated ones (would
//! renumber `.dynsym`'s section indices), a segment outside every group, extended section
//! numbering, nothing to remove, or an output that would not be smaller. Every output is re-parsed
//! and checked: same program headers, aligned PT_LOADs, identical segment bytes, same DT_NEEDED,
//! SONAME, RUNPATH and version needs.

use super::elf::{
    Dynamic, Elf, ElfError, PT_LOAD, Phdr, SHF_ALLOC, SHF_INFO_LINK, SHT_DYNSYM, SHT_REL, SHT_RELA,
    SHT_SYMTAB, SHT_SYMTAB_SHNDX,
};

/// Why a file was left as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepReason {
    NotElf,
    Unsupported(ElfError),
    NothingToStrip,
    UnknownFlags(String),
    Layout(&'static str),
    NotSmaller,
    VerifyFailed(String),
}

impl std::fmt::Display for KeepReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeepReason::NotElf => f.write_str("not an ELF file"),
            KeepReason::Unsupported(e) => write!(f, "{e}"),
            KeepReason::NothingToStrip => f.write_str("already stripped"),
            KeepReason::UnknownFlags(s) => write!(f, "section {s} has unknown flags"),
            KeepReason::Layout(s) => write!(f, "unusual layout: {s}"),
            KeepReason::NotSmaller => f.write_str("stripping would not make it smaller"),
            KeepReason::VerifyFailed(s) => write!(f, "stripped output failed verification: {s}"),
        }
    }
}

/// The result of stripping one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stripped {
    Done { data: Vec<u8>, removed: Vec<String> },
    Kept(KeepReason),
}

const KNOWN_FLAGS: u64 = 0x1
    | 0x2
    | 0x4
    | 0x10
    | 0x20
    | 0x40
    | 0x80
    | 0x100
    | 0x200
    | 0x400
    | 0x800
    | 0x0ff0_0000
    | 0xf000_0000;

/// The smallest page size a Lambda kernel uses (x86_64 and arm64 both run 4 KiB pages); segments
/// move only by multiples of this or of their own larger alignment.
const PAGE: u64 = 4096;

fn removable_name(name: &str) -> bool {
    name.starts_with(".debug_")
        || name.starts_with(".zdebug_")
        || name.starts_with(".stab")
        || matches!(name, ".comment" | ".gnu_debuglink" | ".gnu_debugaltlink")
}

#[derive(Debug, Clone, Copy)]
struct Group {
    start: u64,
    end: u64,
    align: u64,
    new: u64,
}

fn put16(b: &mut [u8], off: u64, v: u16) {
    let o = off as usize;
    b[o..o + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut [u8], off: u64, v: u32) {
    let o = off as usize;
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], off: u64, v: u64) {
    let o = off as usize;
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

fn align_up(v: u64, a: u64) -> u64 {
    if a <= 1 { v } else { v.div_ceil(a) * a }
}

/// Strip one file's bytes (a copy of them: see [`strip_owned`]).
pub fn strip(data: &[u8]) -> Stripped {
    strip_owned(data.to_vec())
}

/// Strip a file whose bytes the caller gives up: the output is written into the same buffer
/// (every block only moves towards the start of the file), so a 180 MB library costs 180 MB of
/// memory, not twice that. A file whose blocks would not move that way (overlapping sections)
/// is stripped into a fresh buffer, with the same result.
pub fn strip_owned(data: Vec<u8>) -> Stripped {
    match strip_inner(data, true) {
        Ok(s) => s,
        Err(reason) => Stripped::Kept(reason),
    }
}

/// `in_place: false` always copies into a fresh buffer (the tests' oracle for the move).
fn strip_inner(data: Vec<u8>, in_place: bool) -> Result<Stripped, KeepReason> {
    let elf = Elf::parse(&data).map_err(|e| match e {
        ElfError::NotElf => KeepReason::NotElf,
        other => KeepReason::Unsupported(other),
    })?;
    check_supported(&elf, &data)?;
    let remove = choose_removals(&elf);
    if !remove.iter().any(|&r| r) {
        return Err(KeepReason::NothingToStrip);
    }
    // Removing a section renumbers the ones after it; `.dynsym` names sections by number, so
    // its `st_shndx` values are remapped below. An extended index table we do not rewrite.
    if elf.shdrs.iter().any(|s| s.typ == SHT_SYMTAB_SHNDX) {
        return Err(KeepReason::Layout("extended symbol section indices"));
    }
    let mut new_index = vec![u32::MAX; remove.len()];
    let mut kept = 0u32;
    for (i, &r) in remove.iter().enumerate() {
        if !r {
            new_index[i] = kept;
            kept += 1;
        }
    }
    // A fresh section name table holding only the kept sections' names.
    let names = fresh_names(&elf, &remove);
    let (groups, ph_group) = load_groups(&elf)?;
    // The plan reads only the headers (the bytes are moved in place below).
    let head = Elf {
        data: &[],
        ..elf.clone()
    };
    let mut plan = Plan {
        elf: &head,
        remove,
        new_index,
        names,
        groups,
        sec_new: Vec::new(),
        shoff: 0,
    };
    let end = plan.lay_out()?;
    plan.shoff = align_up(end, 8);
    let total = plan.shoff + u64::from(kept) * 64;
    if total >= data.len() as u64 {
        return Err(KeepReason::NotSmaller);
    }
    let removed: Vec<String> = (0..plan.remove.len())
        .filter(|&i| plan.remove[i])
        .map(|i| elf.section_name(i).to_string())
        .collect();
    let dynsyms = plan.dynsym_ranges();
    let before = Before::take(&elf, &plan.groups, &dynsyms);
    drop(elf);
    let mut out = plan.move_contents(data, total, in_place);
    let new_phoff = head.phoff - plan.shift(ph_group);
    put64(&mut out, 0x20, new_phoff);
    put64(&mut out, 0x28, plan.shoff);
    put16(&mut out, 0x3c, kept as u16);
    put16(&mut out, 0x3e, plan.new_index[head.shstrndx] as u16);
    plan.write_program_headers(&mut out, new_phoff)?;
    plan.write_section_headers(&mut out)?;
    plan.remap_dynsyms(&mut out)?;
    verify(&before, &out, &plan.groups).map_err(KeepReason::VerifyFailed)?;
    Ok(Stripped::Done { data: out, removed })
}

/// What this stripper does not rewrite: no sections, extended numbering, unknown flags.
fn check_supported(elf: &Elf<'_>, data: &[u8]) -> Result<(), KeepReason> {
    if elf.shdrs.is_empty() {
        return Err(KeepReason::NothingToStrip);
    }
    if u16::from_le_bytes([data[0x3c], data[0x3d]]) == 0 || elf.shstrndx >= 0xff00 {
        return Err(KeepReason::Layout("extended section numbering"));
    }
    if elf.shstrndx >= elf.shdrs.len() {
        return Err(KeepReason::Layout("section name table index out of range"));
    }
    for (i, s) in elf.shdrs.iter().enumerate() {
        if s.flags & !KNOWN_FLAGS != 0 {
            return Err(KeepReason::UnknownFlags(elf.section_name(i).to_string()));
        }
    }
    Ok(())
}

/// The sections to remove: non-allocated symbol tables and debug sections, the string table of
/// a removed symtab (unless something kept uses it), and relocations of removed sections.
// Section numbers index parallel tables; range loops read more plainly than zipped iterators.
#[allow(clippy::needless_range_loop)]
fn choose_removals(elf: &Elf<'_>) -> Vec<bool> {
    let n = elf.shdrs.len();
    let mut remove = vec![false; n];
    for (i, s) in elf.shdrs.iter().enumerate().skip(1) {
        if s.flags & SHF_ALLOC != 0 || i == elf.shstrndx {
            continue;
        }
        if s.typ == SHT_SYMTAB || removable_name(elf.section_name(i)) {
            remove[i] = true;
        }
    }
    for i in 0..n {
        if remove[i] && elf.shdrs[i].typ == SHT_SYMTAB {
            let l = elf.shdrs[i].link as usize;
            if l < n
                && l != elf.shstrndx
                && elf.shdrs[l].flags & SHF_ALLOC == 0
                && !elf
                    .shdrs
                    .iter()
                    .enumerate()
                    .any(|(j, s)| !remove[j] && j != l && s.link as usize == l)
            {
                remove[l] = true;
            }
        }
    }
    loop {
        let mut changed = false;
        for i in 1..n {
            let s = elf.shdrs[i];
            if !remove[i]
                && s.flags & SHF_ALLOC == 0
                && matches!(s.typ, SHT_REL | SHT_RELA)
                && (s.info as usize) < n
                && remove[s.info as usize]
            {
                remove[i] = true;
                changed = true;
            }
        }
        if !changed {
            return remove;
        }
    }
}

/// Loadable segments merged into groups that move as one block, and the group holding the
/// program headers.
fn load_groups(elf: &Elf<'_>) -> Result<(Vec<Group>, usize), KeepReason> {
    let mut loads: Vec<Group> = elf
        .phdrs
        .iter()
        .filter(|p| p.typ == PT_LOAD && p.filesz > 0)
        .map(|p| Group {
            start: p.offset,
            end: p.offset + p.filesz,
            // The loader maps whole pages whatever p_align says: never move a segment by less.
            align: p.align.max(PAGE),
            new: 0,
        })
        .collect();
    if loads.iter().any(|g| !g.align.is_power_of_two()) {
        return Err(KeepReason::Layout(
            "segment alignment is not a power of two",
        ));
    }
    loads.sort_by_key(|g| g.start);
    let mut groups: Vec<Group> = Vec::new();
    for g in loads {
        match groups.last_mut() {
            Some(last) if g.start <= last.end => {
                last.end = last.end.max(g.end);
                last.align = last.align.max(g.align);
            }
            _ => groups.push(g),
        }
    }
    let Some(first) = groups.first() else {
        return Err(KeepReason::Layout("no loadable segments"));
    };
    if first.start != 0 || first.end < u64::from(elf.ehsize) {
        return Err(KeepReason::Layout(
            "the ELF header is not in a loadable segment",
        ));
    }
    let ph_end = elf.phoff + elf.phdrs.len() as u64 * 56;
    let ph_group = group_containing(&groups, elf.phoff, ph_end).ok_or(KeepReason::Layout(
        "program headers outside loadable segments",
    ))?;
    Ok((groups, ph_group))
}

fn group_containing(groups: &[Group], off: u64, end: u64) -> Option<usize> {
    groups.iter().position(|g| off >= g.start && end <= g.end)
}

/// The stripped file's layout, decided step by step.
struct Plan<'e, 'a> {
    elf: &'e Elf<'a>,
    remove: Vec<bool>,
    /// Old section number → new (`u32::MAX` for removed sections).
    new_index: Vec<u32>,
    names: Option<Names>,
    groups: Vec<Group>,
    /// New offsets of kept sections outside every group.
    sec_new: Vec<Option<u64>>,
    /// Where the section header table goes.
    shoff: u64,
}

impl Plan<'_, '_> {
    fn map_index(&self, old: u32) -> Result<u32, KeepReason> {
        if old == 0 {
            return Ok(0);
        }
        match self.new_index.get(old as usize) {
            Some(&v) if v != u32::MAX => Ok(v),
            _ => Err(KeepReason::Layout("a kept section links to a removed one")),
        }
    }

    /// How far group `gi` moved towards the start of the file.
    fn shift(&self, gi: usize) -> u64 {
        self.groups[gi].start - self.groups[gi].new
    }

    /// Place the groups and the kept sections outside them in their original order, each at
    /// the lowest offset its alignment allows. Returns the end of the last one.
    fn lay_out(&mut self) -> Result<u64, KeepReason> {
        enum Block {
            Group(usize),
            Section(usize),
        }
        let elf = self.elf;
        let n = elf.shdrs.len();
        let mut blocks: Vec<(u64, Block)> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.start, Block::Group(i)))
            .collect();
        self.sec_new = vec![None; n];
        for (i, s) in elf.shdrs.iter().enumerate().skip(1) {
            if self.remove[i] || s.file_size() == 0 {
                continue;
            }
            let end = s.offset + s.file_size();
            if group_containing(&self.groups, s.offset, end).is_some() {
                continue;
            }
            if self
                .groups
                .iter()
                .any(|g| s.offset < g.end && end > g.start)
            {
                return Err(KeepReason::Layout("a section straddles a segment boundary"));
            }
            blocks.push((s.offset, Block::Section(i)));
        }
        blocks.sort_by_key(|b| b.0);
        let mut cursor = 0u64;
        for (_, b) in &blocks {
            match b {
                Block::Group(gi) => {
                    let g = &mut self.groups[*gi];
                    if cursor > g.start {
                        return Err(KeepReason::Layout("segments overlap kept sections"));
                    }
                    // The lowest offset >= cursor that is congruent to the original mod align.
                    let new = cursor + (g.start - cursor) % g.align;
                    g.new = new;
                    cursor = new + (g.end - g.start);
                }
                Block::Section(si) => {
                    let s = elf.shdrs[*si];
                    let a = if s.addralign > 1 && s.offset.is_multiple_of(s.addralign) {
                        s.addralign
                    } else {
                        1
                    };
                    let new = align_up(cursor, a);
                    self.sec_new[*si] = Some(new);
                    cursor = new
                        + match &self.names {
                            Some(t) if *si == elf.shstrndx => t.table.len() as u64,
                            _ => s.file_size(),
                        };
                }
            }
        }
        // The name table is rewritten only where it was placed as a section of its own.
        if self.sec_new[elf.shstrndx].is_none() {
            self.names = None;
        }
        Ok(cursor)
    }

    /// Every block of the output: a group's bytes or a kept section outside the groups (the
    /// fresh name table for `.shstrtab`), as (new offset, old offset, length, is the name
    /// table), by new offset.
    fn blocks(&self) -> Vec<(u64, u64, u64, bool)> {
        let mut blocks: Vec<(u64, u64, u64, bool)> = self
            .groups
            .iter()
            .map(|g| (g.new, g.start, g.end - g.start, false))
            .collect();
        for (i, new) in self.sec_new.iter().enumerate() {
            let Some(new) = *new else { continue };
            let s = self.elf.shdrs[i];
            match &self.names {
                Some(t) if i == self.elf.shstrndx => {
                    blocks.push((new, s.offset, t.table.len() as u64, true));
                }
                _ => blocks.push((new, s.offset, s.size, false)),
            }
        }
        blocks.sort_by_key(|b| (b.0, b.1));
        blocks
    }

    /// The output's first `total` bytes: each block at its new offset, zeros between and after
    /// (the header tables are written over them later). Moved within `data` when every block
    /// moves towards the start and no block's old bytes overlap a later one's (then each copy
    /// only overwrites bytes already moved or never needed); otherwise copied into a new buffer.
    fn move_contents(&self, mut data: Vec<u8>, total: u64, mut in_place: bool) -> Vec<u8> {
        let blocks = self.blocks();
        let (mut src_end, mut dst_end) = (0u64, 0u64);
        for &(new, old, len, names) in blocks.iter().take_while(|_| in_place) {
            // The name table's old bytes are not read, but its new place must not reach the
            // next block's old bytes either: it is never longer than the table it replaces.
            let reach = if names { new + len } else { old + len };
            if new > old || old < src_end || new < dst_end || reach > data.len() as u64 {
                in_place = false;
                break;
            }
            src_end = old + len;
            dst_end = new + len;
        }
        if !in_place {
            let mut out = vec![0u8; total as usize];
            self.copy_contents(&data, &mut out);
            return out;
        }
        #[cfg(test)]
        tests::MOVED_IN_PLACE.with(|n| n.set(n.get() + 1));
        let mut cursor = 0u64;
        for &(new, old, len, names) in &blocks {
            data[cursor as usize..new as usize].fill(0);
            let (n, e) = (new as usize, (new + len) as usize);
            match &self.names {
                Some(t) if names => data[n..e].copy_from_slice(&t.table),
                _ => data.copy_within(old as usize..(old + len) as usize, n),
            }
            cursor = new + len;
        }
        data.truncate(total as usize);
        if (cursor as usize) < data.len() {
            data[cursor as usize..].fill(0);
        }
        data
    }

    /// Copy the blocks from `data` to their new offsets in `out` (zeroed).
    fn copy_contents(&self, data: &[u8], out: &mut [u8]) {
        for (new, old, len, names) in self.blocks() {
            let (n, e) = (new as usize, (new + len) as usize);
            match &self.names {
                Some(t) if names => out[n..e].copy_from_slice(&t.table),
                _ => out[n..e].copy_from_slice(&data[old as usize..(old + len) as usize]),
            }
        }
    }

    /// Each program header's offset moves with its group.
    fn write_program_headers(&self, out: &mut [u8], new_phoff: u64) -> Result<(), KeepReason> {
        for (k, p) in self.elf.phdrs.iter().enumerate() {
            let gi = group_containing(&self.groups, p.offset, p.offset + p.filesz);
            // A segment with no file bytes outside every group (an empty PT_LOAD for `.bss`)
            // keeps its offset: nothing is read there, and its congruence with its address stays.
            if gi.is_none() && p.filesz != 0 {
                return Err(KeepReason::Layout(
                    "a segment lies outside loadable segments",
                ));
            }
            let off = gi.map_or(p.offset, |gi| p.offset - self.shift(gi));
            put64(out, new_phoff + k as u64 * 56 + 8, off);
        }
        Ok(())
    }

    /// The kept sections' headers, renumbered, at their new offsets.
    fn write_section_headers(&self, out: &mut [u8]) -> Result<(), KeepReason> {
        let elf = self.elf;
        for (i, s) in elf.shdrs.iter().enumerate() {
            if self.remove[i] {
                continue;
            }
            let o = self.shoff + u64::from(self.new_index[i]) * 64;
            let offset = if i == 0 {
                0
            } else if let Some(new) = self.sec_new[i] {
                new
            } else if let Some(gi) =
                group_containing(&self.groups, s.offset, s.offset + s.file_size())
            {
                s.offset - self.shift(gi)
            } else if s.file_size() == 0 {
                // Empty or NOBITS outside every group: keep it within the file.
                s.offset.min(self.shoff)
            } else {
                return Err(KeepReason::Layout("a section could not be placed"));
            };
            let info = if matches!(s.typ, SHT_REL | SHT_RELA) || s.flags & SHF_INFO_LINK != 0 {
                self.map_index(s.info)?
            } else {
                s.info
            };
            let (name, size) = match &self.names {
                Some(t) => (
                    t.index[i],
                    if i == elf.shstrndx {
                        t.table.len() as u64
                    } else {
                        s.size
                    },
                ),
                None => (s.name, s.size),
            };
            put32(out, o, name);
            put32(out, o + 4, s.typ);
            put64(out, o + 8, s.flags);
            put64(out, o + 16, s.addr);
            put64(out, o + 24, offset);
            put64(out, o + 32, size);
            put32(out, o + 40, self.map_index(s.link)?);
            put32(out, o + 44, info);
            put64(out, o + 48, s.addralign);
            put64(out, o + 56, s.entsize);
        }
        Ok(())
    }

    /// Each dynamic symbol table's original offset and size.
    fn dynsym_ranges(&self) -> Vec<(u64, u64)> {
        self.elf
            .shdrs
            .iter()
            .filter(|s| s.typ == SHT_DYNSYM)
            .map(|s| (s.offset, s.size))
            .collect()
    }

    /// Remap section numbers in dynamic symbol tables (loaded bytes, so located via their
    /// group).
    fn remap_dynsyms(&self, out: &mut [u8]) -> Result<(), KeepReason> {
        for s in self.elf.shdrs.iter().filter(|s| s.typ == SHT_DYNSYM) {
            let gi = group_containing(&self.groups, s.offset, s.offset + s.size)
                .ok_or(KeepReason::Layout(".dynsym outside loadable segments"))?;
            let base = s.offset - self.shift(gi);
            for k in 0..s.size / 24 {
                let at = base + k * 24 + 6;
                let shndx = u16::from_le_bytes([out[at as usize], out[at as usize + 1]]);
                if shndx != 0 && shndx < 0xff00 {
                    let mapped = self.map_index(u32::from(shndx)).map_err(|_| {
                        KeepReason::Layout("a dynamic symbol is defined in a removed section")
                    })?;
                    put16(out, at, mapped as u16);
                }
            }
        }
        Ok(())
    }
}

/// A rebuilt section name table: its bytes and each section's new name offset.
struct Names {
    table: Vec<u8>,
    index: Vec<u32>,
}

/// The section name table without the names of removed sections (names that end another
/// name share its bytes, as GNU's string tables do). `None` keeps the original table: it is
/// loaded, shared with symbols (a kept section links to it), holds a name that cannot be read,
/// or would not shrink.
fn fresh_names(elf: &Elf<'_>, remove: &[bool]) -> Option<Names> {
    let k = elf.shstrndx;
    let shstr = elf.shdrs.get(k)?;
    if shstr.flags & SHF_ALLOC != 0 || shstr.file_size() == 0 {
        return None;
    }
    if elf
        .shdrs
        .iter()
        .enumerate()
        .any(|(j, s)| j != 0 && !remove[j] && s.link as usize == k)
    {
        return None;
    }
    let start = usize::try_from(shstr.offset).ok()?;
    let bytes = elf
        .data
        .get(start..start.checked_add(usize::try_from(shstr.size).ok()?)?)?;
    let raw = |i: usize| -> Option<&[u8]> {
        let at = usize::try_from(elf.shdrs[i].name).ok()?;
        let rest = bytes.get(at..)?;
        Some(&rest[..rest.iter().position(|&b| b == 0)?])
    };
    let mut kept: Vec<(usize, &[u8])> = Vec::new();
    for (i, gone) in remove.iter().enumerate() {
        if !gone {
            kept.push((i, raw(i)?));
        }
    }
    // Longest first, so every name that is a suffix of another finds it already written.
    kept.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    let mut table = vec![0u8];
    let mut index = vec![0u32; elf.shdrs.len()];
    for (i, name) in kept {
        if name.is_empty() {
            continue;
        }
        let mut needle = name.to_vec();
        needle.push(0);
        let at = match table
            .windows(needle.len())
            .position(|w| w == needle.as_slice())
        {
            Some(p) => p,
            None => {
                table.extend_from_slice(&needle);
                table.len() - needle.len()
            }
        };
        index[i] = u32::try_from(at).ok()?;
    }
    (table.len() < bytes.len()).then_some(Names { table, index })
}

/// What the output is checked against, taken from the input before its bytes are moved.
struct Before {
    phdrs: Vec<Phdr>,
    dynamic: Result<Dynamic, String>,
    /// What the output may change, in input offsets ([`rewritten`]).
    allowed: Vec<Rewritten>,
    /// Per group: a digest of every byte the output must keep ([`kept_runs`]).
    digests: Vec<(u32, u64)>,
}

impl Before {
    fn take(elf: &Elf<'_>, groups: &[Group], dynsyms: &[(u64, u64)]) -> Before {
        let allowed = rewritten(elf, dynsyms);
        let digests = groups
            .iter()
            .map(|g| digest_runs(g, &allowed, |from, to| elf.data.get(from..to)))
            .map(|d| d.unwrap_or((0, u64::MAX)))
            .collect();
        Before {
            phdrs: elf.phdrs.clone(),
            dynamic: elf.dynamic().map_err(|e| e.to_string()),
            allowed,
            digests,
        }
    }
}

/// A digest (CRC-32 and length) of the bytes of group `g` that must not change, read through
/// `read` (input offsets → bytes); `None` when a run cannot be read.
fn digest_runs<'d>(
    g: &Group,
    allowed: &[Rewritten],
    read: impl Fn(usize, usize) -> Option<&'d [u8]>,
) -> Option<(u32, u64)> {
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0u64;
    let mut ok = true;
    kept_runs(g, allowed, |from, to| {
        match read(from as usize, to as usize) {
            Some(b) => crc.update(b),
            None => ok = false,
        }
        len += to - from;
    });
    ok.then(|| (crc.finalize(), len))
}

/// Re-parse the output and compare everything the loader relies on.
fn verify(orig: &Before, out: &[u8], groups: &[Group]) -> Result<(), String> {
    let new = Elf::parse(out).map_err(|e| e.to_string())?;
    if new.phdrs.len() != orig.phdrs.len() {
        return Err("program header count changed".into());
    }
    for (a, b) in orig.phdrs.iter().zip(&new.phdrs) {
        if (a.typ, a.flags, a.vaddr, a.paddr, a.filesz, a.memsz, a.align)
            != (b.typ, b.flags, b.vaddr, b.paddr, b.filesz, b.memsz, b.align)
        {
            return Err("a program header changed".into());
        }
        // Congruence must hold wherever it held (an empty PT_LOAD may lack it from the start).
        if b.typ == PT_LOAD
            && b.align > 1
            && b.offset % b.align != b.vaddr % b.align
            && a.offset % a.align == a.vaddr % a.align
        {
            return Err(format!(
                "PT_LOAD at {:#x} not congruent with its address mod {:#x}",
                b.offset, b.align
            ));
        }
    }
    // Segment bytes are identical, apart from the header and program header table we rewrote.
    segments_unchanged(orig, out, groups)?;
    let da = orig.dynamic.clone()?;
    let db = new.dynamic().map_err(|e| e.to_string())?;
    if da != db {
        return Err("dynamic table (DT_NEEDED / SONAME / RUNPATH / version needs) changed".into());
    }
    Ok(())
}

/// Bytes of the input the output may change: the ELF header, the program header table, and
/// `st_shndx` (bytes 6 and 7 of each 24-byte entry) of the dynamic symbol tables, which were
/// remapped on purpose. Sorted by start.
fn rewritten(orig: &Elf<'_>, dynsyms: &[(u64, u64)]) -> Vec<Rewritten> {
    let ph_len = orig.phdrs.len() as u64 * 56;
    let mut out = vec![
        Rewritten {
            start: 0,
            end: u64::from(orig.ehsize),
            symbols: false,
        },
        Rewritten {
            start: orig.phoff,
            end: orig.phoff.saturating_add(ph_len),
            symbols: false,
        },
    ];
    out.extend(dynsyms.iter().map(|&(o, sz)| Rewritten {
        start: o,
        end: o.saturating_add(sz),
        symbols: true,
    }));
    out.retain(|r| r.start < r.end);
    out.sort_by_key(|r| (r.start, r.end));
    out
}

/// A range of the input whose bytes the output may change ([`rewritten`]).
struct Rewritten {
    start: u64,
    end: u64,
    /// A dynamic symbol table: only each entry's `st_shndx` may change.
    symbols: bool,
}

/// The runs of group `g` (input offsets, in order) whose bytes the output keeps: everything
/// outside [`rewritten`] ranges, and each dynamic symbol but its `st_shndx`.
fn kept_runs(g: &Group, allowed: &[Rewritten], mut run: impl FnMut(u64, u64)) {
    let mut off = g.start;
    while off < g.end {
        match allowed.iter().find(|r| r.end > off) {
            Some(r) if r.start <= off => {
                let stop = r.end.min(g.end);
                if r.symbols {
                    let mut at = off;
                    while at < stop {
                        // Within an entry: bytes 0-5 and 8-23 are kept, 6-7 may change.
                        let k = (at - r.start) % 24;
                        let next = if k < 6 {
                            (at - k + 6).min(stop)
                        } else if k < 8 {
                            at = (at - k + 8).min(stop);
                            continue;
                        } else {
                            (at - k + 24).min(stop)
                        };
                        run(at, next);
                        at = next;
                    }
                }
                off = stop;
            }
            Some(r) => {
                let stop = r.start.min(g.end);
                run(off, stop);
                off = stop;
            }
            None => {
                run(off, g.end);
                off = g.end;
            }
        }
    }
}

/// Every byte of every loaded segment that must be kept is the same in `out`, at its new
/// offset: the digests of the input's runs, taken before the bytes moved, against the same runs
/// read from the output.
fn segments_unchanged(orig: &Before, out: &[u8], groups: &[Group]) -> Result<(), String> {
    for (g, want) in groups.iter().zip(&orig.digests) {
        let moved = |off: usize| off - g.start as usize + g.new as usize;
        let got = digest_runs(g, &orig.allowed, |from, to| out.get(moved(from)..moved(to)));
        if got != Some(*want) {
            return Err(format!(
                "the bytes of the segment at {:#x} changed",
                g.start
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// How many files this thread stripped by moving their bytes in place (not copied).
        pub(super) static MOVED_IN_PLACE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    #[test]
    fn strips_the_test_binary_and_keeps_it_loadable_shape() {
        let exe = std::fs::read("/proc/self/exe").expect("read self");
        match strip(&exe) {
            Stripped::Done { data, removed } => {
                assert!(data.len() < exe.len());
                assert!(removed.iter().any(|r| r == ".symtab"), "{removed:?}");
                // Stripping again finds nothing to do.
                assert_eq!(strip(&data), Stripped::Kept(KeepReason::NothingToStrip));
                let e = Elf::parse(&data).expect("parse output");
                assert!(e.shdrs.iter().all(|s| s.typ != SHT_SYMTAB));
            }
            Stripped::Kept(r) => panic!("expected the test binary to strip, kept: {r}"),
        }
    }

    #[test]
    fn a_section_name_table_index_past_the_table_is_kept_not_a_panic() {
        // Regression (fuzzing): e_shstrndx was used to index the section table unchecked.
        let mut exe = std::fs::read("/proc/self/exe").expect("read self");
        let shnum = u16::from_le_bytes([exe[0x3c], exe[0x3d]]);
        for bad in [shnum, shnum + 1, 0xfeff] {
            exe[0x3e..0x40].copy_from_slice(&bad.to_le_bytes());
            assert!(matches!(strip(&exe), Stripped::Kept(_)), "e_shstrndx {bad}");
        }
    }

    #[test]
    fn segments_keep_page_congruence_even_when_p_align_says_less() {
        // Regression (fuzzing, elf_strip): a PT_LOAD with p_align 0 or 1 was moved by any amount,
        // but the loader maps whole pages and needs offset ≡ vaddr (mod page size) regardless.
        let mut exe = std::fs::read("/proc/self/exe").expect("read self");
        let elf = Elf::parse(&exe).expect("parse");
        let phoff = elf.phoff as usize;
        let loads: Vec<usize> = (0..elf.phdrs.len())
            .filter(|&k| elf.phdrs[k].typ == PT_LOAD)
            .collect();
        for k in loads {
            exe[phoff + k * 56 + 48..phoff + k * 56 + 56].copy_from_slice(&0u64.to_le_bytes());
        }
        if let Stripped::Done { data, .. } = strip(&exe) {
            let out = Elf::parse(&data).expect("parse output");
            for p in out.phdrs.iter().filter(|p| p.typ == PT_LOAD) {
                assert_eq!(p.offset % PAGE, p.vaddr % PAGE, "{p:?}");
            }
        }
    }

    /// Names in the section name table of `data`, in table order.
    fn table_names(data: &[u8]) -> Vec<String> {
        let e = Elf::parse(data).expect("parse");
        let t = e.shdrs[e.shstrndx];
        data[t.offset as usize..(t.offset + t.size) as usize]
            .split(|&b| b == 0)
            .filter(|n| !n.is_empty())
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect()
    }

    #[test]
    fn the_name_table_loses_removed_sections_names() {
        let exe = std::fs::read("/proc/self/exe").expect("read self");
        let Stripped::Done { data, removed } = strip(&exe) else {
            panic!("expected the test binary to strip");
        };
        let names = table_names(&data);
        for r in &removed {
            // A removed name may survive only as the tail of a kept one (`.strtab` in
            // `.shstrtab`).
            assert!(
                !names.contains(r) || names.iter().any(|n| n != r && n.ends_with(r.as_str())),
                "{r} still named in {names:?}"
            );
        }
        let out = Elf::parse(&data).expect("parse");
        for i in 1..out.shdrs.len() {
            assert!(!out.section_name(i).is_empty(), "section {i} lost its name");
        }
        assert!(out.section_name(out.shstrndx) == ".shstrtab");
    }

    /// pyelftools' `note_after_gnu_property` and `note_with_segment_padding`: NOBITS `.bss`
    /// with `sh_offset` past the end of the file (legal; GNU strip handles them).
    #[test]
    fn nobits_past_the_end_of_the_file_strips() {
        for (name, bytes) in [
            (
                "note_after_gnu_property",
                &include_bytes!("../../tests/elf/note_after_gnu_property.elf")[..],
            ),
            (
                "note_with_segment_padding",
                &include_bytes!("../../tests/elf/note_with_segment_padding.elf")[..],
            ),
        ] {
            let e = Elf::parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                e.shdrs.iter().any(
                    |s| s.typ == super::super::elf::SHT_NOBITS && s.offset > bytes.len() as u64
                ),
                "{name}: the fixture has .bss past the end"
            );
            match strip(bytes) {
                Stripped::Done { data, removed } => {
                    assert!(data.len() < bytes.len(), "{name}");
                    assert!(
                        removed.iter().any(|r| r == ".symtab"),
                        "{name}: {removed:?}"
                    );
                    let out = Elf::parse(&data).expect("parse output");
                    for s in out.shdrs.iter().filter(|s| s.file_size() > 0) {
                        assert!(s.offset + s.size <= data.len() as u64, "{name}: {s:?}");
                    }
                }
                Stripped::Kept(r) => panic!("{name}: kept: {r}"),
            }
        }
    }

    #[test]
    fn non_elf_is_kept() {
        assert_eq!(strip(b"#!/bin/sh\n"), Stripped::Kept(KeepReason::NotElf));
    }

    /// The byte-by-byte check the digests replaced, as the oracle.
    fn segments_unchanged_bytewise(
        orig: &Elf<'_>,
        out: &[u8],
        groups: &[Group],
        dynsyms: &[(u64, u64)],
    ) -> Result<(), String> {
        let ph_len = orig.phdrs.len() as u64 * 56;
        for g in groups {
            for off in g.start..g.end {
                let in_hdr = off < u64::from(orig.ehsize);
                let in_ph = off >= orig.phoff && off < orig.phoff + ph_len;
                let in_shndx = dynsyms
                    .iter()
                    .any(|&(o, sz)| off >= o && off < o + sz && matches!((off - o) % 24, 6 | 7));
                if in_hdr || in_ph || in_shndx {
                    continue;
                }
                let new_off = off - g.start + g.new;
                if orig.data[off as usize] != out[new_off as usize] {
                    return Err(format!("segment byte at {off:#x} changed"));
                }
            }
        }
        Ok(())
    }

    /// The digest comparison accepts and refuses what the byte-by-byte one did: for the
    /// unchanged copy of this test binary, for a byte changed in a segment, in the header, in
    /// the program header table and in a symbol's st_shndx (allowed) or its st_value (not
    /// allowed).
    #[test]
    fn segment_comparison_matches_the_bytewise_check() {
        let exe = std::fs::read("/proc/self/exe").expect("read self");
        let elf = Elf::parse(&exe).expect("parse self");
        let (groups, _) = load_groups(&elf).expect("groups");
        let load = groups
            .iter()
            .max_by_key(|g| g.end - g.start)
            .expect("a group");
        let mid = load.start + (load.end - load.start) / 2;
        let sym = (mid - (mid % 8)).max(load.start + 64);
        let dynsyms = [(sym, 24 * 4)];
        // An output laid out like the input (each group at its own offset).
        let same: Vec<Group> = groups
            .iter()
            .map(|g| Group { new: g.start, ..*g })
            .collect();
        let cases: Vec<(&str, Option<u64>)> = vec![
            ("unchanged", None),
            ("a segment byte", Some(mid + 24 * 8)),
            ("the header", Some(0x10)),
            ("the program header table", Some(elf.phoff + 8)),
            ("a symbol's st_shndx", Some(sym + 24 + 6)),
            ("a symbol's st_value", Some(sym + 24 + 8)),
        ];
        let mut refused = 0;
        for (what, flip) in cases {
            let mut out = exe.clone();
            if let Some(at) = flip {
                out[at as usize] ^= 0x5a;
            }
            let before = Before::take(&elf, &same, &dynsyms);
            let fast = segments_unchanged(&before, &out, &same);
            let slow = segments_unchanged_bytewise(&elf, &out, &same, &dynsyms);
            assert_eq!(fast.is_ok(), slow.is_ok(), "{what}: {fast:?} {slow:?}");
            refused += usize::from(fast.is_err());
        }
        assert_eq!(refused, 2, "a segment byte and st_value are refused");
    }

    /// Moving the blocks within the input's own buffer gives the bytes copying them into a
    /// fresh one gives, for this test binary and the system's shared libraries (real layouts:
    /// several segments, name tables, sections outside segments).
    #[test]
    fn moving_in_place_gives_the_bytes_of_a_fresh_copy() {
        let mut files = vec![std::path::PathBuf::from("/proc/self/exe")];
        for dir in [
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/usr/lib64",
        ] {
            if let Ok(rd) = std::fs::read_dir(dir) {
                let mut libs: Vec<_> = rd
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.to_string_lossy().contains(".so"))
                    .collect();
                libs.sort();
                files.extend(libs.into_iter().take(60));
            }
        }
        let mut stripped = 0;
        let before = MOVED_IN_PLACE.with(std::cell::Cell::get);
        for f in &files {
            let Ok(data) = std::fs::read(f) else { continue };
            let moved = strip_inner(data.clone(), true);
            let copied = strip_inner(data.clone(), false);
            assert_eq!(moved, copied, "{}", f.display());
            stripped += usize::from(matches!(moved, Ok(Stripped::Done { .. })));
        }
        assert!(
            stripped >= 1,
            "nothing stripped among {} files",
            files.len()
        );
        // Every file this test stripped went through the move (counted on this thread).
        let moved = MOVED_IN_PLACE.with(std::cell::Cell::get) - before;
        assert_eq!(moved, stripped, "moved in place vs stripped");
    }
}
