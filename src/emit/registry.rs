//! Registries: pull a base image for the target platform, push a built image.
//!
//! Built on `oci-client` (async, driven here by a small current-thread tokio runtime, so the rest
//! of lpack stays synchronous). Registries on `localhost` / `127.0.0.1` / `[::1]` are spoken to
//! over plain HTTP, like Docker does; everything else over HTTPS with the system trust store.
//!
//! Credentials, first match wins: `LPACK_REGISTRY_USERNAME` / `LPACK_REGISTRY_PASSWORD`; the
//! registry's entry in Docker's `config.json` (`$DOCKER_CONFIG` or `~/.docker`); for Amazon ECR
//! hosts (`*.dkr.ecr.*.amazonaws.com`) a token from ECR `GetAuthorizationToken` — through the
//! AWS SDK and its whole credential chain (lpack built with the `aws` feature; without it, an
//! error saying how to pass a token); otherwise anonymous (with the bearer-token flow public
//! registries use).
//!
//! Pulling takes only the single-platform manifest for the target from an index, verifies every
//! blob's digest and stores it in the cache (`blobs-v1/`). Pushing uploads only blobs the
//! registry does not have (monolithic uploads, which ECR requires), then the manifest bytes
//! exactly as built, so the pushed digest is the digest lpack computed — a single image
//! manifest, never an index.

use std::io::Write;
use std::str::FromStr;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::Value;

use super::image::{BaseImage, Blob, BuiltImage, MT_INDEX, MT_LAYER, MT_MANIFEST};
use crate::cache::Cache;
use crate::digest::sha256_hex;
use crate::target::Arch;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("`{reference}` is not an image reference: {detail}")]
    Reference { reference: String, detail: String },
    #[error("{reference}: {detail}{hint}")]
    Registry {
        reference: String,
        detail: String,
        hint: String,
    },
    #[error("{0}")]
    Other(String),
}

/// What a push did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushReport {
    pub reference: String,
    pub digest: String,
    pub uploaded: usize,
    pub uploaded_bytes: u64,
    pub already_present: usize,
}

fn is_local(registry: &str) -> bool {
    let host = registry
        .rsplit_once(':')
        .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
        .map_or(registry, |(h, _)| h);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]") || host.starts_with("127.")
}

/// A connection to one registry.
pub struct Registry {
    client: Client,
    auth: RegistryAuth,
    rt: tokio::runtime::Runtime,
    reference: Reference,
    display: String,
}

impl Registry {
    pub fn connect(reference: &str) -> Result<Registry, RegistryError> {
        Registry::open(reference, None)
    }

    /// Connect with these credentials instead of looking them up (e.g. an ECR token the caller
    /// got from the AWS SDK).
    pub fn connect_as(
        reference: &str,
        username: &str,
        password: &str,
    ) -> Result<Registry, RegistryError> {
        Registry::open(
            reference,
            Some(RegistryAuth::Basic(
                username.to_string(),
                password.to_string(),
            )),
        )
    }

