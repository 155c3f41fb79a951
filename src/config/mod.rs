//! Config files: `lpack.toml`, or `[tool.lpack]` in `pyproject.toml`.
//!
//! This module owns the settings vocabulary written in files ([`KEYS`]: every build setting, under
//! its command-line flag's long name), finding the file ([`discover`]: the working directory and
//! its parents up to the repository root; `lpack.toml` beats a `pyproject.toml` in the same
//! directory, and a `pyproject.toml` without `[tool.lpack]` is not a config), and reading it into
//! located values ([`ConfigFile`]): the shared table at the top, `[functions.NAME]` and
//! `[layers.NAME]` tables that override it. The keys that describe a function ([`FUNCTION_ONLY`]:
//! `src`, `handler`, `format`, image settings) apply at the top to the one build or to every
//! function, never to a layer, so a single-function file grows into a multi-function one by
//! adding tables; inside a `[layers.NAME]` table they are an error. Unknown keys, wrong types, credentials in index URLs and
//! misplaced keys are errors at `file:line:col`; deprecated spellings are warnings naming the
//! replacement. Relative paths are made relative to the file's directory, so a config means the
//! same from any subdirectory.
//!
//! Which layer wins (command line > `LPACK_*` environment > file > defaults) is decided by the
//! command line, which knows its own flags; this module only reads files and knows nothing of the
//! stages.

pub mod init;
mod keys;
pub mod plan;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use keys::nearest;
pub use keys::{DEPRECATED, FUNCTION_LAYERS_KEY, FUNCTION_ONLY, KEYS, Key, Kind, PathKind};

/// Where a value was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// A value read from a file, paths already made relative to the file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Bool(bool),
    List(Vec<String>),
}

impl Value {
    /// The value as command-line words (`--name=value`, repeated for lists; `--name` for `true`,
    /// nothing for `false`).
    pub fn to_args(&self, name: &str) -> Vec<String> {
        match self {
            Value::Str(s) => vec![format!("--{name}={s}")],
            Value::Bool(true) => vec![format!("--{name}")],
            Value::Bool(false) => Vec::new(),
            Value::List(v) => v.iter().map(|s| format!("--{name}={s}")).collect(),
        }
    }

    /// How `lpack config` shows it.
    pub fn display(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::List(v) => v.join(", "),
        }
    }
}

/// One located setting.
#[derive(Debug, Clone)]
pub struct Setting {
    pub value: Value,
    pub origin: Origin,
}

/// The settings of one table, by key.
pub type Table = BTreeMap<String, Setting>;

/// A named function or layer.
#[derive(Debug, Clone)]
pub struct Unit {
    pub name: String,
    pub settings: Table,
    /// Functions: the layers (names in this config) it is built against, with where they were
    /// written.
    pub layers: Vec<(String, Origin)>,
    pub origin: Origin,
}

/// A warning about the file (a deprecated key), with its location.
#[derive(Debug, Clone)]
pub struct ConfigWarning {
    pub origin: Origin,
    pub message: String,
}

impl std::fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

/// Which kind of file held the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    LpackToml,
    Pyproject,
}

/// A config file, read and validated.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub kind: FileKind,
    /// Shared defaults (and, without functions or layers, the one build).
    pub root: Table,
    /// `[functions.NAME]`, sorted by name.
    pub functions: Vec<Unit>,
    /// `[layers.NAME]`, sorted by name.
    pub layers: Vec<Unit>,
    pub warnings: Vec<ConfigWarning>,
}

impl ConfigFile {
    /// Does the file declare named functions or layers?
    pub fn has_units(&self) -> bool {
        !self.functions.is_empty() || !self.layers.is_empty()
    }

