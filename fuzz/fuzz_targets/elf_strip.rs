//! ELF reader and stripper. Round trip: a stripped file is smaller, re-parses, keeps every
//! program header (only where a segment sits in the file may move, and then congruent to its
//! address modulo the page size and its alignment), and keeps its dynamic facts.
#![no_main]
use lpack::slim::elf::{Elf, PT_LOAD};
use lpack::slim::strip::{Stripped, strip};

fn bytes<'a>(data: &'a [u8], off: u64, len: u64) -> Option<&'a [u8]> {
    data.get(usize::try_from(off).ok()?..usize::try_from(off.checked_add(len)?).ok()?)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let parsed = Elf::parse(data);
    let dynamic = parsed.as_ref().ok().map(|e| e.dynamic());
    if let Ok(e) = &parsed {
        for i in 0..e.shdrs.len() {
            let _ = e.section_name(i);
        }
    }
    let _ = lpack::slim::elf_facts("fuzz.so", data);
    if let Stripped::Done { data: out, .. } = strip(data) {
        let before = parsed.expect("strip succeeded on a file that does not parse");
        let after = Elf::parse(&out).expect("stripped output re-parses");
        assert!(out.len() < data.len(), "stripping only shrinks");
        assert_eq!(before.phdrs.len(), after.phdrs.len(), "program header count");
        for (a, b) in before.phdrs.iter().zip(&after.phdrs) {
            let same = |p: &lpack::slim::elf::Phdr| (p.typ, p.flags, p.vaddr, p.paddr, p.filesz, p.memsz, p.align);
            assert_eq!(same(a), same(b), "program header kept (but its offset)");
            // Segment bytes are not compared here: the ELF header, the program header table and
            // `.dynsym` section indices live in loaded segments and are rewritten on purpose;
            // the stripper's own verify() compares everything else and keeps the original on
            // any difference. A segment must still lie inside the output.
            assert!(bytes(&out, b.offset, b.filesz).is_some(), "segment inside the file");
            // Congruence the loader needs (page size) and the one the file asks for (p_align).
            for m in [4096, a.align] {
                if a.typ == PT_LOAD && m > 1 && a.offset % m == a.vaddr % m {
                    assert_eq!(b.offset % m, b.vaddr % m, "PT_LOAD stays congruent mod {m}");
                }
            }
        }
        if let Some(Ok(d)) = dynamic {
            assert_eq!(after.dynamic().ok(), Some(d), "dynamic facts kept");
        }
    }
});