    fn open(reference: &str, auth: Option<RegistryAuth>) -> Result<Registry, RegistryError> {
        let r = Reference::from_str(reference).map_err(|e| RegistryError::Reference {
            reference: reference.to_string(),
            detail: e.to_string(),
        })?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let registry = r.resolve_registry().to_string();
        let protocol = if is_local(&registry) {
            ClientProtocol::HttpsExcept(vec![registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            use_monolithic_push: true,
            ..Default::default()
        };
        let auth = match auth {
            Some(a) => a,
            None => credentials(&registry)?,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RegistryError::Other(e.to_string()))?;
        Ok(Registry {
            client: Client::new(config),
            auth,
            rt,
            reference: r,
            display: reference.to_string(),
        })
    }

    fn err(&self, e: &dyn std::error::Error) -> RegistryError {
        let detail = crate::http::error_chain(e);
        let lower = detail.to_ascii_lowercase();
        let hint = if lower.contains("401")
            || lower.contains("unauthorized")
            || lower.contains("denied")
        {
            "\n  hint: log in (`docker login`, which writes ~/.docker/config.json) or set LPACK_REGISTRY_USERNAME / LPACK_REGISTRY_PASSWORD"
        } else if lower.contains("connect") || lower.contains("dns") || lower.contains("timed out")
        {
            "\n  hint: is the registry running and reachable from here?"
        } else if lower.contains("manifest unknown")
            || lower.contains("404")
            || lower.contains("not found")
        {
            "\n  hint: check the repository and tag"
        } else {
            ""
        };
        RegistryError::Registry {
            reference: self.display.clone(),
            detail,
            hint: hint.to_string(),
        }
    }

    /// Pull the image for `arch` into the cache.
    pub fn pull_base(&self, arch: Arch, cache: &Cache) -> Result<BaseImage, RegistryError> {
        let accept = [MT_MANIFEST, MT_INDEX, DOCKER_MANIFEST, DOCKER_LIST];
        let want = super::image::oci_arch(arch);
        let (mut bytes, mut digest) = self
            .rt
            .block_on(
                self.client
                    .pull_manifest_raw(&self.reference, &self.auth, &accept),
            )
            .map_err(|e| self.err(&e))?;
        let mut manifest: Value =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Other(e.to_string()))?;
        let mt = manifest["mediaType"].as_str().unwrap_or("").to_string();
        if mt == MT_INDEX || mt == DOCKER_LIST || manifest["manifests"].is_array() {
            let list = manifest["manifests"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let entry = super::image::pick_platform(&list, arch).map_err(|detail| {
                RegistryError::Registry {
                    reference: self.display.clone(),
                    detail,
                    hint: String::new(),
                }
            })?;
            let d = entry["digest"].as_str().unwrap_or("").to_string();
            let by_digest = self.reference.clone_with_digest(d.clone());
            let (b, got) = self
                .rt
                .block_on(
                    self.client
                        .pull_manifest_raw(&by_digest, &self.auth, &accept),
                )
                .map_err(|e| self.err(&e))?;
            bytes = b;
            digest = got;
            manifest =
                serde_json::from_slice(&bytes).map_err(|e| RegistryError::Other(e.to_string()))?;
        }
        if format!("sha256:{}", sha256_hex(&bytes)) != digest {
            return Err(RegistryError::Other(format!(
                "{}: manifest does not match its digest",
                self.display
            )));
        }
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let config_path = self.fetch_blob(&config_digest, cache)?;
        let config: Value = serde_json::from_slice(
            &std::fs::read(&config_path).map_err(|e| RegistryError::Other(e.to_string()))?,
        )
        .map_err(|e| RegistryError::Other(e.to_string()))?;
        if let Some(a) = config["architecture"].as_str()
            && a != want
        {
            return Err(RegistryError::Registry {
                reference: self.display.clone(),
                detail: format!("is built for {a}, but the target is {want}"),
                hint: String::new(),
            });
        }
        let mut layers = Vec::new();
        for l in manifest["layers"].as_array().cloned().unwrap_or_default() {
            let d = l["digest"].as_str().unwrap_or("").to_string();
            let path = self.fetch_blob(&d, cache)?;
            let media_type = match l["mediaType"].as_str().unwrap_or(MT_LAYER) {
                DOCKER_LAYER => MT_LAYER.to_string(),
                other => other.to_string(),
            };
            layers.push(Blob {
                media_type,
                digest: d,
                size: l["size"].as_u64().unwrap_or(0),
                path,
            });
        }
        Ok(BaseImage {
            reference: self.display.clone(),
            manifest_digest: digest,
            config,
            layers,
        })
    }

    /// A blob from the cache, or pulled, verified and cached.
    fn fetch_blob(&self, digest: &str, cache: &Cache) -> Result<std::path::PathBuf, RegistryError> {
        if let Some(p) = cache.blob(digest) {
            return Ok(p);
        }
        let mut buf: Vec<u8> = Vec::new();
        self.rt
            .block_on(self.client.pull_blob(&self.reference, digest, &mut buf))
            .map_err(|e| self.err(&e))?;
        if format!("sha256:{}", sha256_hex(&buf)) != digest {
            return Err(RegistryError::Other(format!(
                "{}: blob {digest} does not match its digest",
                self.display
            )));
        }
        let mut tmp = cache
            .temp_file()
            .map_err(|e| RegistryError::Other(e.to_string()))?;
        tmp.write_all(&buf)
            .map_err(|e| RegistryError::Other(e.to_string()))?;
        cache
            .commit_blob(tmp, digest)
            .map_err(|e| RegistryError::Other(e.to_string()))
    }

    /// Push `img`: missing blobs first, then the manifest bytes as built.
    pub fn push(&self, img: &BuiltImage) -> Result<PushReport, RegistryError> {
        let mut report = PushReport {
            reference: self.display.clone(),
            digest: img.manifest_digest.clone(),
            uploaded: 0,
            uploaded_bytes: 0,
            already_present: 0,
        };
        // Authenticate once for push so blob_exists and uploads share the token.
        self.rt
            .block_on(self.client.auth(
                &self.reference,
                &self.auth,
                oci_client::RegistryOperation::Push,
            ))
            .map_err(|e| self.err(&e))?;
        for b in &img.blobs {
            let present = self
                .rt
                .block_on(self.client.blob_exists(&self.reference, &b.digest))
                .map_err(|e| self.err(&e))?;
            if present {
                report.already_present += 1;
                continue;
            }
            let data = std::fs::read(&b.path).map_err(|e| RegistryError::Other(e.to_string()))?;
            self.rt
                .block_on(self.client.push_blob(&self.reference, data, &b.digest))
                .map_err(|e| self.err(&e))?;
            report.uploaded += 1;
            report.uploaded_bytes += b.size;
        }
        let ct = reqwest::header::HeaderValue::from_static(MT_MANIFEST);
        self.rt
            .block_on(
                self.client
                    .push_manifest_raw(&self.reference, img.manifest.clone(), ct),
            )
            .map_err(|e| self.err(&e))?;
        Ok(report)
    }
}

/// Credentials for `registry` (see the module doc for the order).
pub fn credentials(registry: &str) -> Result<RegistryAuth, RegistryError> {
    if let (Ok(u), Ok(p)) = (
        std::env::var("LPACK_REGISTRY_USERNAME"),
        std::env::var("LPACK_REGISTRY_PASSWORD"),
    ) {
        return Ok(RegistryAuth::Basic(u, p));
    }
    if let Some((u, p)) = docker_config_auth(registry) {
        return Ok(RegistryAuth::Basic(u, p));
    }
    if ecr::is_ecr(registry) {
        return ecr_auth(registry);
    }
    Ok(RegistryAuth::Anonymous)
}

/// An ECR registry's token through the AWS SDK's whole credential chain (SSO, web identity, …).
#[cfg(feature = "aws")]
fn ecr_auth(registry: &str) -> Result<RegistryAuth, RegistryError> {
    let (u, p) = ecr::region(registry)
        .ok_or_else(|| "not an ECR registry".to_string())
        .and_then(|r| crate::aws::ecr_token(&r))
        .and_then(|t| ecr::decode_token(&t))
        .map_err(RegistryError::Other)?;
    Ok(RegistryAuth::Basic(u, p))
}

/// Without the `aws` feature lpack has no AWS credential chain: say how to get a token.
#[cfg(not(feature = "aws"))]
fn ecr_auth(registry: &str) -> Result<RegistryAuth, RegistryError> {
    Err(RegistryError::Other(format!(
        "{registry} is Amazon ECR, and this lpack was built without the `aws` feature (the AWS SDK's credential chain)\n  hint: install lpack with `--features aws`, or pass a token: LPACK_REGISTRY_USERNAME=AWS LPACK_REGISTRY_PASSWORD=\"$(aws ecr get-login-password --region {})\"",
        ecr::region(registry).unwrap_or_default()
    )))
}

/// `auths.<registry>.auth` (base64 `user:password`) from Docker's config.json.
fn docker_config_auth(registry: &str) -> Option<(String, String)> {
    let dir = std::env::var("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .ok()
        .or_else(|| dirs::home_dir().map(|h| h.join(".docker")))?;
    let v: Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).ok()?).ok()?;
    let auths = v["auths"].as_object()?;
    let key = [
        registry.to_string(),
        format!("https://{registry}"),
        format!("http://{registry}"),
        if registry == "docker.io" || registry == "index.docker.io" {
            "https://index.docker.io/v1/".to_string()
        } else {
            String::new()
        },
    ];
    let entry = key.iter().find_map(|k| auths.get(k))?;
    let encoded = entry["auth"].as_str()?;
    decode_basic(encoded)
}

/// base64 `user:password` → (user, password).
pub fn decode_basic(encoded: &str) -> Option<(String, String)> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

pub mod ecr {
    //! Amazon ECR registries: the region from the registry host, and the decoding of
    //! `GetAuthorizationToken`'s token to (`AWS`, password). The token itself comes from the AWS
    //! SDK (`crate::aws`, cargo feature `aws`): lpack signs no AWS request by hand.