    /// The shared table as a `[layers.NAME]` table inherits it: without the keys that describe a
    /// function ([`FUNCTION_ONLY`]), which at the top of a file are defaults for functions only.
    pub fn root_for_layers(&self) -> Table {
        self.root
            .iter()
            .filter(|(k, _)| !FUNCTION_ONLY.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}: error[{code}]: {message}\n  hint: {hint}")]
    Invalid {
        origin: Origin,
        code: &'static str,
        message: String,
        hint: String,
    },
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Find the config for `dir`: the nearest directory, from `dir` up to the repository root (the
/// first directory holding `.git`) or the filesystem root, with an `lpack.toml` or a
/// `pyproject.toml` that has `[tool.lpack]`.
pub fn discover(dir: &Path) -> Result<Option<PathBuf>, ConfigError> {
    for d in dir.ancestors() {
        let lpack = d.join("lpack.toml");
        if lpack.is_file() {
            return Ok(Some(lpack));
        }
        let pyproject = d.join("pyproject.toml");
        if pyproject.is_file() {
            let text = read(&pyproject)?;
            if pyproject_has_table(&text) {
                return Ok(Some(pyproject));
            }
        }
        if d.join(".git").exists() {
            break;
        }
    }
    Ok(None)
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Does this pyproject.toml text have a `[tool.lpack]` table? (Unparseable text: no; it is not
/// ours to diagnose unless it is the config.)
fn pyproject_has_table(text: &str) -> bool {
    let Ok(doc) = DeTable::parse(text) else {
        return false;
    };
    let doc = doc.into_inner();
    matches!(
        get(&doc, "tool").map(|t| t.get_ref()),
        Some(DeValue::Table(tool)) if get(tool, "lpack").is_some()
    )
}

fn get<'a, 'i>(table: &'a DeTable<'i>, name: &str) -> Option<&'a toml::Spanned<DeValue<'i>>> {
    table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == name)
        .map(|(_, v)| v)
}

/// Read and validate the config file at `path` (`lpack.toml`, or any file name: TOML with the
/// settings at the top; `pyproject.toml`: the `[tool.lpack]` table).
pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = read(path)?;
    let is_pyproject = path.file_name().and_then(|n| n.to_str()) == Some("pyproject.toml");
    // Empty for a file in the working directory: relative paths stay relative.
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse(path, &base, &text, is_pyproject)
}

struct Reader<'s> {
    file: &'s Path,
    base: &'s Path,
    src: &'s str,
    /// How tables are written in this file: `tool.lpack.` in a pyproject.toml, else nothing.
    tables: &'static str,
    warnings: Vec<ConfigWarning>,
}

/// Parse config text. `file` names it in diagnostics; `base` is the directory relative paths
/// start from.
pub fn parse(
    file: &Path,
    base: &Path,
    src: &str,
    is_pyproject: bool,
) -> Result<ConfigFile, ConfigError> {
    let mut r = Reader {
        file,
        base,
        src,
        tables: if is_pyproject { "tool.lpack." } else { "" },
        warnings: Vec::new(),
    };
    let doc = DeTable::parse(src).map_err(|e| {
        r.invalid(
            e.span().unwrap_or(0..0),
            "C001",
            e.message().trim().to_string(),
            "fix the TOML syntax at that place".into(),
        )
    })?;
    let doc = doc.into_inner();
    let top: &DeTable = if is_pyproject {
        r.tool_lpack(&doc)?
    } else {
        &doc
    };
    let (root, mut functions, mut layers) = r.top_level(top)?;
    r.check_units(&root, &functions, &layers)?;
    functions.sort_by(|a, b| a.name.cmp(&b.name));
    layers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ConfigFile {
        path: file.to_path_buf(),
        kind: if is_pyproject {
            FileKind::Pyproject
        } else {
            FileKind::LpackToml
        },
        root,
        functions,
        layers,
        warnings: r.warnings,
    })
}

impl Reader<'_> {
    /// The `[tool.lpack]` table of a pyproject.toml.
    fn tool_lpack<'a, 'i>(&self, doc: &'a DeTable<'i>) -> Result<&'a DeTable<'i>, ConfigError> {
        let Some(tool) = get(doc, "tool") else {
            return Err(self.invalid(
                0..0,
                "C002",
                "pyproject.toml has no [tool.lpack] table".into(),
                "add a [tool.lpack] table (`lpack init --pyproject` writes one) or pass an lpack.toml with --config".into(),
            ));
        };
        match table_of(tool).and_then(|t| get(t, "lpack")) {
            Some(v) => match v.get_ref() {
                DeValue::Table(t) => Ok(t),
                _ => Err(self.invalid(
                    v.span(),
                    "C003",
                    "`tool.lpack` must be a table".into(),
                    "write the settings under a [tool.lpack] header".into(),
                )),
            },
            None => Err(self.invalid(
                tool.span(),
                "C002",
                "pyproject.toml has no [tool.lpack] table".into(),
                "add a [tool.lpack] table (`lpack init --pyproject` writes one) or pass an lpack.toml with --config".into(),
            )),
        }
    }

