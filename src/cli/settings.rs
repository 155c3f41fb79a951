//! Layered settings: command line > `LPACK_*` environment variables > config file > defaults.
//!
//! A config key is a flag's long name, so layering works on the command line itself: every key
//! the user did not give as a flag (nor clap read from its own `env`) is taken from an `LPACK_*`
//! variable, else from the config tables (a function's table before the shared one), and added to
//! the arguments as `--key=value`; the result is parsed again by the same clap definitions. Every
//! value is therefore checked by the flag's own parser, and a bad one is reported at the
//! `file:line:col` (or the variable) it came from. [`Layered::sources`] records where each value
//! came from for `lpack config`.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory};

use super::Cli;
use crate::config::{ConfigFile, Kind, Origin, Table, Value};

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Source {
    CommandLine,
    Env {
        variable: String,
    },
    File {
        location: String,
    },
    /// A default lpack derives from the config (e.g. `dist/NAME.zip`).
    Derived {
        why: String,
    },
    Default,
    Unset,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::CommandLine => write!(f, "command line"),
            Source::Env { variable } => write!(f, "env {variable}"),
            Source::File { location } => write!(f, "{location}"),
            Source::Derived { why } => write!(f, "{why}"),
            Source::Default => write!(f, "default"),
            Source::Unset => write!(f, "-"),
        }
    }
}

/// One row of `lpack config`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceRow {
    pub key: String,
    /// The effective value (`None`: unset).
    pub value: Option<String>,
    pub source: Source,
}

/// A command's arguments after layering.
pub struct Layered {
    pub argv: Vec<OsString>,
    pub matches: ArgMatches,
    pub sources: Vec<SourceRow>,
}

/// The environment variable for a key: `LPACK_` + the key in upper case with `_` for `-`.
pub fn env_name(key: &str) -> String {
    format!("LPACK_{}", key.to_ascii_uppercase().replace('-', "_"))
}

/// Find and read the config: `--no-config` none, `--config FILE` that file (an error if
/// missing), else the nearest `lpack.toml` / `[tool.lpack]` from the working directory up.
pub fn load_config(explicit: Option<&Path>, disabled: bool) -> anyhow::Result<Option<ConfigFile>> {
    if disabled {
        return Ok(None);
    }
    let path = match explicit {
        Some(p) => {
            if !p.is_file() {
                bail!(
                    "config file {} not found\n  hint: check the --config path (or $LPACK_CONFIG), or drop it to use the lpack.toml / [tool.lpack] found from the working directory",
                    p.display()
                );
            }
            p.to_path_buf()
        }
        None => {
            let cwd = std::env::current_dir().context("cannot read the working directory")?;
            match crate::config::discover(&cwd)? {
                Some(p) => p,
                None => return Ok(None),
            }
        }
    };
    // Shown relative to the working directory when it is below it (diagnostics, `lpack config`).
    let path = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(path);
    let config = crate::config::load(&path)?;
    for w in &config.warnings {
        eprintln!("warning: {w}");
    }
    Ok(Some(config))
}

/// A value injected below the command line, and where it came from.
struct Injected {
    key: String,
    value: Value,
    source: Source,
    origin: Option<Origin>,
}