    /// `123456789012.dkr.ecr.eu-west-1.amazonaws.com`.
    pub fn is_ecr(registry: &str) -> bool {
        region(registry).is_some()
    }

    pub fn region(registry: &str) -> Option<String> {
        let host = registry.split(':').next()?;
        let parts: Vec<&str> = host.split('.').collect();
        match parts.as_slice() {
            [_, "dkr", "ecr", region, "amazonaws", "com"] => Some(region.to_string()),
            [_, "dkr", "ecr", region, "amazonaws", "com", "cn"] => Some(region.to_string()),
            _ => None,
        }
    }

    /// Decode an ECR `authorizationToken` (base64 `AWS:<password>`).
    pub fn decode_token(token: &str) -> Result<(String, String), String> {
        super::decode_basic(token).ok_or_else(|| "malformed ECR authorization token".to_string())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn hosts_and_tokens() {
            assert_eq!(
                region("123456789012.dkr.ecr.eu-west-1.amazonaws.com").as_deref(),
                Some("eu-west-1")
            );
            assert!(!is_ecr("public.ecr.aws"));
            assert!(!is_ecr("127.0.0.1:5000"));
            // base64("AWS:s3cr3t==")
            assert_eq!(
                decode_token("QVdTOnMzY3IzdD09"),
                Ok(("AWS".to_string(), "s3cr3t==".to_string()))
            );
            assert!(decode_token("!!!").is_err());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_registries_use_http() {
        assert!(is_local("127.0.0.1:5000"));
        assert!(is_local("localhost:5000"));
        assert!(!is_local("registry.example.com"));
        assert!(!is_local("public.ecr.aws"));
    }

    #[test]
    fn basic_auth_decoding() {
        assert_eq!(
            decode_basic("dXNlcjpwYXNz"),
            Some(("user".to_string(), "pass".to_string()))
        );
        assert_eq!(decode_basic("bm9jb2xvbg=="), None);
    }
}
