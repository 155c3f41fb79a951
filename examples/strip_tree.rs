//! Strip every ELF file under a directory in place with lpack's stripper (used by
//! `benches/strip_vs_gnu.py`). Prints one line per file kept unchanged, then totals.

use rayon::prelude::*;

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: strip_tree DIR");
        std::process::exit(2);
    };
    let files: Vec<_> = walkdir::WalkDir::new(&dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    let results: Vec<(u64, u64, Option<String>)> = files
        .par_iter()
        .filter_map(|p| {
            let data = std::fs::read(p).ok()?;
            if !lpack::slim::elf::is_elf(&data) {
                return None;
            }
            match lpack::slim::strip::strip(&data) {
                lpack::slim::strip::Stripped::Done { data: out, .. } => {
                    std::fs::write(p, &out).ok()?;
                    Some((data.len() as u64, out.len() as u64, None))
                }
                lpack::slim::strip::Stripped::Kept(r) => Some((
                    data.len() as u64,
                    data.len() as u64,
                    Some(format!("{}: {r}", p.display())),
                )),
            }
        })
        .collect();
    let (mut before, mut after, mut kept) = (0, 0, 0);
    for (b, a, k) in &results {
        before += b;
        after += a;
        if let Some(k) = k {
            kept += 1;
            println!("kept {k}");
        }
    }
    println!(
        "elf files: {}  kept: {kept}  bytes: {before} -> {after}",
        results.len()
    );
}