/// Layer the settings of subcommand `sub` (its name in `argv`): keys in `allowed` not given on
/// the command line come from the environment, then `tables` in order, then `derived` defaults.
pub fn layer(
    argv: &[OsString],
    sub: &str,
    allowed: &[&str],
    tables: &[&Table],
    derived: &[(&str, Value, String)],
) -> anyhow::Result<Layered> {
    let cmd = built_command();
    let first = first_matches(&cmd, argv)?;
    let Some(sub_matches) = first.subcommand_matches(sub) else {
        bail!("internal: `{sub}` is not the command being run");
    };
    let sub_cmd = cmd
        .find_subcommand(sub)
        .ok_or_else(|| anyhow!("internal: no subcommand `{sub}`"))?
        .clone();
    let mut injected: Vec<Injected> = Vec::new();
    let mut sources: Vec<(String, Source)> = Vec::new();
    for key in allowed {
        let Some(arg) = sub_cmd.get_arguments().find(|a| a.get_long() == Some(key)) else {
            bail!("internal: `lpack {sub}` has no --{key}");
        };
        let (source, inj) = key_source(key, arg, sub_matches, tables, derived)?;
        injected.extend(inj);
        sources.push((key.to_string(), source));
    }
    // Check every injected value with its flag's own parser, reporting where it was written.
    for inj in &injected {
        check_value(&sub_cmd, inj)?;
    }
    let new_argv = with_injected(argv, &injected);
    let matches = cmd.try_get_matches_from(&new_argv).map_err(|e| {
        let who: Vec<String> = injected
            .iter()
            .map(|i| format!("{} ({})", i.key, i.source))
            .collect();
        anyhow!(
            "{}\n  the settings added from the environment and config file were: {}",
            e.render().to_string().trim_end(),
            who.join(", ")
        )
    })?;
    let sub_final = matches
        .subcommand_matches(sub)
        .ok_or_else(|| anyhow!("internal: `{sub}` vanished"))?;
    let rows = source_rows(&sub_cmd, sub_final, sources);
    Ok(Layered {
        argv: new_argv,
        matches,
        sources: rows,
    })
}

/// `argv` as given, parsed (remembered per process: every unit of a run over many functions
/// layers its settings over the same command line).
fn first_matches(cmd: &clap::Command, argv: &[OsString]) -> anyhow::Result<ArgMatches> {
    type Seen = Vec<(Vec<OsString>, ArgMatches)>;
    static SEEN: std::sync::Mutex<Seen> = std::sync::Mutex::new(Vec::new());
    if let Some(m) = SEEN.lock().ok().and_then(|seen| {
        seen.iter()
            .find(|(a, _)| a.as_slice() == argv)
            .map(|(_, m)| m.clone())
    }) {
        return Ok(m);
    }
    let m = cmd
        .clone()
        .try_get_matches_from(argv)
        .map_err(|e| anyhow!("{}", e.render()))?;
    if let Ok(mut seen) = SEEN.lock() {
        seen.push((argv.to_vec(), m.clone()));
    }
    Ok(m)
}

/// lpack's command line, built once per process (a run over many functions layers each
/// one's settings, and building clap's command is most of that).
fn built_command() -> clap::Command {
    static BUILT: std::sync::OnceLock<clap::Command> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let mut cmd = Cli::command();
            cmd.build();
            cmd
        })
        .clone()
}

/// Where `key` takes its value from, and the value to inject when it comes from below the flags.
fn key_source(
    key: &str,
    arg: &clap::Arg,
    sub_matches: &ArgMatches,
    tables: &[&Table],
    derived: &[(&str, Value, String)],
) -> anyhow::Result<(Source, Option<Injected>)> {
    let id = arg.get_id().as_str();
    match sub_matches.value_source(id) {
        Some(ValueSource::CommandLine) => return Ok((Source::CommandLine, None)),
        Some(ValueSource::EnvVariable) => {
            let variable = arg
                .get_env()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_else(|| env_name(key));
            return Ok((Source::Env { variable }, None));
        }
        _ => {}
    }
    if let Some(inj) = env_value(key)? {
        return Ok((inj.source.clone(), Some(inj)));
    }
    if let Some(s) = tables.iter().find_map(|t| t.get(key)) {
        let source = Source::File {
            location: s.origin.to_string(),
        };
        let inj = Injected {
            key: key.to_string(),
            value: s.value.clone(),
            source: source.clone(),
            origin: Some(s.origin.clone()),
        };
        return Ok((source, Some(inj)));
    }
    if let Some((_, v, why)) = derived.iter().find(|(k, _, _)| *k == key) {
        let inj = Injected {
            key: key.to_string(),
            value: v.clone(),
            source: Source::Derived { why: why.clone() },
            origin: None,
        };
        return Ok((Source::Derived { why: why.clone() }, Some(inj)));
    }
    let source = match sub_matches.value_source(id) {
        Some(ValueSource::DefaultValue) => Source::Default,
        _ => Source::Unset,
    };
    Ok((source, None))
}

