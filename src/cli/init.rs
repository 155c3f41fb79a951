//! `lpack init`: write a commented config for the project in the working directory.

use clap::Args;

use super::Outcome;

pub const EXAMPLES: &str = "\
Examples:
  lpack init                 # writes ./lpack.toml
  lpack init --pyproject     # appends a [tool.lpack] table to ./pyproject.toml
  lpack init --force         # replaces an existing lpack.toml

It detects the input (pylock.toml, uv.lock, requirements.txt, pyproject.toml), a handler
(`def handler(event, context)` or `def lambda_handler(...)`) and its directory, and the runtime
(.python-version, else the newest Lambda runtime requires-python allows). Then `lpack build`
needs no flags.";

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Append a [tool.lpack] table to pyproject.toml instead of writing lpack.toml
    #[arg(long)]
    pub pyproject: bool,
    /// Overwrite an existing lpack.toml
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: InitArgs) -> anyhow::Result<Outcome> {
    let cwd = std::env::current_dir()?;
    let w = crate::config::init::init(&cwd, args.pyproject, args.force)?;
    let verb = if w.replaced {
        "Replaced"
    } else if args.pyproject {
        "Added [tool.lpack] to"
    } else {
        "Wrote"
    };
    println!("{verb} {}", w.path.display());
    let d = &w.detected;
    let show = |what: &str, v: Option<String>, hint: &str| match v {
        Some(v) => println!("  {what:<9} {v}"),
        None => println!("  {what:<9} not found: {hint}"),
    };
    show("input", d.input.clone(), "set `requirements` in the file");
    show(
        "src",
        d.src.clone(),
        "set `src` to your handler's directory",
    );
    show(
        "handler",
        d.handler.clone(),
        "set `handler = \"module.function\"`",
    );
    show(
        "runtime",
        d.runtime
            .as_ref()
            .map(|(r, why)| format!("{} ({why})", r.name())),
        "python3.12 is used; set `runtime`",
    );
    println!("Next: lpack build   (lpack config shows every setting and where it comes from)");
    Ok(Outcome::Ok)
}
