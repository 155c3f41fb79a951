//! ELF reader and stripper. Round trip: a stripped file re-parses, keeps its program headers and
//! its dynamic section facts.
#![no_main]
use lpack::slim::elf::Elf;
use lpack::slim::strip::{Stripped, strip};

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
        assert_eq!(before.phdrs, after.phdrs, "program headers kept");
        assert!(out.len() < data.len(), "stripping only shrinks");
        if let Some(Ok(d)) = dynamic {
            assert_eq!(after.dynamic().ok(), Some(d), "dynamic facts kept");
        }
    }
});
