//! AWS access (cargo feature `aws`): one [`Aws`] per run, built by `aws-config` from the whole
//! standard chain — environment variables, shared config and credentials profiles, SSO, web
//! identity (GitHub Actions' OIDC), container and instance metadata; the region likewise —
//! with HTTPS through rustls and ring, as the rest of lpack. The SDK is async; a small
//! current-thread tokio runtime drives it so callers stay synchronous.
//!
//! Credentials never leave this module in clear: every message built from an SDK error goes
//! through [`Aws::redact`], which replaces the resolved access key id, secret and session token.

use std::fmt::Display;

use aws_config::BehaviorVersion;
use aws_sdk_lambda::config::ProvideCredentials;
use aws_sdk_lambda::error::DisplayErrorContext;

/// A connection to one AWS account and region.
pub struct Aws {
    pub config: aws_config::SdkConfig,
    pub rt: tokio::runtime::Runtime,
    pub region: String,
    pub endpoint_url: Option<String>,
    secrets: Vec<String>,
}

/// Replace every secret in `text` (secrets shorter than 8 characters are left alone: they
/// would match ordinary words).
pub fn redact_with(secrets: &[String], text: &str) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 8) {
        out = out.replace(s.as_str(), "[redacted]");
    }
    out
}

impl Aws {
    /// Load the configuration and resolve credentials once (so a missing login fails before
    /// anything is created). `region`: this one, else the chain's.
    pub fn connect(region: Option<&str>, endpoint_url: Option<&str>) -> Result<Aws, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("starting the async runtime: {e}"))?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
        if let Some(r) = region {
            loader = loader.region(aws_config::Region::new(r.to_string()));
        }
        if let Some(u) = endpoint_url {
            loader = loader.endpoint_url(u);
        }
        let config = rt.block_on(loader.load());
        let region = config.region().map(|r| r.to_string()).ok_or(
            "no AWS region: pass --region, or set AWS_REGION (or a region in ~/.aws/config)",
        )?;
        let provider = config
            .credentials_provider()
            .ok_or("no AWS credentials provider")?;
        let creds = rt.block_on(provider.provide_credentials()).map_err(|e| {
            format!(
                "no AWS credentials: {}\n  hint: set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE (or `aws sso login`), or run where a role is available (AWS_WEB_IDENTITY_TOKEN_FILE, ECS, EC2)",
                DisplayErrorContext(&e)
            )
        })?;
        let mut secrets = vec![
            creds.access_key_id().to_string(),
            creds.secret_access_key().to_string(),
        ];
        if let Some(t) = creds.session_token() {
            secrets.push(t.to_string());
        }
        let aws = Aws {
            config,
            rt,
            region,
            endpoint_url: endpoint_url.map(str::to_string),
            secrets,
        };
        Ok(aws)
    }

    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.config)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        let mut b = aws_sdk_s3::config::Builder::from(&self.config);
        if self.endpoint_url.is_some() {
            // Test endpoints (and most S3 look-alikes) serve buckets by path.
            b = b.force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(b.build())
    }

    pub fn ecr(&self) -> aws_sdk_ecr::Client {
        aws_sdk_ecr::Client::new(&self.config)
    }

    /// `text` with every credential replaced.
    pub fn redact(&self, text: &str) -> String {
        redact_with(&self.secrets, text)
    }

    /// "`what`: the SDK error with its causes", redacted.
    pub fn error(&self, what: impl Display, e: &(dyn std::error::Error + 'static)) -> String {
        self.redact(&format!("{what}: {}", DisplayErrorContext(e)))
    }

    /// The secrets [`Aws::redact`] removes (for callers that redact text built elsewhere).
    pub fn secrets(&self) -> Vec<String> {
        self.secrets.clone()
    }

    /// An ECR authorization token through the SDK: (base64 `AWS:password`, registry host).
    pub fn ecr_token(&self) -> Result<(String, String), String> {
        let out = self
            .rt
            .block_on(self.ecr().get_authorization_token().send())
            .map_err(|e| self.error("ECR GetAuthorizationToken", &e))?;
        let data = out
            .authorization_data()
            .first()
            .ok_or("ECR GetAuthorizationToken answered without authorization data")?;
        let token = data
            .authorization_token()
            .ok_or("ECR GetAuthorizationToken answered without a token")?
            .to_string();
        let host = data
            .proxy_endpoint()
            .map(|p| {
                p.trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .to_string()
            })
            .unwrap_or_default();
        Ok((token, host))
    }
}

/// An ECR authorization token for `region` (base64 `AWS:password`), with the SDK's credential
/// chain.
pub fn ecr_token(region: &str) -> Result<String, String> {
    let aws = Aws::connect(Some(region), None)?;
    Ok(aws.ecr_token()?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_replaces_every_secret() {
        let s = vec![
            "AKIALPACKFAKE0000001".to_string(),
            "lpack/FAKE/secret+key0000000000000000000".to_string(),
            "tok".to_string(),
        ];
        let t = redact_with(
            &s,
            "key AKIALPACKFAKE0000001 secret lpack/FAKE/secret+key0000000000000000000 tok",
        );
        assert_eq!(t, "key [redacted] secret [redacted] tok");
    }
}
