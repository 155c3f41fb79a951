//! Create what the plan names: layer versions (PublishLayerVersion, in the request or through
//! S3), the run's ECR repository and the images pushed to it with lpack's own registry client
//! (ECR login through the SDK), and the functions (CreateFunction: zip in the request or from
//! S3 with its layers in order, or PackageType Image with the pushed *digest*), each recorded
//! in the ledger the moment it exists. S3 objects are deleted as soon as Lambda has copied them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, ImageConfig, LastUpdateStatus,
    LayerVersionContentInput, PackageType, Runtime, State,
};

use super::cleanup::{Ledger, Resource};
use super::plan::{Plan, Planned, PlannedLayer, Upload};
use super::{Options, TAG};
use crate::aws::Aws;
use crate::bench::error::interrupted;
use crate::emit::image::{Blob as ImageBlob, BuiltImage, MT_CONFIG};
use crate::emit::registry::Registry;
use crate::progress::{Phase, Reporter};

/// How long a function may take to become Active or finish an update.
const STATE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// A function as created.
#[derive(Debug, Clone)]
pub(super) struct Deployed {
    pub function_name: String,
    /// The handler the results name (for images: the CMD or its override).
    pub handler: String,
}

fn tags(o: &Options) -> HashMap<String, String> {
    HashMap::from([(TAG.to_string(), o.run_id.clone())])
}

/// Upload a zip to S3, tagged; recorded in the ledger.
fn put_object(
    aws: &Aws,
    ledger: &Ledger,
    o: &Options,
    bucket: &str,
    key: &str,
    file: &std::path::Path,
) -> Result<Resource, String> {
    let body = aws
        .rt
        .block_on(aws_sdk_s3::primitives::ByteStream::from_path(file))
        .map_err(|e| aws.error(format!("reading {}", file.display()), &e))?;
    aws.rt
        .block_on(
            aws.s3()
                .put_object()
                .bucket(bucket)
                .key(key)
                .tagging(format!("{TAG}={}", o.run_id))
                .body(body)
                .send(),
        )
        .map_err(|e| aws.error(format!("S3 PutObject s3://{bucket}/{key}"), &e))?;
    let r = Resource::Object {
        bucket: bucket.to_string(),
        key: key.to_string(),
    };
    ledger.add(r.clone());
    Ok(r)
}

/// Once Lambda has its copy, the object can go.
fn drop_object(aws: &Aws, ledger: &Ledger, r: Option<Resource>) {
    if let Some(r) = r
        && super::cleanup::delete(aws, &r).is_ok()
    {
        ledger.remove(&r);
    }
}

fn read_zip(file: &std::path::Path) -> Result<Blob, String> {
    std::fs::read(file)
        .map(Blob::new)
        .map_err(|e| format!("reading {}: {e}", file.display()))
}