    /// The shared settings, the functions and the layers of the top table, in file order.
    fn top_level(
        &mut self,
        top: &DeTable<'_>,
    ) -> Result<(Table, Vec<Unit>, Vec<Unit>), ConfigError> {
        let mut root = Table::new();
        let mut functions = Vec::new();
        let mut layers = Vec::new();
        for (k, v) in top.iter() {
            match k.get_ref().as_ref() {
                "functions" | "layers" => {
                    let is_fn = k.get_ref().as_ref() == "functions";
                    let Some(t) = table_of(v) else {
                        return Err(self.invalid(
                            v.span(),
                            "C003",
                            format!("`{}` must be a table of named tables", k.get_ref()),
                            if is_fn {
                                "write each as [functions.NAME] with its settings under it".to_string()
                            } else {
                                "declare layers as [layers.NAME] tables; the layers a function uses go in its own table: [functions.NAME] layers = [\"NAME\"]".to_string()
                            },
                        ));
                    };
                    for (name, body) in t.iter() {
                        let unit = self.unit(name, body, is_fn)?;
                        if is_fn {
                            functions.push(unit);
                        } else {
                            layers.push(unit);
                        }
                    }
                }
                _ => self.setting(&mut root, k, v, Place::Root)?,
            }
        }
        Ok((root, functions, layers))
    }

    /// Refuse a top-level `output` beside units, unknown layers, and a function named as a layer.
    fn check_units(
        &self,
        root: &Table,
        functions: &[Unit],
        layers: &[Unit],
    ) -> Result<(), ConfigError> {
        if (!functions.is_empty() || !layers.is_empty())
            && let Some(s) = root.get("output")
        {
            return Err(self.invalid_at(
                s.origin.clone(),
                "C006",
                "`output` at the top applies to one build, but this file declares functions or layers".into(),
                "set `output` inside each [functions.NAME] / [layers.NAME] table (default dist/NAME.zip)".into(),
            ));
        }
        // A function's layers must be layers of this file.
        for f in functions {
            for (l, origin) in &f.layers {
                if !layers.iter().any(|u: &Unit| &u.name == l) {
                    return Err(self.invalid_at(
                        origin.clone(),
                        "C007",
                        format!("function `{}` names layer `{l}`, which this file does not declare", f.name),
                        format!(
                            "declare it as [layers.{l}], or name a prebuilt layer's manifest with `exclude-layer`"
                        ),
                    ));
                }
            }
        }
        for f in functions {
            if layers.iter().any(|l| l.name == f.name) {
                return Err(self.invalid_at(
                    f.origin.clone(),
                    "C008",
                    format!("`{}` is both a function and a layer", f.name),
                    "give them different names: both would be written to dist/NAME.zip".into(),
                ));
            }
        }
        Ok(())
    }
}

fn table_of<'a, 'i>(v: &'a toml::Spanned<DeValue<'i>>) -> Option<&'a DeTable<'i>> {
    match v.get_ref() {
        DeValue::Table(t) => Some(t),
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place<'n> {
    Root,
    Function,
    /// A `[layers.NAME]` table, by name.
    Layer(&'n str),
}

/// Line and column (1-based, columns in characters) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut at = offset.min(src.len());
    while !src.is_char_boundary(at) {
        at -= 1;
    }
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before, |p| &before[p + 1..])
        .chars()
        .count()
        + 1;
    (line, col)
}

