//! Imports: what one Python source file imports, and where each import sits.
//!
//! Parsed with Ruff's parser (`ruff_python_parser`, error-tolerant: a file with a syntax error
//! still yields the imports of the parts that parse), never with a host Python. For every import
//! this module records the absolute module names it names — `import a.b`, `from a.b import c`
//! (`a.b.c` is a candidate submodule), relative imports resolved against the file's package,
//! `importlib.import_module("literal")` and `__import__("literal")` — with its line, whether it
//! runs lazily (inside a function or lambda body) and whether it is *guarded*: inside the body
//! of a `try` whose handlers catch `ImportError`, `ModuleNotFoundError`, `OSError`, `Exception`,
//! `BaseException` (or a bare `except`), or of `with contextlib.suppress(ImportError)`. Imports
//! under `if TYPE_CHECKING:` never run and are left out.

use ruff_python_ast::visitor::{Visitor, walk_expr, walk_stmt};
use ruff_python_ast::{ExceptHandler, Expr, PySourceType, Stmt};
use ruff_text_size::Ranged;
use serde::{Deserialize, Serialize};

/// One import site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    /// Absolute module name (`a.b.c`).
    pub module: String,
    /// `from module import name`: the imported names, each possibly a submodule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    pub line: u32,
    /// Runs only when a function is called (not at import time of the file).
    #[serde(default, skip_serializing_if = "is_false")]
    pub lazy: bool,
    /// Inside a `try` that catches ImportError (or broader): optional by design.
    #[serde(default, skip_serializing_if = "is_false")]
    pub guarded: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The module name of an installed file (`a/b/c.py` → `a.b.c`, `a/__init__.py` → `a`,
/// `a/_x.cpython-312-x86_64-linux-gnu.so` → `a._x`), or `None` when the file is not a module.
pub fn module_name(path: &str) -> Option<String> {
    let (dir, file) = match path.rsplit_once('/') {
        Some((d, f)) => (d, f),
        None => ("", path),
    };
    let stem = if let Some(s) = file.strip_suffix(".py") {
        s
    } else if let Some(s) = file.strip_suffix(".pyc") {
        // Sourceless modules only (not `__pycache__/x.cpython-312.pyc`).
        if dir.ends_with("__pycache__") || dir == "__pycache__" {
            return None;
        }
        s
    } else if file.ends_with(".so") || file.ends_with(".pyd") {
        // `_x.cpython-312-x86_64-linux-gnu.so`, `_x.abi3.so`, `_x.so`
        file.split('.').next().unwrap_or(file)
    } else {
        return None;
    };
    if !dir.split('/').all(is_identifier) && !dir.is_empty() {
        return None;
    }
    if stem == "__init__" {
        if dir.is_empty() {
            return None;
        }
        return Some(dir.replace('/', "."));
    }
    if !is_identifier(stem) {
        return None;
    }
    Some(if dir.is_empty() {
        stem.to_string()
    } else {
        format!("{}.{stem}", dir.replace('/', "."))
    })
}

fn is_identifier(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_alphabetic() || f == '_')
        && c.all(|x| x.is_alphanumeric() || x == '_')
}

/// The imports of one source file. `module` is the file's module name and `is_package` says
/// whether it is a package's `__init__` (relative imports resolve against it, not its parent).
pub fn extract(source: &str, module: &str, is_package: bool) -> Vec<Import> {
    let parsed = ruff_python_parser::parse_unchecked_source(source, PySourceType::Python);
    let package: Vec<&str> = {
        let mut parts: Vec<&str> = module.split('.').collect();
        if !is_package {
            parts.pop();
        }
        parts
    };
    let mut v = Collector {
        lines: LineIndex::new(source),
        package,
        lazy: 0,
        guarded: 0,
        out: Vec::new(),
    };
    for stmt in &parsed.syntax().body {
        v.visit_stmt(stmt);
    }
    v.out
}

