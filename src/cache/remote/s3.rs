//! `s3://BUCKET/PREFIX` through the official AWS SDK (cargo feature `aws`): the same
//! credential chain, HTTPS stack and redaction as the rest of lpack ([`crate::aws`]), so the
//! remote cache adds no dependency. Short timeouts and a single retry: a slow store is worth
//! less than a local build.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::primitives::ByteStream;

use super::{ObjectInfo, RemoteError, RemoteStore};
use crate::aws::Aws;

pub struct S3Store {
    aws: Aws,
    client: aws_sdk_s3::Client,
    bucket: String,
    /// The key prefix, empty or ending in `/`.
    prefix: String,
}

/// How long to wait for a connection, and between bytes of an answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const READ_TIMEOUT: Duration = Duration::from_secs(20);

impl S3Store {
    /// Set up the client (credentials are resolved now; nothing is sent to the bucket yet).
    /// The error is a message for the one warning (redacted).
    pub fn connect(bucket: &str, prefix: &str, endpoint: Option<&str>) -> Result<S3Store, String> {
        let aws = match Aws::connect(None, endpoint) {
            Ok(a) => a,
            // S3 buckets answer from any region's endpoint with a redirect; a look-alike store
            // ignores the region.
            Err(e) if e.starts_with("no AWS region") => Aws::connect(Some("us-east-1"), endpoint)?,
            Err(e) => return Err(e),
        };
        let mut b = aws_sdk_s3::config::Builder::from(&aws.config)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .read_timeout(READ_TIMEOUT)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(2));
        if endpoint.is_some() {
            b = b.force_path_style(true);
        }
        let client = aws_sdk_s3::Client::from_conf(b.build());
        let prefix = prefix.trim_matches('/');
        Ok(S3Store {
            aws,
            client,
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn err(&self, op: &str, key: &str, e: &(dyn std::error::Error + 'static)) -> RemoteError {
        RemoteError::Store {
            location: self.describe(),
            message: self.aws.error(format!("S3 {op} {key}"), e),
        }
    }
}

fn time_of(t: Option<&aws_sdk_s3::primitives::DateTime>) -> Option<SystemTime> {
    t.and_then(|d| SystemTime::try_from(*d).ok())
}

impl RemoteStore for S3Store {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix.trim_end_matches('/'))
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, RemoteError> {
        let k = self.key(key);
        self.aws.rt.block_on(async {
            let out = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&k)
                .send()
                .await;
            match out {
                Ok(o) => match o.body.collect().await {
                    Ok(b) => Ok(Some(b.into_bytes().to_vec())),
                    Err(e) => Err(self.err("GetObject", &k, &e)),
                },
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
                Err(e) => Err(self.err("GetObject", &k, &e)),
            }
        })
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<(), RemoteError> {
        let k = self.key(key);
        self.aws
            .rt
            .block_on(
                self.client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&k)
                    .body(ByteStream::from(data.to_vec()))
                    .send(),
            )
            .map(|_| ())
            .map_err(|e| self.err("PutObject", &k, &e))
    }

    fn head(&self, key: &str) -> Result<Option<ObjectInfo>, RemoteError> {
        let k = self.key(key);
        match self.aws.rt.block_on(
            self.client
                .head_object()
                .bucket(&self.bucket)
                .key(&k)
                .send(),
        ) {
            Ok(o) => Ok(Some(ObjectInfo {
                key: key.to_string(),
                size: o.content_length().map_or(0, |n| n.max(0) as u64),
                modified: time_of(o.last_modified()),
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(self.err("HeadObject", &k, &e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, RemoteError> {
        let full = self.key(prefix);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .aws
                .rt
                .block_on(
                    self.client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(&full)
                        .set_continuation_token(token.clone())
                        .send(),
                )
                .map_err(|e| self.err("ListObjectsV2", &full, &e))?;
            for o in page.contents() {
                let Some(k) = o.key().and_then(|k| k.strip_prefix(&self.prefix)) else {
                    continue;
                };
                out.push(ObjectInfo {
                    key: k.to_string(),
                    size: o.size().map_or(0, |n| n.max(0) as u64),
                    modified: time_of(o.last_modified()),
                });
            }
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() || page.is_truncated() != Some(true) {
                break;
            }
        }
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<(), RemoteError> {
        let k = self.key(key);
        self.aws
            .rt
            .block_on(
                self.client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(&k)
                    .send(),
            )
            .map(|_| ())
            .map_err(|e| self.err("DeleteObject", &k, &e))
    }
}