/// The value of `key` from its `LPACK_*` variable, when the key is known and the variable set.
fn env_value(key: &str) -> anyhow::Result<Option<Injected>> {
    let spec = crate::config::KEYS.iter().find(|k| k.name == key);
    let var = env_name(key);
    let (Some(spec), Some(raw)) = (spec, std::env::var_os(&var)) else {
        return Ok(None);
    };
    let raw = raw
        .into_string()
        .map_err(|_| anyhow!("${var} is not valid UTF-8"))?;
    let value = match spec.kind {
        Kind::Bool => Value::Bool(parse_bool(&raw).ok_or_else(|| {
            anyhow!("${var}={raw} is not a boolean\n  hint: use 1/0, true/false, yes/no or on/off")
        })?),
        Kind::List => Value::List(raw.split_whitespace().map(str::to_string).collect()),
        Kind::Str | Kind::Size => Value::Str(raw),
    };
    Ok(Some(Injected {
        key: key.to_string(),
        value,
        source: Source::Env { variable: var },
        origin: None,
    }))
}

/// `argv` with the injected values as `--key=value`, before a `--` or else at the end.
fn with_injected(argv: &[OsString], injected: &[Injected]) -> Vec<OsString> {
    let extra: Vec<OsString> = injected
        .iter()
        .flat_map(|i| i.value.to_args(&i.key))
        .map(OsString::from)
        .collect();
    let mut new_argv: Vec<OsString> = argv.to_vec();
    let at = new_argv
        .iter()
        .position(|a| a == OsStr::new("--"))
        .unwrap_or(new_argv.len());
    new_argv.splice(at..at, extra);
    new_argv
}