struct LineIndex {
    starts: Vec<u32>,
}

impl LineIndex {
    fn new(s: &str) -> LineIndex {
        let mut starts = vec![0u32];
        for (i, b) in s.bytes().enumerate() {
            if b == b'\n' {
                starts.push(u32::try_from(i + 1).unwrap_or(u32::MAX));
            }
        }
        LineIndex { starts }
    }
    fn line(&self, offset: u32) -> u32 {
        let i = self.starts.partition_point(|&s| s <= offset);
        u32::try_from(i).unwrap_or(u32::MAX).max(1)
    }
}

struct Collector<'s> {
    lines: LineIndex,
    package: Vec<&'s str>,
    lazy: u32,
    guarded: u32,
    out: Vec<Import>,
}

impl Collector<'_> {
    fn push(&mut self, module: String, names: Vec<String>, offset: u32) {
        if module.is_empty() {
            return;
        }
        self.out.push(Import {
            module,
            names,
            line: self.lines.line(offset),
            lazy: self.lazy > 0,
            guarded: self.guarded > 0,
        });
    }

    /// `from ..x import y` at `level` 2 → the package's parent + `x`.
    fn resolve_relative(&self, level: u32, module: Option<&str>) -> Option<String> {
        let up = usize::try_from(level).ok()?.checked_sub(1)?;
        if up > self.package.len() {
            return None;
        }
        let mut parts: Vec<&str> = self.package[..self.package.len() - up].to_vec();
        if let Some(m) = module {
            parts.extend(m.split('.'));
        }
        (!parts.is_empty()).then(|| parts.join("."))
    }

    fn with<F: FnOnce(&mut Self)>(&mut self, lazy: bool, guarded: bool, f: F) {
        self.lazy += u32::from(lazy);
        self.guarded += u32::from(guarded);
        f(self);
        self.lazy -= u32::from(lazy);
        self.guarded -= u32::from(guarded);
    }
}

/// Does this `except` clause catch a failed import?
fn catches_import_error(h: &ExceptHandler) -> bool {
    let ExceptHandler::ExceptHandler(h) = h;
    match &h.type_ {
        None => true,
        Some(t) => names_import_error(t),
    }
}

fn names_import_error(e: &Expr) -> bool {
    const CATCHING: &[&str] = &[
        "ImportError",
        "ModuleNotFoundError",
        "OSError",
        "Exception",
        "BaseException",
    ];
    match e {
        Expr::Name(n) => CATCHING.contains(&n.id.as_str()),
        Expr::Attribute(a) => CATCHING.contains(&a.attr.as_str()),
        Expr::Tuple(t) => t.elts.iter().any(names_import_error),
        _ => false,
    }
}

fn is_type_checking(test: &Expr) -> bool {
    match test {
        Expr::Name(n) => n.id.as_str() == "TYPE_CHECKING",
        Expr::Attribute(a) => a.attr.as_str() == "TYPE_CHECKING",
        _ => false,
    }
}

/// `contextlib.suppress(ImportError)` / `suppress(ImportError, …)`.
fn suppresses_import_error(e: &Expr) -> bool {
    let Expr::Call(c) = e else { return false };
    let callee = match c.func.as_ref() {
        Expr::Name(n) => n.id.as_str(),
        Expr::Attribute(a) => a.attr.as_str(),
        _ => return false,
    };
    callee == "suppress" && c.arguments.args.iter().any(names_import_error)
}

fn string_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::StringLiteral(s) => Some(s.value.to_str()),
        _ => None,
    }
}

