//! The config vocabulary: every key a file may hold (a build flag's long name), its kind, whether
//! it names a path, and the deprecated spellings still accepted.

/// The value a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string (an enum value, a name, a URL).
    Str,
    /// `true` / `false`: a flag.
    Bool,
    /// A string or an array of strings (a repeatable flag).
    List,
    /// A size: an integer (bytes) or a string such as `"250MiB"`.
    Size,
}

/// How a value names a file, which decides how it is made relative to the config's directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// Not a path.
    No,
    /// A path.
    Path,
    /// A path, or a program name looked up on PATH when it has no `/`.
    Program,
    /// A path, or a URL (`scheme://…`).
    PathOrUrl,
    /// A path, or the word `auto`.
    PathOrAuto,
    /// A path, or an ARN (`arn:…`, left alone).
    PathOrArn,
    /// `oci-layout:DIR[:TAG]` / `docker-archive:FILE[:TAG]` (the path after the prefix), or a
    /// registry reference (left alone).
    ImageLocation,
}

/// One key a config file may hold.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The flag's long name, which is also the key.
    pub name: &'static str,
    pub kind: Kind,
    pub path: PathKind,
    /// An index URL: must not carry a password.
    pub url: bool,
}

const fn key(name: &'static str, kind: Kind) -> Key {
    Key {
        name,
        kind,
        path: PathKind::No,
        url: false,
    }
}

const fn path(name: &'static str, kind: Kind, path: PathKind) -> Key {
    Key {
        name,
        kind,
        path,
        url: false,
    }
}

const fn url(name: &'static str, kind: Kind) -> Key {
    Key {
        name,
        kind,
        path: PathKind::No,
        url: true,
    }
}

/// Every build setting a config file may hold, in the order `lpack config` shows them. The
/// command line checks that each is one of `lpack build`'s flags (a unit test there).
pub const KEYS: &[Key] = &[
    path("requirements", Kind::Str, PathKind::Path),
    key("extra", Kind::List),
    key("group", Kind::List),
    key("prerelease", Kind::Str),
    key("no-deps", Kind::Bool),
    key("runtime", Kind::Str),
    key("arch", Kind::Str),
    key("format", Kind::Str),
    path("output", Kind::Str, PathKind::Path),
    path("src", Kind::Str, PathKind::Path),
    key("exclude", Kind::List),
    key("include", Kind::List),
    key("handler", Kind::Str),
    path("cache-dir", Kind::Str, PathKind::Path),
    key("offline", Kind::Bool),
    url("index-url", Kind::Str),
    url("extra-index-url", Kind::List),
    Key {
        name: "find-links",
        kind: Kind::List,
        path: PathKind::PathOrUrl,
        url: true,
    },
    key("no-index", Kind::Bool),
    url("remote-cache", Kind::Str),
    key("remote-cache-mode", Kind::Str),
    url("remote-endpoint", Kind::Str),
    key("on-conflict", Kind::Str),
    key("profile", Kind::Str),
    path("recipe", Kind::List, PathKind::Path),
    key("keep", Kind::List),
    key("drop", Kind::List),
    key("force-drop", Kind::List),
    key("bytecode", Kind::Str),
    path("python", Kind::Str, PathKind::Program),
    key("bytecode-for-imports", Kind::Str),
    key("max-unzipped", Kind::Size),
    key("max-zipped", Kind::Size),
    key("layer-layout", Kind::Str),
    path("split", Kind::Str, PathKind::PathOrAuto),
    key("layer-budget", Kind::Size),
    path("exclude-layer", Kind::List, PathKind::Path),
    path("with-layer", Kind::List, PathKind::PathOrArn),
    key("prefer-layer", Kind::Bool),
    key("prefer-function", Kind::Bool),
    path("base", Kind::Str, PathKind::ImageLocation),
    path("image-out", Kind::List, PathKind::ImageLocation),
    key("push", Kind::Str),
    key("heavy-threshold", Kind::Size),
    key("gc", Kind::Bool),
    key("no-limit-check", Kind::Bool),
    key("max-image-size", Kind::Size),
    key("no-verify-record", Kind::Bool),
    key("no-audit", Kind::Bool),
    key("verify", Kind::Bool),
    key("no-verify", Kind::Bool),
];

/// Keys only a `[functions.NAME]` table may hold: the layers (of this config) the function is
/// built against.
pub const FUNCTION_LAYERS_KEY: &str = "layers";

/// Keys that describe a function, not the packages: the handler code, what kind of artifact it
/// is, and the image's settings. At the top of a file that also declares `[layers.NAME]`, they
/// are defaults for the functions only (a layer holds packages, never handler code); inside a
/// `[layers.NAME]` table they are an error.
pub const FUNCTION_ONLY: &[&str] = &[
    "src",
    "handler",
    "format",
    "bytecode-for-imports",
    "verify",
    "base",
    "image-out",
    "push",
    "heavy-threshold",
    "max-image-size",
];

/// Spellings still accepted, with a warning naming the key to write instead.
pub const DEPRECATED: &[(&str, &str)] = &[
    ("requirement", "requirements"),
    ("recipes", "recipe"),
    ("exclude-layers", "exclude-layer"),
    ("with-layers", "with-layer"),
    ("image-outs", "image-out"),
    ("extras", "extra"),
    ("groups", "group"),
];

/// The known key closest to a misspelt one (edit distance at most 2, or a prefix).
pub(super) fn nearest(written: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|k| (distance(written, k.name), k.name))
        .filter(|(d, name)| *d <= 2 || name.starts_with(written) || written.starts_with(name))
        .min()
        .map(|(_, n)| n)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