/// One row per key: its effective value after layering and where it came from.
fn source_rows(
    sub_cmd: &clap::Command,
    sub_final: &ArgMatches,
    sources: Vec<(String, Source)>,
) -> Vec<SourceRow> {
    sources
        .into_iter()
        .map(|(key, source)| {
            let value = sub_cmd
                .get_arguments()
                .find(|a| a.get_long() == Some(key.as_str()))
                .and_then(|a| sub_final.get_raw(a.get_id().as_str()))
                .map(|vals| {
                    vals.map(|v| v.to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                });
            SourceRow { key, value, source }
        })
        .collect()
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// Check an injected value as its flag would: one of the flag's possible values, a size, or a
/// runtime / architecture lpack knows (those flags take strings and are parsed later).
fn check_value(sub_cmd: &clap::Command, inj: &Injected) -> anyhow::Result<()> {
    let Some(arg) = sub_cmd
        .get_arguments()
        .find(|a| a.get_long() == Some(inj.key.as_str()))
    else {
        return Ok(());
    };
    let values: Vec<&str> = match &inj.value {
        Value::Str(s) => vec![s.as_str()],
        Value::List(v) => v.iter().map(String::as_str).collect(),
        Value::Bool(_) => return Ok(()),
    };
    let kind = crate::config::KEYS
        .iter()
        .find(|k| k.name == inj.key)
        .map(|k| k.kind);
    let place = match &inj.origin {
        Some(o) => o.to_string(),
        None => inj.source.to_string(),
    };
    for v in values {
        let problem = match inj.key.as_str() {
            "runtime" => v
                .parse::<crate::target::Runtime>()
                .err()
                .map(|e| e.to_string()),
            "arch" => v
                .parse::<crate::target::Arch>()
                .err()
                .map(|e| e.to_string()),
            _ if kind == Some(Kind::Size) => crate::report::parse_size(v).err(),
            _ => arg
                .get_value_parser()
                .possible_values()
                .and_then(|mut values| {
                    let names: Vec<String> = values
                        .by_ref()
                        .filter(|p| !p.is_hide_set())
                        .map(|p| p.get_name().to_string())
                        .collect();
                    (!names.iter().any(|n| n == v))
                        .then(|| format!("`{v}` is not one of: {}", names.join(", ")))
                }),
        };
        if let Some(p) = problem {
            bail!("{place}: error[C012]: invalid value for `{}`: {p}", inj.key);
        }
    }
    Ok(())
}

/// The keys of the commands that read packages (lock, explain, verify): where they come from
/// and the cache.
pub const SOURCE_KEYS: &[&str] = &[
    "index-url",
    "extra-index-url",
    "find-links",
    "no-index",
    "cache-dir",
    "offline",
    "remote-cache",
    "remote-cache-mode",
    "remote-endpoint",
];

/// Layer the shared settings of the config (and `LPACK_*` variables) under the flags of a command
/// other than `build`, for the `keys` it shares with `build`, and parse its arguments again.
pub fn layer_command<T: clap::FromArgMatches>(
    inv: &super::Invocation,
    sub: &str,
    own: &[&str],
) -> anyhow::Result<T> {
    layer_command_for(inv, sub, own, |_| None)
}

/// [`layer_command`] for a command about one function of the config: `function` picks it (by
/// name, from what the command was given), and its `[functions.NAME]` table is read before the
/// shared one, as `lpack build NAME` reads it.
pub fn layer_command_for<T: clap::FromArgMatches>(
    inv: &super::Invocation,
    sub: &str,
    own: &[&str],
    function: impl Fn(&ConfigFile) -> Option<String>,
) -> anyhow::Result<T> {
    let keys: Vec<&str> = own.iter().chain(SOURCE_KEYS).copied().collect();
    let config = inv.load_config()?;
    let empty = Table::new();
    let mut tables: Vec<&Table> = Vec::new();
    if let Some(c) = &config {
        if let Some(name) = function(c)
            && let Some(f) = c.functions.iter().find(|f| f.name == name)
        {
            tables.push(&f.settings);
        }
        tables.push(&c.root);
    } else {
        tables.push(&empty);
    }
    // The input found beside the config, as `build` finds it.
    let derived = match &config {
        Some(c) if own.contains(&"requirements") => derived_input(c),
        _ => Vec::new(),
    };
    let layered = layer(&inv.argv, sub, &keys, &tables, &derived)?;
    let m = layered
        .matches
        .subcommand_matches(sub)
        .ok_or_else(|| anyhow!("internal: `{sub}` arguments vanished"))?;
    Ok(T::from_arg_matches(m)?)
}

/// Defaults lpack derives from the config file's place: the input found beside it.
pub(super) fn derived_input(config: &ConfigFile) -> Vec<(&'static str, Value, String)> {
    let dir = config_dir(config);
    match crate::resolve::inputs::find_input(&dir) {
        Ok(p) => vec![(
            "requirements",
            Value::Str(p.display().to_string()),
            format!(
                "found beside {}",
                config
                    .path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("the config")
            ),
        )],
        Err(_) => Vec::new(),
    }
}

/// An error of a later stage speaks of flags (`--src`); when the config gave the value, say
/// which key and where, so a user who never typed the flag finds it.
pub fn name_config_keys(message: &str, sources: &[SourceRow]) -> String {
    let mut notes = Vec::new();
    for r in sources {
        let Source::File { location } = &r.source else {
            continue;
        };
        let flag = format!("--{}", r.key);
        let mentioned = message.match_indices(&flag).any(|(at, _)| {
            !message[at + flag.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        if mentioned {
            notes.push(format!(
                "{flag} is the config's key `{}` ({location})",
                r.key
            ));
        }
    }
    if notes.is_empty() {
        return message.to_string();
    }
    format!("{message}\n  note: {}", notes.join("; "))
}

/// The settings file's directory (where `dist/` and found inputs are relative to).
pub fn config_dir(config: &ConfigFile) -> PathBuf {
    // Empty for a config in the working directory, so derived paths stay relative.
    config
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    fn row<'a>(l: &'a Layered, key: &str) -> &'a SourceRow {
        l.sources.iter().find(|r| r.key == key).unwrap()
    }

    /// Every config key is a flag of `lpack build`, and every build flag but the output-only
    /// ones is a config key.
    #[test]
    fn config_keys_are_exactly_the_build_flags() {
        let cmd = Cli::command();
        let build = cmd.find_subcommand("build").unwrap();
        let flags: Vec<&str> = build
            .get_arguments()
            .filter_map(|a| a.get_long())
            .filter(|l| {
                !matches!(
                    *l,
                    "json"
                        | "quiet"
                        | "timings"
                        | "help"
                        | "jobs"
                        | "config"
                        | "no-config"
                        // Where results go, per invocation (like --json): CI output.
                        | "ci"
                        | "no-ci"
                        | "junit"
                )
            })
            .collect();
        let keys: Vec<&str> = crate::config::KEYS.iter().map(|k| k.name).collect();
        for f in &flags {
            assert!(keys.contains(f), "--{f} has no config key");
        }
        for k in &keys {
            assert!(flags.contains(k), "config key {k} is no build flag");
        }
    }

    /// Each layer overrides the next: command line > environment > function table > shared
    /// table > derived > default. (One test: environment variables are process-wide.)
    #[test]
    fn precedence() {
        let c = parse(
            Path::new("lpack.toml"),
            Path::new("/r"),
            "runtime = \"python3.11\"\narch = \"arm64\"\nprofile = \"aggressive\"\n[functions.f]\narch = \"x86_64\"\nsrc = \"f\"\n",
            false,
        )
        .unwrap();
        let keys = [
            "runtime", "arch", "profile", "format", "src", "output", "keep",
        ];
        let f = &c.functions[0].settings;
        let derived = [(
            "output",
            Value::Str("/r/dist/f.zip".into()),
            "dist/NAME.zip".to_string(),
        )];
        // SAFETY: only this test in this binary sets LPACK_PROFILE / LPACK_KEEP.
        unsafe {
            std::env::set_var("LPACK_PROFILE", "safe");
            std::env::set_var("LPACK_KEEP", "a/** b/**");
        }
        let l = layer(
            &argv(&["lpack", "build", "--runtime", "python3.13"]),
            "build",
            &keys,
            &[f, &c.root],
            &derived,
        );
        unsafe {
            std::env::remove_var("LPACK_PROFILE");
            std::env::remove_var("LPACK_KEEP");
        }
        let l = l.unwrap();
        assert_eq!(row(&l, "runtime").source, Source::CommandLine);
        assert_eq!(row(&l, "runtime").value.as_deref(), Some("python3.13"));
        assert!(matches!(row(&l, "profile").source, Source::Env { .. }));
        assert_eq!(row(&l, "profile").value.as_deref(), Some("safe"));
        assert_eq!(row(&l, "keep").value.as_deref(), Some("a/**, b/**"));
        assert_eq!(
            row(&l, "arch").source,
            Source::File {
                location: "lpack.toml:5:1".into()
            }
        );
        assert_eq!(row(&l, "arch").value.as_deref(), Some("x86_64"));
        assert_eq!(row(&l, "src").value.as_deref(), Some("/r/f"));
        assert!(matches!(row(&l, "output").source, Source::Derived { .. }));
        assert_eq!(row(&l, "format").source, Source::Default);
        assert_eq!(row(&l, "format").value.as_deref(), Some("zip"));
        // The shared table applies when the function's does not say.
        let l = layer(&argv(&["lpack", "build"]), "build", &keys, &[&c.root], &[]).unwrap();
        assert_eq!(row(&l, "arch").value.as_deref(), Some("arm64"));
        assert_eq!(row(&l, "output").source, Source::Unset);
        assert_eq!(row(&l, "output").value, None);
    }

    #[test]
    fn bad_values_are_reported_where_they_were_written() {
        let c = parse(
            Path::new("lpack.toml"),
            Path::new("/r"),
            "\nruntime = \"python2.7\"\n",
            false,
        )
        .unwrap();
        let e = layer(
            &argv(&["lpack", "build"]),
            "build",
            &["runtime"],
            &[&c.root],
            &[],
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.starts_with("lpack.toml:2:1: error[C012]: invalid value for `runtime`"),
            "{e}"
        );
        let c = parse(
            Path::new("lpack.toml"),
            Path::new("/r"),
            "on-conflict = \"tiny\"\n",
            false,
        )
        .unwrap();
        let e = layer(
            &argv(&["lpack", "build"]),
            "build",
            &["on-conflict"],
            &[&c.root],
            &[],
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.starts_with("lpack.toml:1:1: error[C012]"), "{e}");
        assert!(e.contains("tiny"), "{e}");
    }
}
