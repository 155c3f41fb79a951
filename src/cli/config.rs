//! `lpack config`: the effective build settings and where each came from.

use clap::Args;

use super::build::{derived_for_unit, keys};
use super::settings::derived_input;
use super::settings::{self, SourceRow, env_name};
use super::{Invocation, Outcome};
use crate::config::{KEYS, Kind, Table};
use crate::pipeline::many::UnitKind;

pub const EXAMPLES: &str = "\
Examples:
  lpack config                          # the settings `lpack build` would use here
  lpack config ingest                   # those of [functions.ingest] (or [layers.ingest])
  lpack config -- --runtime python3.11  # with build flags on top, as `lpack build` gets them
  LPACK_PROFILE=aggressive lpack config --json
  lpack config --keys                   # every key a config file may hold

Precedence: command line > LPACK_* environment variables > config file (a function's or
layer's table, then the shared settings at the top) > defaults.";

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// A function or layer of the config [default: the shared settings at the top]
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Machine-readable settings on stdout
    #[arg(long)]
    pub json: bool,
    /// List every key a config file may hold, with its type and environment variable
    #[arg(long, conflicts_with = "name")]
    pub keys: bool,
    /// `lpack build` flags to layer on top (after `--`)
    #[arg(last = true, value_name = "BUILD FLAGS")]
    pub build_flags: Vec<String>,
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Str => "string",
        Kind::Bool => "boolean",
        Kind::List => "string or array of strings",
        Kind::Size => "size (bytes or \"250MiB\")",
    }
}

pub fn run(args: ConfigArgs, inv: &Invocation) -> anyhow::Result<Outcome> {
    if args.keys {
        print_keys(args.json)?;
        return Ok(Outcome::Ok);
    }
    let config = inv.load_config()?;
    let empty = Table::new();
    let mut argv: Vec<std::ffi::OsString> = vec!["lpack".into(), "build".into()];
    argv.extend(args.build_flags.iter().map(Into::into));
    let (title, rows): (String, Vec<SourceRow>) = match (&config, &args.name) {
        (Some(c), Some(name)) => unit_sources(c, name, &argv)?,
        (None, Some(name)) => {
            anyhow::bail!(
                "no lpack.toml or [tool.lpack] found, so there is no function or layer `{name}`\n  hint: `lpack init` writes a config"
            )
        }
        (c, None) => {
            let (root, derived) = match c {
                Some(c) => (&c.root, derived_input(c)),
                None => (&empty, Vec::new()),
            };
            let l = settings::layer(&argv, "build", &keys(), &[root], &derived)?;
            ("shared settings".to_string(), l.sources)
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "config": config.as_ref().map(|c| c.path.display().to_string()),
                "functions": config.as_ref().map(|c| c.functions.iter().map(|u| u.name.clone()).collect::<Vec<_>>()).unwrap_or_default(),
                "layers": config.as_ref().map(|c| c.layers.iter().map(|u| u.name.clone()).collect::<Vec<_>>()).unwrap_or_default(),
                "name": args.name,
                "settings": rows,
            }))?
        );
        return Ok(Outcome::Ok);
    }
    print_config(config.as_ref());
    println!("settings: {title}\n");
    print_rows(&rows);
    Ok(Outcome::Ok)
}

/// `lpack config --keys`: every key a config file may hold, its type and variable.
fn print_keys(json: bool) -> anyhow::Result<()> {
    if json {
        let keys: Vec<_> = KEYS
            .iter()
            .map(|k| {
                serde_json::json!({
                    "key": k.name, "type": kind_name(k.kind), "env": env_name(k.name),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&keys)?);
    } else {
        println!("{:<22} {:<28} ENVIRONMENT", "KEY", "TYPE");
        for k in KEYS {
            println!(
                "{:<22} {:<28} {}",
                k.name,
                kind_name(k.kind),
                env_name(k.name)
            );
        }
        println!(
            "\nEach key is `lpack build`'s flag of the same name (see `lpack build --help`).\n[functions.NAME] tables may also hold `layers = [\"LAYER\", …]`."
        );
    }
    Ok(())
}

/// The layered settings of the function or layer `name`, with its title.
fn unit_sources(
    c: &crate::config::ConfigFile,
    name: &str,
    argv: &[std::ffi::OsString],
) -> anyhow::Result<(String, Vec<SourceRow>)> {
    let found = c
        .functions
        .iter()
        .map(|u| (u, UnitKind::Function))
        .chain(c.layers.iter().map(|u| (u, UnitKind::Layer)))
        .find(|(u, _)| u.name == name);
    let Some((unit, kind)) = found else {
        anyhow::bail!(
            "{} declares no function or layer named `{name}`",
            c.path.display()
        );
    };
    let derived = derived_for_unit(c, unit, kind);
    // A layer inherits the shared settings but the function keys, as `build` layers them.
    let layer_root = c.root_for_layers();
    let root = if kind == UnitKind::Layer {
        &layer_root
    } else {
        &c.root
    };
    let l = settings::layer(argv, "build", &keys(), &[&unit.settings, root], &derived)?;
    let what = if kind == UnitKind::Layer {
        "layer"
    } else {
        "function"
    };
    Ok((format!("{what} `{name}`"), l.sources))
}

/// Which config file was found, and the functions and layers it declares.
fn print_config(config: Option<&crate::config::ConfigFile>) {
    match config {
        Some(c) => {
            println!("config: {}", c.path.display());
            let names = |units: &[crate::config::Unit]| {
                units
                    .iter()
                    .map(|u| u.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if !c.functions.is_empty() {
                println!("functions: {}", names(&c.functions));
            }
            if !c.layers.is_empty() {
                println!("layers: {}", names(&c.layers));
            }
        }
        None => println!(
            "config: none (no lpack.toml or [tool.lpack] from here up to the repository root)"
        ),
    }
}

/// The settings as a table: key, value and where it came from.
fn print_rows(rows: &[SourceRow]) {
    let width = rows.iter().map(|r| r.key.len()).max().unwrap_or(0).max(3);
    let vwidth = rows
        .iter()
        .map(|r| r.value.as_deref().unwrap_or("-").chars().count())
        .max()
        .unwrap_or(0)
        .clamp(5, 60);
    println!("{:<width$}  {:<vwidth$}  SOURCE", "KEY", "VALUE");
    for r in rows {
        println!(
            "{:<width$}  {:<vwidth$}  {}",
            r.key,
            r.value.as_deref().unwrap_or("-"),
            r.source
        );
    }
}
