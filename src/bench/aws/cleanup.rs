//! What a run created, and deleting it: from the run's own [`Ledger`] at the end of a run (or
//! on Ctrl-C), or, after a crash, by finding everything tagged `lpack-bench=<run id>`
//! ([`by_tag`]). Functions go first (which takes their versions along), then layer versions,
//! the ECR repository with its images, and S3 objects.

use std::sync::Mutex;

use super::{CleanupReport, Options, S3_PREFIX, TAG};
use crate::aws::Aws;
use crate::bench::BenchError;
use crate::progress::{Phase, Reporter};

/// One thing a run created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Resource {
    Object { bucket: String, key: String },
    Repository { name: String },
    LayerVersion { name: String, version: i64 },
    Function { name: String },
    Version { function: String, version: String },
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resource::Object { bucket, key } => write!(f, "S3 object s3://{bucket}/{key}"),
            Resource::Repository { name } => write!(f, "ECR repository {name}"),
            Resource::LayerVersion { name, version } => write!(f, "layer version {name}:{version}"),
            Resource::Function { name } => write!(f, "function {name}"),
            Resource::Version { function, version } => {
                write!(f, "function version {function}:{version}")
            }
        }
    }
}

/// Resources that exist now, and every one ever created.
#[derive(Default)]
pub(super) struct Ledger {
    live: Mutex<Vec<Resource>>,
    history: Mutex<Vec<String>>,
}

impl Ledger {
    pub fn add(&self, r: Resource) {
        if let Ok(mut h) = self.history.lock() {
            h.push(r.to_string());
        }
        if let Ok(mut l) = self.live.lock() {
            l.push(r);
        }
    }

    pub fn remove(&self, r: &Resource) {
        if let Ok(mut l) = self.live.lock() {
            l.retain(|x| x != r);
        }
    }

