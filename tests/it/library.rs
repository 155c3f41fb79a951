//! The build as a library call: `lpack::pipeline::build` without the binary.

use lpack::emit::ConflictPolicy;
use lpack::emit::layer::LayerLayout;
use lpack::pipeline::{
    BuildError, BuildRequest, Gates, ImageRequest, IndexSettings, OutputFormat, SlimRequest,
    VerifyMode, build,
};
use lpack::progress::Silent;
use lpack::resolve::solver::Prerelease;
use lpack::slim::bytecode::BytecodeMode;
use lpack::slim::recipe::Profile;
use lpack::target::Target;

use crate::harness::*;

fn request(dir: &std::path::Path) -> BuildRequest {
    let requirements = dir.join("requirements.txt");
    std::fs::write(&requirements, "purelib==1.0\n").expect("write requirements");
    BuildRequest {
        requirements: Some(requirements),
        extras: Vec::new(),
        groups: Vec::new(),
        prerelease: Prerelease::IfNecessary,
        no_deps: false,
        target: Target::new(
            "python3.11".parse().expect("runtime"),
            "x86_64".parse().expect("arch"),
        ),
        format: OutputFormat::Zip,
        output: Some(dir.join("out/fn.zip")),
        src: None,
        handler: None,
        src_filter: Default::default(),
        cache_dir: Some(dir.join("cache")),
        offline: false,
        index: IndexSettings {
            index_url: None,
            extra_index_url: Vec::new(),
            find_links: vec![fixtures().flat.to_string_lossy().into_owned()],
            no_index: true,
            remote: None,
        },
        on_conflict: ConflictPolicy::Error,
        slim: SlimRequest {
            profile: Profile::Safe,
            recipes: Vec::new(),
            keep: Vec::new(),
            drop: Vec::new(),
            force_drop: Vec::new(),
            bytecode: Some(BytecodeMode::None),
            python: None,
            bytecode_for_imports: None,
        },
        gates: Gates::default(),
        layer_layout: LayerLayout::Python,
        split: None,
        layer_budget: None,
        exclude_layers: Vec::new(),
        with_layers: Vec::new(),
        prefer: lpack::pipeline::Prefer::Neither,
        image: ImageRequest::default(),
        limit_check: true,
        max_image_size: 10_000_000_000,
        verify_record: true,
        audit_fails: true,
        verify: VerifyMode::Skip,
        timings: false,
    }
}

#[test]
fn a_library_call_builds_a_function_zip_and_finds_it_up_to_date() {
    let dir = scratch("library-build");
    let req = request(&dir);
    let first = build(&req, &Silent).expect("build");
    assert!(first.passed());
    assert_eq!(first.artifacts.len(), 1);
    let built = &first.artifacts[0];
    assert!(!built.unchanged);
    assert!(built.output.is_file());
    assert!(built.manifest_file.is_file());
    assert_eq!(built.manifest.packages.len(), 1);
    assert_eq!(built.manifest.packages[0].name, "purelib");
    let verify = first
        .verify
        .as_ref()
        .expect("a verify step for function zips");
    assert_eq!(verify.status, "not verified (--no-verify)");
    assert!(zip_names(&built.output).contains(&"purelib/__init__.py".to_string()));

    let second = build(&req, &Silent).expect("rebuild");
    assert!(second.artifacts[0].unchanged);
    assert_eq!(
        second.artifacts[0].manifest.artifact.sha256,
        built.manifest.artifact.sha256
    );
}

#[test]
fn a_request_that_cannot_be_built_is_a_typed_error() {
    let dir = scratch("library-bad-request");
    let mut req = request(&dir);
    req.format = OutputFormat::Layer;
    req.verify = VerifyMode::Require;
    match build(&req, &Silent) {
        Err(BuildError::Request(msg)) => assert!(msg.contains("--verify checks function zips")),
        other => panic!("expected a request error, got {other:?}"),
    }
}