impl<'a> Visitor<'a> for Collector<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Import(i) => {
                for a in &i.names {
                    self.push(a.name.to_string(), Vec::new(), a.range().start().into());
                }
            }
            Stmt::ImportFrom(i) => {
                let module = if i.level == 0 {
                    i.module.as_ref().map(|m| m.to_string())
                } else {
                    self.resolve_relative(i.level, i.module.as_ref().map(|m| m.as_str()))
                };
                if let Some(module) = module {
                    let names = i
                        .names
                        .iter()
                        .map(|a| a.name.to_string())
                        .filter(|n| n != "*")
                        .collect();
                    self.push(module, names, i.range().start().into());
                }
            }
            Stmt::FunctionDef(f) => {
                // Decorators, defaults and annotations run at definition time; the body later.
                for d in &f.decorator_list {
                    self.visit_decorator(d);
                }
                self.visit_parameters(&f.parameters);
                self.with(true, false, |v| {
                    for s in &f.body {
                        v.visit_stmt(s);
                    }
                });
            }
            Stmt::If(i) if is_type_checking(&i.test) => {
                // Only the `else` branches run.
                for c in &i.elif_else_clauses {
                    if c.test.is_none() {
                        for s in &c.body {
                            self.visit_stmt(s);
                        }
                    }
                }
            }
            Stmt::Try(t) => {
                let guarded = t.handlers.iter().any(catches_import_error);
                self.with(false, guarded, |v| {
                    for s in &t.body {
                        v.visit_stmt(s);
                    }
                });
                for h in &t.handlers {
                    self.visit_except_handler(h);
                }
                for s in t.orelse.iter().chain(&t.finalbody) {
                    self.visit_stmt(s);
                }
            }
            Stmt::With(w)
                if w.items
                    .iter()
                    .any(|i| suppresses_import_error(&i.context_expr)) =>
            {
                self.with(false, true, |v| {
                    for s in &w.body {
                        v.visit_stmt(s);
                    }
                });
            }
            _ => walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Lambda(l) => {
                self.with(true, false, |v| v.visit_expr(&l.body));
                return;
            }
            Expr::Call(c) => {
                let callee = match c.func.as_ref() {
                    Expr::Name(n) => Some(n.id.as_str()),
                    Expr::Attribute(a) => Some(a.attr.as_str()),
                    _ => None,
                };
                if matches!(callee, Some("import_module" | "__import__"))
                    && let Some(name) = c.arguments.args.first().and_then(string_literal)
                {
                    let offset = c.range().start().into();
                    if let Some(rel) = name.strip_prefix('.') {
                        // import_module(".x", __name__ / __package__ / "pkg")
                        let level = 1 + rel.chars().take_while(|&ch| ch == '.').count();
                        let rest = rel.trim_start_matches('.');
                        let anchor = c.arguments.args.get(1).or_else(|| {
                            c.arguments
                                .keywords
                                .iter()
                                .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "package"))
                                .map(|k| &k.value)
                        });
                        let resolved = match anchor.and_then(string_literal) {
                            Some(pkg) => {
                                let mut parts: Vec<&str> = pkg.split('.').collect();
                                parts.truncate(parts.len().saturating_sub(level - 1));
                                if !rest.is_empty() {
                                    parts.extend(rest.split('.'));
                                }
                                Some(parts.join("."))
                            }
                            None => self.resolve_relative(
                                u32::try_from(level).unwrap_or(u32::MAX),
                                (!rest.is_empty()).then_some(rest),
                            ),
                        };
                        if let Some(m) = resolved {
                            self.push(m, Vec::new(), offset);
                        }
                    } else {
                        self.push(name.to_string(), Vec::new(), offset);
                    }
                }
            }
            _ => {}
        }
        walk_expr(self, expr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imp(module: &str, line: u32, lazy: bool, guarded: bool) -> Import {
        Import {
            module: module.to_string(),
            names: Vec::new(),
            line,
            lazy,
            guarded,
        }
    }

    #[test]
    fn module_names() {
        assert_eq!(module_name("a/b/c.py").as_deref(), Some("a.b.c"));
        assert_eq!(module_name("a/b/__init__.py").as_deref(), Some("a.b"));
        assert_eq!(module_name("six.py").as_deref(), Some("six"));
        assert_eq!(
            module_name("numpy/_core/_multiarray_umath.cpython-312-x86_64-linux-gnu.so").as_deref(),
            Some("numpy._core._multiarray_umath")
        );
        assert_eq!(module_name("a/_x.abi3.so").as_deref(), Some("a._x"));
        assert_eq!(module_name("a/__pycache__/b.cpython-312.pyc"), None);
        assert_eq!(module_name("a/b.pyc").as_deref(), Some("a.b"));
        assert_eq!(module_name("a/data.json"), None);
        assert_eq!(module_name("a-1.0.dist-info/x.py"), None);
        assert_eq!(module_name("__init__.py"), None);
    }

    #[test]
    fn kinds_of_import() {
        let src = r#"
import os, a.b
from a.b import c, d as e
from . import sib
from .sub import x
from .. import up
import importlib
m = importlib.import_module("pkg.tests.helpers")
n = __import__("z")
r = importlib.import_module(".rel", __name__)
from q import *
"#;
        let got = extract(src, "pkg.mod", false);
        let mods: Vec<(&str, Vec<&str>, u32)> = got
            .iter()
            .map(|i| {
                (
                    i.module.as_str(),
                    i.names.iter().map(String::as_str).collect(),
                    i.line,
                )
            })
            .collect();
        assert_eq!(
            mods,
            vec![
                ("os", vec![], 2),
                ("a.b", vec![], 2),
                ("a.b", vec!["c", "d"], 3),
                ("pkg", vec!["sib"], 4),
                ("pkg.sub", vec!["x"], 5),
                ("importlib", vec![], 7),
                ("pkg.tests.helpers", vec![], 8),
                ("z", vec![], 9),
                ("pkg.rel", vec![], 10),
                ("q", vec![], 11),
            ]
        );
        // `from .. import up` from pkg.mod goes above the top-level package: not resolvable.
        // In a package's __init__, `.` is the package itself.
        let got = extract("from . import x\nfrom .y import z\n", "pkg.sub", true);
        assert_eq!(got[0].module, "pkg.sub");
        assert_eq!(got[1].module, "pkg.sub.y");
    }

    #[test]
    fn lazy_and_guarded() {
        let src = r#"
try:
    import fast
except ImportError:
    import slow
try:
    import must
except ValueError:
    pass
def __getattr__(name):
    import numpy.testing as testing
    try:
        from numba.np.ufunc import omppool
    except (ValueError, ModuleNotFoundError):
        pass
    return testing
f = lambda: __import__("lam")
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    import never
else:
    import always
with contextlib.suppress(ImportError):
    import maybe
class C:
    import in_class
try:
    import bare
except:
    pass
"#;
        let got = extract(src, "m", false);
        let want = vec![
            imp("fast", 3, false, true),
            imp("slow", 5, false, false),
            imp("must", 7, false, false),
            imp("numpy.testing", 11, true, false),
            Import {
                names: vec!["omppool".into()],
                ..imp("numba.np.ufunc", 13, true, true)
            },
            imp("lam", 17, true, false),
            Import {
                names: vec!["TYPE_CHECKING".into()],
                ..imp("typing", 18, false, false)
            },
            imp("always", 22, false, false),
            imp("maybe", 24, false, true),
            imp("in_class", 26, false, false),
            imp("bare", 28, false, true),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn python_314_syntax_and_errors() {
        // t-strings and PEP 758's unparenthesised except lists parse.
        let src = "t = t\"hi {x}\"\ntry:\n    import a\nexcept ImportError, OSError:\n    pass\n";
        assert_eq!(extract(src, "m", false), vec![imp("a", 3, false, true)]);
        // A syntax error elsewhere does not hide the imports that parse.
        let src = "import good\ndef broken(:\n    pass\nimport also\n";
        let got: Vec<String> = extract(src, "m", false)
            .into_iter()
            .map(|i| i.module)
            .collect();
        assert!(got.contains(&"good".to_string()), "{got:?}");
    }
}