    pub fn live(&self) -> Vec<Resource> {
        self.live.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn history(&self) -> Vec<String> {
        self.history.lock().map(|h| h.clone()).unwrap_or_default()
    }
}

fn order(r: &Resource) -> u8 {
    match r {
        Resource::Version { .. } => 0,
        Resource::Function { .. } => 1,
        Resource::LayerVersion { .. } => 2,
        Resource::Repository { .. } => 3,
        Resource::Object { .. } => 4,
    }
}

/// A failed delete of something already gone counts as deleted.
fn gone(aws: &Aws, what: &str, e: &(dyn std::error::Error + 'static)) -> Result<(), String> {
    let text = aws.error(what, e);
    if text.contains("NotFound") || text.contains("NoSuchKey") || text.contains("404") {
        Ok(())
    } else {
        Err(text)
    }
}

/// Delete one resource; a resource that is already gone counts as deleted.
pub(super) fn delete(aws: &Aws, r: &Resource) -> Result<(), String> {
    let gone = |e: &(dyn std::error::Error + 'static), what: &str| gone(aws, what, e);
    let rt = &aws.rt;
    let what = format!("deleting {r}");
    match r {
        Resource::Function { name } => {
            match rt.block_on(aws.lambda().delete_function().function_name(name).send()) {
                Ok(_) => Ok(()),
                Err(e) => gone(&e, &what),
            }
        }
        Resource::Version { function, version } => match rt.block_on(
            aws.lambda()
                .delete_function()
                .function_name(function)
                .qualifier(version)
                .send(),
        ) {
            Ok(_) => Ok(()),
            Err(e) => gone(&e, &what),
        },
        Resource::LayerVersion { name, version } => match rt.block_on(
            aws.lambda()
                .delete_layer_version()
                .layer_name(name)
                .version_number(*version)
                .send(),
        ) {
            Ok(_) => Ok(()),
            Err(e) => gone(&e, &what),
        },
        Resource::Repository { name } => match rt.block_on(
            aws.ecr()
                .delete_repository()
                .repository_name(name)
                .force(true)
                .send(),
        ) {
            Ok(_) => Ok(()),
            Err(e) => gone(&e, &what),
        },
        Resource::Object { bucket, key } => {
            match rt.block_on(aws.s3().delete_object().bucket(bucket).key(key).send()) {
                Ok(_) => Ok(()),
                Err(e) => gone(&e, &what),
            }
        }
    }
}

/// Delete every resource in `list`, in dependency order: (deleted, failed with why).
pub(super) fn delete_all(
    aws: &Aws,
    mut list: Vec<Resource>,
    reporter: &dyn Reporter,
) -> (Vec<String>, Vec<String>) {
    list.sort_by_key(order);
    reporter.start(Phase::Cleanup, list.len() as u64);
    let (mut deleted, mut failed) = (Vec::new(), Vec::new());
    for r in &list {
        match delete(aws, r) {
            Ok(()) => deleted.push(r.to_string()),
            Err(e) => failed.push(e),
        }
        reporter.advance(Phase::Cleanup, 1);
    }
    reporter.finish(Phase::Cleanup);
    (deleted, failed)
}

/// Everything of run `o.run_id` that can be found: functions and ECR repositories by tag,
/// layer versions by the run id in their name and the tag in their description, S3 objects
/// under `lpack-bench/<run id>/` in `--s3-bucket`.
fn find(aws: &Aws, o: &Options) -> Result<Vec<Resource>, String> {
    let run = o.run_id.as_str();
    let rt = &aws.rt;
    let lambda = aws.lambda();
    let mut out = Vec::new();
    let functions = rt
        .block_on(
            lambda
                .list_functions()
                .into_paginator()
                .items()
                .send()
                .try_collect(),
        )
        .map_err(|e| aws.error("ListFunctions", &e))?;
    for f in functions {
        let (Some(name), Some(arn)) = (f.function_name(), f.function_arn()) else {
            continue;
        };
        let tags = rt
            .block_on(lambda.list_tags().resource(arn).send())
            .map_err(|e| aws.error(format!("ListTags {name}"), &e))?;
        if tags
            .tags()
            .and_then(|t| t.get(TAG))
            .is_some_and(|v| v == run)
        {
            out.push(Resource::Function {
                name: name.to_string(),
            });
        }
    }
    let layers = rt
        .block_on(
            lambda
                .list_layers()
                .into_paginator()
                .items()
                .send()
                .try_collect(),
        )
        .map_err(|e| aws.error("ListLayers", &e))?;
    let marker = format!("{TAG}={run}");
    for l in layers {
        let Some(name) = l.layer_name() else { continue };
        if !name.contains(run) {
            continue;
        }
        let versions = rt
            .block_on(
                lambda
                    .list_layer_versions()
                    .layer_name(name)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect(),
            )
            .map_err(|e| aws.error(format!("ListLayerVersions {name}"), &e))?;
        for v in versions {
            if v.description().is_some_and(|d| d.contains(&marker)) {
                out.push(Resource::LayerVersion {
                    name: name.to_string(),
                    version: v.version(),
                });
            }
        }
    }
    let ecr = aws.ecr();
    let repos = rt
        .block_on(
            ecr.describe_repositories()
                .into_paginator()
                .items()
                .send()
                .try_collect(),
        )
        .map_err(|e| aws.error("ECR DescribeRepositories", &e))?;
    for r in repos {
        let (Some(name), Some(arn)) = (r.repository_name(), r.repository_arn()) else {
            continue;
        };
        let tags = rt
            .block_on(ecr.list_tags_for_resource().resource_arn(arn).send())
            .map_err(|e| aws.error(format!("ECR ListTagsForResource {name}"), &e))?;
        if tags
            .tags()
            .iter()
            .any(|t| t.key() == TAG && t.value() == run)
        {
            out.push(Resource::Repository {
                name: name.to_string(),
            });
        }
    }
    if let Some(bucket) = &o.s3_bucket {
        let s3 = aws.s3();
        let objects = rt
            .block_on(
                s3.list_objects_v2()
                    .bucket(bucket)
                    .prefix(format!("{S3_PREFIX}/{run}/"))
                    .into_paginator()
                    .send()
                    .try_collect(),
            )
            .map_err(|e| aws.error(format!("S3 ListObjectsV2 {bucket}"), &e))?;
        for page in objects {
            for obj in page.contents() {
                if let Some(key) = obj.key() {
                    out.push(Resource::Object {
                        bucket: bucket.clone(),
                        key: key.to_string(),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// `lpack bench --cleanup RUN_ID`.
pub(super) fn by_tag(o: &Options, reporter: &dyn Reporter) -> Result<CleanupReport, BenchError> {
    if !super::valid_run_id(&o.run_id) {
        return Err(BenchError::Input(format!(
            "`{}` is not a run id (they look like 261201-120005-3fa9)",
            o.run_id
        )));
    }
    let aws =
        Aws::connect(o.region.as_deref(), o.endpoint_url.as_deref()).map_err(BenchError::Aws)?;
    let found = find(&aws, o).map_err(BenchError::Aws)?;
    let (deleted, failed) = delete_all(&aws, found, reporter);
    Ok(CleanupReport { deleted, failed })
}