/// The image as lpack's registry client pushes it, from the OCI layout the bench resolved.
fn built_image(d: &Planned) -> Result<BuiltImage, String> {
    let img = d.resolved.image.as_ref().ok_or("not an image deployment")?;
    let blob = |digest: &str| {
        img.dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let manifest = std::fs::read(blob(&img.image.manifest_digest))
        .map_err(|e| format!("reading the image manifest: {e}"))?;
    let config_digest = img.record.config_digest.clone();
    let config_path = blob(&config_digest);
    let config =
        std::fs::read(&config_path).map_err(|e| format!("reading the image config: {e}"))?;
    let mut blobs = img.image.layers.clone();
    blobs.push(ImageBlob {
        media_type: MT_CONFIG.to_string(),
        digest: config_digest.clone(),
        size: config.len() as u64,
        path: config_path,
    });
    Ok(BuiltImage {
        manifest,
        manifest_digest: img.image.manifest_digest.clone(),
        config,
        config_digest,
        base: img.image.clone(),
        layers: img.record.layers.clone(),
        blobs,
    })
}

/// Create the run's repository and push every image; returns the ImageUri per deployment index.
fn push_images(
    aws: &Aws,
    plan: &Plan,
    o: &Options,
    ledger: &Ledger,
    reporter: &dyn Reporter,
) -> Result<HashMap<usize, String>, String> {
    let mut uris = HashMap::new();
    let Some(repo) = &plan.repository else {
        return Ok(uris);
    };
    let tag = aws_sdk_ecr::types::Tag::builder()
        .key(TAG)
        .value(&o.run_id)
        .build()
        .map_err(|e| e.to_string())?;
    let out = aws
        .rt
        .block_on(
            aws.ecr()
                .create_repository()
                .repository_name(repo)
                .tags(tag)
                .send(),
        )
        .map_err(|e| aws.error(format!("ECR CreateRepository {repo}"), &e))?;
    ledger.add(Resource::Repository { name: repo.clone() });
    reporter.advance(Phase::Deploy, 1);
    let uri = out
        .repository()
        .and_then(|r| r.repository_uri())
        .ok_or("ECR CreateRepository answered without a repository URI")?
        .to_string();
    // Push to the registry the URI names (or the stand-in a test gives), logged in through
    // the SDK.
    let login = match &o.image_registry {
        Some(_) => None,
        None => {
            let (token, host) = aws.ecr_token()?;
            let (u, p) = crate::emit::registry::ecr::decode_token(&token)?;
            Some((u, p, host))
        }
    };
    for (i, d) in plan.deployments.iter().enumerate() {
        let Upload::Image { tag, .. } = &d.upload else {
            continue;
        };
        if interrupted() {
            return Err("interrupted".into());
        }
        let img = built_image(d)?;
        let path = uri.split_once('/').map_or(repo.as_str(), |(_, p)| p);
        let reg = match (&o.image_registry, &login) {
            (Some(host), _) => Registry::connect(&format!("{host}/{path}:{tag}")),
            (None, Some((u, p, host))) => {
                let host = if host.is_empty() {
                    uri.split('/').next().unwrap_or("")
                } else {
                    host.as_str()
                };
                Registry::connect_as(&format!("{host}/{path}:{tag}"), u, p)
            }
            (None, None) => return Err("no ECR login".into()),
        }
        .map_err(|e| aws.redact(&e.to_string()))?;
        let pushed = reg.push(&img).map_err(|e| aws.redact(&e.to_string()))?;
        if pushed.digest != img.manifest_digest {
            return Err(format!(
                "{}: the registry stored {}, lpack built {}",
                d.name, pushed.digest, img.manifest_digest
            ));
        }
        // Lambda runs exactly these bytes: the function names the digest, not the tag.
        uris.insert(i, format!("{uri}@{}", img.manifest_digest));
        reporter.advance(Phase::Deploy, 1);
    }
    Ok(uris)
}

/// Create everything; the functions are Active when this returns.
pub(super) fn deploy(
    aws: &Aws,
    plan: &Plan,
    o: &Options,
    ledger: &Ledger,
    reporter: &dyn Reporter,
) -> Result<Vec<Deployed>, String> {
    let role = plan.role_arn.clone().ok_or("no --role-arn")?;
    let dep = Deployer {
        aws,
        plan,
        o,
        ledger,
        lambda: aws.lambda(),
    };
    let total = plan.layers.len()
        + plan.deployments.len()
        + plan.repository.iter().count()
        + plan
            .deployments
            .iter()
            .filter(|d| matches!(d.upload, Upload::Image { .. }))
            .count();
    reporter.start(Phase::Deploy, total as u64);

    // Layer versions (shared between deployments that use the same zip).
    let layer_arns = dep.publish_layers(reporter)?;

    let images = push_images(aws, plan, o, ledger, reporter)?;

    let mut deployed = Vec::new();
    for (i, d) in plan.deployments.iter().enumerate() {
        if interrupted() {
            return Err("interrupted".into());
        }
        deployed.push(dep.create_function(i, d, &role, &images, &layer_arns)?);
        reporter.advance(Phase::Deploy, 1);
    }
    for d in &deployed {
        aws.rt
            .block_on(wait_ready(&dep.lambda, &d.function_name, None, o.poll))
            .map_err(|e| aws.redact(&e))?;
    }
    reporter.finish(Phase::Deploy);
    Ok(deployed)
}

/// The Lambda runtime a deployment names.
fn runtime_of(d: &Planned) -> Runtime {
    Runtime::from(d.runtime.as_str())
}

/// The Lambda architecture a deployment names.
fn arch_of(d: &Planned) -> Architecture {
    Architecture::from(d.arch.as_str())
}

/// What every deployment step needs: the SDK, the plan, the options and the ledger.
struct Deployer<'a> {
    aws: &'a Aws,
    plan: &'a Plan,
    o: &'a Options,
    ledger: &'a Ledger,
    lambda: aws_sdk_lambda::Client,
}

