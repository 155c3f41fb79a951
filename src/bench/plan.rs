//! The bench plan: deployments × memory sizes × runs, from `--plan PLAN.toml` or from the
//! manifests named on the command line (`FN.zip.lpack.json+LAYER.zip.lpack.json` is one
//! deployment of a function with its layers).
//!
//! ```toml
//! runs = 20            # cold starts per deployment × memory
//! warm = 2             # further invokes per environment
//! concurrency = 1
//! memory = [1024]
//! timeout = 30         # seconds
//! handler = "handler.handler"
//! event = "event.json" # relative to the plan file
//!
//! [[deployment]]
//! name = "zip"
//! artifacts = ["dist/fn.zip.lpack.json"]   # function (or image) first, then layers
//! handler = "app.handler"                  # optional, overrides the plan's
//! ```
//!
//! Paths in a plan are relative to the plan file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::BenchError;
use super::layout::DeploymentSpec;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    pub runs: Option<u32>,
    pub warm: Option<u32>,
    pub concurrency: Option<u32>,
    pub memory: Option<Vec<u32>>,
    pub timeout: Option<f64>,
    pub handler: Option<String>,
    pub event: Option<PathBuf>,
    #[serde(default, rename = "deployment")]
    pub deployments: Vec<PlanDeployment>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanDeployment {
    pub name: String,
    pub artifacts: Vec<PathBuf>,
    pub handler: Option<String>,
}

/// Read a plan; its paths made relative to the directory it is in.
pub fn read_plan(path: &Path) -> Result<(PlanFile, Vec<DeploymentSpec>), BenchError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| BenchError::Input(format!("cannot read {}: {e}", path.display())))?;
    let mut plan: PlanFile =
        toml::from_str(&text).map_err(|e| BenchError::Input(format!("{}: {e}", path.display())))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let rel = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    plan.event = plan.event.as_deref().map(rel);
    let mut specs = Vec::new();
    for d in &plan.deployments {
        if d.artifacts.is_empty() {
            return Err(BenchError::Input(format!(
                "{}: deployment `{}` lists no artifacts",
                path.display(),
                d.name
            )));
        }
        if specs.iter().any(|s: &DeploymentSpec| s.name == d.name) {
            return Err(BenchError::Input(format!(
                "{}: two deployments are named `{}`",
                path.display(),
                d.name
            )));
        }
        specs.push(DeploymentSpec {
            name: d.name.clone(),
            artifacts: d.artifacts.iter().map(|p| rel(p)).collect(),
            handler: d.handler.clone(),
        });
    }
    Ok((plan, specs))
}

/// A deployment from one command-line argument: `A[+B…]`, each a manifest or an artifact
/// with its manifest beside it. Named after the file names without `.lpack.json`.
pub fn deployment_arg(arg: &str) -> DeploymentSpec {
    let parts: Vec<&str> = if Path::new(arg).exists() {
        vec![arg]
    } else {
        arg.split('+').filter(|p| !p.is_empty()).collect()
    };
    let name = parts
        .iter()
        .map(|p| {
            let f = Path::new(p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.to_string());
            f.strip_suffix(".lpack.json")
                .map(str::to_string)
                .unwrap_or(f)
        })
        .collect::<Vec<_>>()
        .join("+");
    DeploymentSpec {
        name,
        artifacts: parts.iter().map(PathBuf::from).collect(),
        handler: None,
    }
}