impl Reader<'_> {
    fn origin(&self, span: std::ops::Range<usize>) -> Origin {
        let (line, col) = line_col(self.src, span.start);
        Origin {
            file: self.file.to_path_buf(),
            line,
            col,
        }
    }

    fn invalid(
        &self,
        span: std::ops::Range<usize>,
        code: &'static str,
        message: String,
        hint: String,
    ) -> ConfigError {
        self.invalid_at(self.origin(span), code, message, hint)
    }

    fn invalid_at(
        &self,
        origin: Origin,
        code: &'static str,
        message: String,
        hint: String,
    ) -> ConfigError {
        ConfigError::Invalid {
            origin,
            code,
            message,
            hint,
        }
    }

    fn unit(
        &mut self,
        name: &toml::Spanned<std::borrow::Cow<'_, str>>,
        body: &toml::Spanned<DeValue<'_>>,
        is_fn: bool,
    ) -> Result<Unit, ConfigError> {
        let what = if is_fn { "functions" } else { "layers" };
        let n = name.get_ref().to_string();
        if n.is_empty()
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            || n.starts_with('.')
        {
            return Err(self.invalid(
                name.span(),
                "C009",
                format!("`{n}` is not a usable {what} name"),
                "use letters, digits, `-`, `_` and `.` (it becomes dist/NAME.zip)".into(),
            ));
        }
        let Some(t) = table_of(body) else {
            return Err(self.invalid(
                body.span(),
                "C003",
                format!("`{what}.{n}` must be a table"),
                format!("write [{what}.{n}] with its settings under it"),
            ));
        };
        let mut settings = Table::new();
        let mut layers = Vec::new();
        for (k, v) in t.iter() {
            if is_fn && k.get_ref().as_ref() == FUNCTION_LAYERS_KEY {
                for (s, span) in self.strings(v, FUNCTION_LAYERS_KEY, true)? {
                    layers.push((s, self.origin(span)));
                }
                continue;
            }
            self.setting(
                &mut settings,
                k,
                v,
                if is_fn {
                    Place::Function
                } else {
                    Place::Layer(&n)
                },
            )?;
        }
        Ok(Unit {
            name: n,
            settings,
            layers,
            origin: self.origin(name.span()),
        })
    }

    /// A string, or (when `many`) a string or array of strings, each with its span.
    fn strings(
        &self,
        v: &toml::Spanned<DeValue<'_>>,
        key: &str,
        many: bool,
    ) -> Result<Vec<(String, std::ops::Range<usize>)>, ConfigError> {
        match v.get_ref() {
            DeValue::String(s) => Ok(vec![(s.to_string(), v.span())]),
            DeValue::Array(items) if many => items
                .iter()
                .map(|item| match item.get_ref() {
                    DeValue::String(s) => Ok((s.to_string(), item.span())),
                    other => Err(self.invalid(
                        item.span(),
                        "C005",
                        format!("`{key}` holds strings, not {}", type_name(other)),
                        format!("quote it: {key} = [\"…\"]"),
                    )),
                })
                .collect(),
            other => Err(self.invalid(
                v.span(),
                "C005",
                format!(
                    "`{key}` must be {}, not {}",
                    if many {
                        "a string or an array of strings"
                    } else {
                        "a string"
                    },
                    type_name(other)
                ),
                if many {
                    format!("write {key} = [\"…\", \"…\"]")
                } else {
                    format!("write {key} = \"…\"")
                },
            )),
        }
    }

    fn setting(
        &mut self,
        table: &mut Table,
        k: &toml::Spanned<std::borrow::Cow<'_, str>>,
        v: &toml::Spanned<DeValue<'_>>,
        place: Place<'_>,
    ) -> Result<(), ConfigError> {
        let written = k.get_ref().to_string();
        let (name, spec) = self.key(k)?;
        if let Place::Layer(layer) = place
            && FUNCTION_ONLY.contains(&name.as_str())
        {
            let why = if name == "format" {
                "a [layers.NAME] table is always built as a layer"
            } else {
                "a layer holds packages only; handler code and image settings belong to a function"
            };
            return Err(self.invalid(
                k.span(),
                "C006",
                format!(
                    "key `{name}` does not apply to [{}layers.{layer}]: {why}",
                    self.tables
                ),
                format!(
                    "remove `{name}` here, or set it in a [{}functions.NAME] table (or in the shared settings, where it applies to every function)",
                    self.tables
                ),
            ));
        }
        if table.contains_key(&name) {
            return Err(self.invalid(
                k.span(),
                "C010",
                format!("`{name}` is set twice in this table (also as `{written}`)"),
                "keep one of them".into(),
            ));
        }
        let value = self.value(spec, &name, v)?;
        table.insert(
            name,
            Setting {
                value,
                origin: self.origin(k.span()),
            },
        );
        Ok(())
    }

    /// The key `k` names in its current spelling (old spellings warned about), and its spec.
    fn key(
        &mut self,
        k: &toml::Spanned<std::borrow::Cow<'_, str>>,
    ) -> Result<(String, &'static Key), ConfigError> {
        let written = k.get_ref().to_string();
        let kebab = written.replace('_', "-");
        let mut name = kebab.clone();
        if let Some((_, new)) = DEPRECATED.iter().find(|(old, _)| *old == kebab) {
            name = (*new).to_string();
        }
        let Some(spec) = KEYS.iter().find(|key| key.name == name) else {
            let hint = if written == FUNCTION_LAYERS_KEY {
                "`layers` (the layers a function is built against) belongs in a [functions.NAME] table; declare layers themselves as [layers.NAME]".to_string()
            } else if let Some(near) = nearest(&kebab) {
                format!("did you mean `{near}`? Keys are `lpack build`'s long flag names")
            } else {
                "keys are `lpack build`'s long flag names: see `lpack config --keys`".to_string()
            };
            return Err(self.invalid(k.span(), "C004", format!("unknown key `{written}`"), hint));
        };
        if written != name {
            let why = if kebab != written && kebab == name {
                "keys are written with `-`, as the flags are"
            } else {
                "this spelling is deprecated"
            };
            self.warnings.push(ConfigWarning {
                origin: self.origin(k.span()),
                message: format!("`{written}` is deprecated ({why}): write `{name}`"),
            });
        }
        Ok((name, spec))
    }

    /// The value `v` of key `name`, checked against its kind (paths made relative, URLs checked).
    fn value(
        &self,
        spec: &Key,
        name: &str,
        v: &toml::Spanned<DeValue<'_>>,
    ) -> Result<Value, ConfigError> {
        Ok(match spec.kind {
            Kind::Bool => match v.get_ref() {
                DeValue::Boolean(b) => Value::Bool(*b),
                other => {
                    return Err(self.invalid(
                        v.span(),
                        "C005",
                        format!("`{name}` must be true or false, not {}", type_name(other)),
                        format!("write {name} = true"),
                    ));
                }
            },
            Kind::Size => match v.get_ref() {
                DeValue::Integer(i) if i.radix() == 10 && !i.as_str().starts_with('-') => {
                    Value::Str(i.as_str().replace('_', ""))
                }
                DeValue::String(s) => Value::Str(s.to_string()),
                other => {
                    return Err(self.invalid(
                        v.span(),
                        "C005",
                        format!(
                            "`{name}` must be a size (bytes, or a string such as \"250MiB\"), not {}",
                            type_name(other)
                        ),
                        format!("write {name} = \"250MiB\" or {name} = 262144000"),
                    ));
                }
            },
            Kind::Str => {
                let mut one = self.strings(v, name, false)?;
                let (s, span) = one.remove(0);
                self.check_url(spec, &s, span.clone())?;
                Value::Str(self.relative(spec.path, &s))
            }
            Kind::List => {
                let mut out = Vec::new();
                for (s, span) in self.strings(v, name, true)? {
                    self.check_url(spec, &s, span)?;
                    out.push(self.relative(spec.path, &s));
                }
                Value::List(out)
            }
        })
    }

    /// Index URLs must not carry a password: config files are committed.
    fn check_url(
        &self,
        spec: &Key,
        s: &str,
        span: std::ops::Range<usize>,
    ) -> Result<(), ConfigError> {
        if !spec.url {
            return Ok(());
        }
        if let Ok(u) = url::Url::parse(s)
            && (u.password().is_some() || !u.username().is_empty())
        {
            return Err(self.invalid(
                span,
                "C011",
                format!("`{}` carries credentials in its URL", spec.name),
                "config files are committed: write the URL without user and password here, and give the credentials to lpack through $PIP_INDEX_URL / $UV_INDEX_URL or ~/.netrc".into(),
            ));
        }
        Ok(())
    }

    /// A path value made relative to the config's directory.
    fn relative(&self, kind: PathKind, s: &str) -> String {
        let join = |p: &str| -> String {
            if Path::new(p).is_absolute() {
                p.to_string()
            } else {
                self.base.join(p).display().to_string()
            }
        };
        match kind {
            PathKind::No => s.to_string(),
            PathKind::Path => join(s),
            PathKind::Program => {
                if s.contains('/') {
                    join(s)
                } else {
                    s.to_string()
                }
            }
            PathKind::PathOrUrl => {
                if s.contains("://") {
                    s.to_string()
                } else {
                    join(s)
                }
            }
            PathKind::PathOrArn => {
                if s.starts_with("arn:") {
                    s.to_string()
                } else {
                    join(s)
                }
            }
            PathKind::PathOrAuto => {
                if s == "auto" {
                    s.to_string()
                } else {
                    join(s)
                }
            }
            PathKind::ImageLocation => {
                for prefix in ["oci-layout:", "docker-archive:"] {
                    if let Some(rest) = s.strip_prefix(prefix) {
                        return format!("{prefix}{}", join(rest));
                    }
                }
                s.to_string()
            }
        }
    }
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests;