impl Deployer<'_> {
    /// Publish the plan's layer versions (or take a published one's ARN); their ARNs in order.
    fn publish_layers(&self, reporter: &dyn Reporter) -> Result<Vec<String>, String> {
        let mut layer_arns: Vec<String> = Vec::new();
        for l in &self.plan.layers {
            if interrupted() {
                return Err("interrupted".into());
            }
            if let Some(arn) = &l.arn {
                // A published layer the deployment names by ARN: attached as it is.
                layer_arns.push(arn.clone());
                reporter.advance(Phase::Deploy, 1);
                continue;
            }
            layer_arns.push(self.publish_layer(l)?);
            reporter.advance(Phase::Deploy, 1);
        }
        Ok(layer_arns)
    }

    /// Publish one layer version from its zip (in the request or through S3); returns its ARN.
    fn publish_layer(&self, l: &PlannedLayer) -> Result<String, String> {
        let (aws, o, ledger) = (self.aws, self.o, self.ledger);
        let user = self
            .plan
            .deployments
            .iter()
            .find(|d| {
                d.layers
                    .iter()
                    .any(|&i| self.plan.layers[i].sha256 == l.sha256)
            })
            .ok_or("a layer no deployment uses")?;
        let (content, object) = match &l.upload {
            Upload::S3 { bucket, key } => {
                let r = put_object(aws, ledger, o, bucket, key, &l.file)?;
                (
                    LayerVersionContentInput::builder()
                        .s3_bucket(bucket)
                        .s3_key(key)
                        .build(),
                    Some(r),
                )
            }
            _ => (
                LayerVersionContentInput::builder()
                    .zip_file(read_zip(&l.file)?)
                    .build(),
                None,
            ),
        };
        let out = aws
            .rt
            .block_on(
                self.lambda
                    .publish_layer_version()
                    .layer_name(&l.name)
                    .description(format!("{TAG}={} {}", o.run_id, l.file_name))
                    .content(content)
                    .compatible_runtimes(runtime_of(user))
                    .compatible_architectures(arch_of(user))
                    .send(),
            )
            .map_err(|e| aws.error(format!("PublishLayerVersion {}", l.name), &e))?;
        ledger.add(Resource::LayerVersion {
            name: l.name.clone(),
            version: out.version(),
        });
        drop_object(aws, ledger, object);
        Ok(out
            .layer_version_arn()
            .ok_or("PublishLayerVersion answered without an ARN")?
            .to_string())
    }

    /// Create deployment `i`'s function from its pushed image or its zip and layers.
    fn create_function(
        &self,
        i: usize,
        d: &Planned,
        role: &str,
        images: &HashMap<usize, String>,
        layer_arns: &[String],
    ) -> Result<Deployed, String> {
        let (aws, o, ledger) = (self.aws, self.o, self.ledger);
        let req = self
            .lambda
            .create_function()
            .function_name(&d.function_name)
            .role(role)
            .description(format!("lpack bench run {}: {}", o.run_id, d.name))
            .timeout(self.plan.timeout_s as i32)
            .memory_size(self.plan.memory[0] as i32)
            .architectures(arch_of(d))
            .environment(
                Environment::builder()
                    .variables("LPACK_COLD", format!("{}-deploy", o.run_id))
                    .build(),
            )
            .set_tags(Some(tags(o)));
        let (req, handler, object) = match &d.upload {
            Upload::Image { .. } => {
                let (req, handler) = image_code(req, i, d, images)?;
                (req, handler, None)
            }
            up => self.zip_code(req, up, d, layer_arns)?,
        };
        aws.rt
            .block_on(req.send())
            .map_err(|e| aws.error(format!("CreateFunction {}", d.function_name), &e))?;
        ledger.add(Resource::Function {
            name: d.function_name.clone(),
        });
        drop_object(aws, ledger, object);
        Ok(Deployed {
            function_name: d.function_name.clone(),
            handler,
        })
    }

    /// A zip function's code, runtime, handler and layers; also the S3 object to drop later.
    fn zip_code(
        &self,
        req: CreateFunction,
        up: &Upload,
        d: &Planned,
        layer_arns: &[String],
    ) -> Result<(CreateFunction, String, Option<Resource>), String> {
        let mut object = None;
        let code = match up {
            Upload::S3 { bucket, key } => {
                object = Some(put_object(
                    self.aws,
                    self.ledger,
                    self.o,
                    bucket,
                    key,
                    &d.resolved.function,
                )?);
                FunctionCode::builder()
                    .s3_bucket(bucket)
                    .s3_key(key)
                    .build()
            }
            _ => FunctionCode::builder()
                .zip_file(read_zip(&d.resolved.function)?)
                .build(),
        };
        let handler = d.handler.clone().ok_or("a zip without a handler")?;
        let req = req
            .package_type(PackageType::Zip)
            .runtime(runtime_of(d))
            .handler(&handler)
            .code(code)
            .set_layers(Some(
                d.layers.iter().map(|&j| layer_arns[j].clone()).collect(),
            ));
        Ok((req, handler, object))
    }
}