/// Parse `--memory 128,1024`.
pub fn parse_memory(s: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let v: u32 = part
            .trim_end_matches("MB")
            .trim()
            .parse()
            .map_err(|_| format!("`{part}` is not a memory size in MB"))?;
        if !(128..=10240).contains(&v) {
            return Err(format!("{v} MB: Lambda allows 128 to 10240 MB"));
        }
        out.push(v);
    }
    if out.is_empty() {
        return Err("no memory size given".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_joins_a_function_and_its_layers() {
        let d = deployment_arg("dist/fn.zip.lpack.json+dist/deps.zip.lpack.json");
        assert_eq!(d.name, "fn.zip+deps.zip");
        assert_eq!(d.artifacts.len(), 2);
        assert_eq!(deployment_arg("a.zip").name, "a.zip");
    }

    #[test]
    fn memory_list() {
        assert_eq!(parse_memory("128, 1024MB"), Ok(vec![128, 1024]));
        assert!(parse_memory("64").is_err());
        assert!(parse_memory("lots").is_err());
    }

    #[test]
    fn plan_paths_are_relative_to_the_plan() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("plan.toml");
        std::fs::write(
            &p,
            "runs = 3\nmemory = [512]\nevent = \"e.json\"\n[[deployment]]\nname = \"a\"\nartifacts = [\"x.zip.lpack.json\"]\n",
        )
        .expect("write");
        let (plan, specs) = read_plan(&p).expect("plan");
        assert_eq!(plan.runs, Some(3));
        assert_eq!(plan.event, Some(dir.path().join("e.json")));
        assert_eq!(specs[0].artifacts[0], dir.path().join("x.zip.lpack.json"));
        std::fs::write(&p, "bogus = 1\n").expect("write");
        assert!(read_plan(&p).is_err());
    }
}

/// What the command line (or a library user) asks of a bench, before the plan file is read:
/// every field overrides the plan file's, which overrides the defaults.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    pub plan: Option<std::path::PathBuf>,
    /// `NAME=MANIFEST[,MANIFEST…]` or a manifest path; replaces the plan's deployments.
    pub deployments: Vec<String>,
    /// `512,1024,…`
    pub memory: Option<String>,
    pub event: Option<std::path::PathBuf>,
    pub timeout: Option<f64>,
    pub runs: Option<u32>,
    pub warm: Option<u32>,
    pub concurrency: Option<u32>,
    pub handler: Option<String>,
}

/// A plan with every setting resolved (the backend and region are chosen apart).
#[derive(Debug, Clone)]
pub struct ResolvedPlan {
    pub deployments: Vec<DeploymentSpec>,
    pub runs: u32,
    pub warm: u32,
    pub concurrency: u32,
    pub memory: Vec<u32>,
    pub timeout: std::time::Duration,
    pub handler: Option<String>,
    /// The event's bytes (checked to be JSON).
    pub event: Vec<u8>,
}

/// Read the plan file (if any) under the request's settings; check what a bench needs.
pub fn resolve(req: &PlanRequest) -> Result<ResolvedPlan, BenchError> {
    let (file, mut deployments) = match &req.plan {
        Some(p) => read_plan(p)?,
        None => (PlanFile::default(), Vec::new()),
    };
    if !req.deployments.is_empty() {
        deployments = req.deployments.iter().map(|a| deployment_arg(a)).collect();
    }
    if deployments.is_empty() {
        return Err(BenchError::Input(
            "nothing to bench\n  hint: name artifact manifests (dist/app.zip.lpack.json) or pass --plan PLAN.toml".into(),
        ));
    }
    let memory = match &req.memory {
        Some(m) => parse_memory(m).map_err(|e| BenchError::Input(format!("--memory: {e}")))?,
        None => file.memory.clone().unwrap_or_else(|| vec![1024]),
    };
    let event = match req.event.as_ref().or(file.event.as_ref()) {
        Some(p) => {
            let b = std::fs::read(p).map_err(|e| {
                BenchError::Input(format!("cannot read the event {}: {e}", p.display()))
            })?;
            serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| {
                BenchError::Input(format!("the event {} is not JSON: {e}", p.display()))
            })?;
            b
        }
        None => b"{}".to_vec(),
    };
    let timeout = req.timeout.or(file.timeout).unwrap_or(30.0);
    if !(timeout > 0.0 && timeout <= 900.0) {
        return Err(BenchError::Input(
            "--timeout must be between 0 and 900 seconds (Lambda's maximum)".into(),
        ));
    }
    Ok(ResolvedPlan {
        deployments,
        runs: req.runs.or(file.runs).unwrap_or(20).max(1),
        warm: req.warm.or(file.warm).unwrap_or(0),
        concurrency: req.concurrency.or(file.concurrency).unwrap_or(1).max(1),
        memory,
        timeout: std::time::Duration::from_secs_f64(timeout),
        handler: req.handler.clone().or(file.handler.clone()),
        event,
    })
}
