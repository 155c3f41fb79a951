//! What a run created, and deleting it: from the run's own [`Ledger`] at the end of a run (or
//! on Ctrl-C), or, after a crash, by finding everything tagged `lpack-bench=<run id>`
//! ([`by_tag`]). Functions go first (which takes their versions along), then layer versions,
//! the ECR repository with its images, and S3 objects.

use std::sync::Mutex;

use super::{CleanupReport, Options, S3_PREFIX, TAG};
use crate::aws::Aws;
use crate::bench::error::BenchError;
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
    if vanished(aws, e) {
        Ok(())
    } else {
        Err(aws.error(what, e))
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

/// Is this error the resource having vanished (deleted by someone else since it was listed)?
fn vanished(aws: &Aws, e: &(dyn std::error::Error + 'static)) -> bool {
    let text = aws.error("", e);
    text.contains("NotFound") || text.contains("NoSuchKey") || text.contains("404")
}

/// Could this name belong to run `run`? Every name a run gives starts with `<prefix>-<run id>`
/// (the prefix may differ from today's `--prefix`), and run ids are unique, so the run id in
/// the name is the first filter: tags are read only for these few, never for every function
/// in the account.
fn named_for(name: &str, run: &str) -> bool {
    name.to_ascii_lowercase().contains(&format!("-{run}"))
}

/// What [`find`] found: resources of the run, and lookups that failed (other than for a
/// resource that vanished meanwhile, which is simply gone).
#[derive(Default)]
struct Found {
    resources: Vec<Resource>,
    failed: Vec<String>,
}

/// Everything of run `o.run_id` that can be found: functions and ECR repositories whose name
/// carries the run id and whose tag confirms it, layer versions by the run id in their name and
/// the tag in their description, S3 objects under `lpack-bench/<run id>/` in `--s3-bucket`.
/// A failed lookup is recorded and the search goes on: one broken resource never keeps the
/// others from being cleaned up.
fn find(aws: &Aws, o: &Options) -> Result<Found, String> {
    let run = o.run_id.as_str();
    let mut found = Found::default();
    find_functions(aws, run, &mut found)?;
    find_layers(aws, run, &mut found)?;
    find_repositories(aws, run, &mut found)?;
    if let Some(bucket) = &o.s3_bucket {
        find_objects(aws, run, bucket, &mut found)?;
    }
    Ok(found)
}

fn find_functions(aws: &Aws, run: &str, found: &mut Found) -> Result<(), String> {
    let (rt, lambda) = (&aws.rt, aws.lambda());
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
        if !named_for(name, run) {
            continue;
        }
        match rt.block_on(lambda.list_tags().resource(arn).send()) {
            Ok(tags) => {
                if tags
                    .tags()
                    .and_then(|t| t.get(TAG))
                    .is_some_and(|v| v == run)
                {
                    found.resources.push(Resource::Function {
                        name: name.to_string(),
                    });
                }
            }
            Err(e) if vanished(aws, &e) => {}
            Err(e) => found.failed.push(aws.error(format!("ListTags {name}"), &e)),
        }
    }
    Ok(())
}

fn find_layers(aws: &Aws, run: &str, found: &mut Found) -> Result<(), String> {
    let (rt, lambda) = (&aws.rt, aws.lambda());
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
        if !named_for(name, run) {
            continue;
        }
        let versions = rt.block_on(
            lambda
                .list_layer_versions()
                .layer_name(name)
                .into_paginator()
                .items()
                .send()
                .try_collect(),
        );
        match versions {
            Ok(versions) => {
                for v in versions {
                    if v.description().is_some_and(|d| d.contains(&marker)) {
                        found.resources.push(Resource::LayerVersion {
                            name: name.to_string(),
                            version: v.version(),
                        });
                    }
                }
            }
            Err(e) if vanished(aws, &e) => {}
            Err(e) => found
                .failed
                .push(aws.error(format!("ListLayerVersions {name}"), &e)),
        }
    }
    Ok(())
}

fn find_repositories(aws: &Aws, run: &str, found: &mut Found) -> Result<(), String> {
    let (rt, ecr) = (&aws.rt, aws.ecr());
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
        if !named_for(name, run) {
            continue;
        }
        match rt.block_on(ecr.list_tags_for_resource().resource_arn(arn).send()) {
            Ok(tags) => {
                if tags
                    .tags()
                    .iter()
                    .any(|t| t.key() == TAG && t.value() == run)
                {
                    found.resources.push(Resource::Repository {
                        name: name.to_string(),
                    });
                }
            }
            Err(e) if vanished(aws, &e) => {}
            Err(e) => found
                .failed
                .push(aws.error(format!("ECR ListTagsForResource {name}"), &e)),
        }
    }
    Ok(())
}

fn find_objects(aws: &Aws, run: &str, bucket: &str, found: &mut Found) -> Result<(), String> {
    let objects = aws
        .rt
        .block_on(
            aws.s3()
                .list_objects_v2()
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
                found.resources.push(Resource::Object {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                });
            }
        }
    }
    Ok(())
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
    let (deleted, mut failed) = delete_all(&aws, found.resources, reporter);
    failed.extend(found.failed);
    Ok(CleanupReport { deleted, failed })
}

#[cfg(test)]
mod tests {
    use super::named_for;

    #[test]
    fn names_of_a_run_are_found_by_run_id_whatever_the_prefix() {
        let run = "261201-120005-3fa9";
        assert!(named_for("lpack-bench-261201-120005-3fa9-a-zip", run));
        assert!(named_for("team_x-261201-120005-3fa9-layer0", run));
        // ECR repository names are lower case; run ids already are
        assert!(named_for("lpack-bench-261201-120005-3fa9", run));
        assert!(!named_for("lpack-bench-261201-120005-3fa8-a-zip", run));
        assert!(!named_for("my-service-prod", run));
    }
}