/// A CreateFunction request being built.
type CreateFunction =
    aws_sdk_lambda::operation::create_function::builders::CreateFunctionFluentBuilder;

/// An image function's code (the pushed digest), CMD override and the handler it runs.
fn image_code(
    req: CreateFunction,
    i: usize,
    d: &Planned,
    images: &HashMap<usize, String>,
) -> Result<(CreateFunction, String), String> {
    let uri = images.get(&i).ok_or("an image that was not pushed")?;
    let mut req = req
        .package_type(PackageType::Image)
        .code(FunctionCode::builder().image_uri(uri).build());
    if let Some(h) = &d.handler {
        req = req.image_config(ImageConfig::builder().command(h).build());
    }
    let handler = d
        .handler
        .clone()
        .or_else(|| {
            d.resolved
                .image
                .as_ref()
                .and_then(|img| crate::bench::layout::image_cmd(&img.image))
        })
        .unwrap_or_default();
    Ok((req, handler))
}

/// Wait until the function (or `qualifier`'s version) is Active and its last update
/// succeeded.
pub(super) async fn wait_ready(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    qualifier: Option<&str>,
    poll: Duration,
) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let cfg = lambda
            .get_function_configuration()
            .function_name(name)
            .set_qualifier(qualifier.map(str::to_string))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "GetFunctionConfiguration {name}: {}",
                    aws_sdk_lambda::error::DisplayErrorContext(&e)
                )
            })?;
        let state = cfg.state().cloned();
        let update = cfg.last_update_status().cloned();
        if state == Some(State::Failed) || update == Some(LastUpdateStatus::Failed) {
            return Err(format!(
                "{name} failed: {} {}",
                cfg.state_reason().unwrap_or(""),
                cfg.last_update_status_reason().unwrap_or("")
            ));
        }
        let active = matches!(state, None | Some(State::Active));
        let updated = matches!(update, None | Some(LastUpdateStatus::Successful));
        if active && updated {
            return Ok(());
        }
        if interrupted() {
            return Err("interrupted".into());
        }
        if started.elapsed() > STATE_TIMEOUT {
            return Err(format!(
                "{name} is still {:?} / {:?} after {} minutes",
                state,
                update,
                STATE_TIMEOUT.as_secs() / 60
            ));
        }
        tokio::time::sleep(poll).await;
    }
}
