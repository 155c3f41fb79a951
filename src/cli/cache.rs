//! `lpack cache`: where the cache is, what it holds, and clearing it.

use super::{CacheArgs, CacheCommand, Outcome, human_size};
use crate::cache::Cache;

pub fn run(args: CacheArgs) -> anyhow::Result<Outcome> {
    let root = args.cache_dir.unwrap_or_else(Cache::default_root);
    match args.command {
        CacheCommand::Dir => println!("{}", root.display()),
        CacheCommand::Info => {
            let cache = Cache::open(&root)?;
            let (bytes, wheels) = cache.usage();
            println!(
                "{}: {wheels} wheel(s), {}",
                root.display(),
                human_size(bytes)
            );
        }
        CacheCommand::Clean => {
            let cache = Cache::open(&root)?;
            let freed = cache.clean()?;
            println!("Removed {} from {}", human_size(freed), root.display());
        }
    }
    Ok(Outcome::Ok)
}
