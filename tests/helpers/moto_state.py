"""What an AWS endpoint (moto's server, in the tests) holds, read with boto3 — an independent
reader of what `lpack bench --backend aws` created and deleted.

  moto_state.py URL setup          create the execution role and the test bucket; print the role ARN
  moto_state.py URL state [RUN_ID] print JSON: functions (with tags and versions), layer versions,
                                   ECR repositories (with tags), S3 objects; only RUN_ID's if given
"""
import json
import sys

import boto3

url, cmd = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=url, region_name="us-east-1",
          aws_access_key_id="testing", aws_secret_access_key="testing")
BUCKET = "lpack-bench-test"

if cmd == "setup":
    iam = boto3.client("iam", **kw)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
              "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    try:
        role = iam.create_role(RoleName="lpack-bench-test", AssumeRolePolicyDocument=json.dumps(policy))["Role"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName="lpack-bench-test")["Role"]
    s3 = boto3.client("s3", **kw)
    try:
        s3.create_bucket(Bucket=BUCKET)
    except Exception:
        pass
    print(role["Arn"])
    sys.exit(0)

run = sys.argv[3] if len(sys.argv) > 3 else None
lam = boto3.client("lambda", **kw)
out = {"functions": [], "layers": [], "repositories": [], "objects": []}
for f in lam.list_functions(FunctionVersion="ALL")["Functions"]:
    try:
        tags = lam.list_tags(Resource=f["FunctionArn"].rsplit(":", 1)[0] if f["Version"] != "$LATEST" else f["FunctionArn"]).get("Tags", {})
    except lam.exceptions.ResourceNotFoundException:
        # Deleted since the listing (another test's clean-up runs against the same server).
        continue
    if run is None or tags.get("lpack-bench") == run:
        fn = {"name": f["FunctionName"], "version": f["Version"], "tags": tags,
              "memory": f["MemorySize"], "package_type": f.get("PackageType"),
              "layers": [l["Arn"] for l in f.get("Layers", [])],
              "env": f.get("Environment", {}).get("Variables", {})}
        if f.get("PackageType") == "Image":
            try:
                fn["image_uri"] = lam.get_function(FunctionName=f["FunctionName"])["Code"].get("ImageUri")
            except lam.exceptions.ResourceNotFoundException:
                continue
        out["functions"].append(fn)
for l in lam.list_layers()["Layers"]:
    try:
        versions = lam.list_layer_versions(LayerName=l["LayerName"])["LayerVersions"]
    except lam.exceptions.ResourceNotFoundException:
        continue  # deleted since the listing
    for v in versions:
        if run is None or run in l["LayerName"] or run in v.get("Description", ""):
            out["layers"].append({"name": l["LayerName"], "version": v["Version"],
                                  "description": v.get("Description", "")})
ecr = boto3.client("ecr", **kw)
for r in ecr.describe_repositories()["repositories"]:
    try:
        tags = {t["Key"]: t["Value"] for t in ecr.list_tags_for_resource(resourceArn=r["repositoryArn"])["tags"]}
    except ecr.exceptions.RepositoryNotFoundException:
        continue  # deleted since the listing (another test's clean-up)
    if run is None or tags.get("lpack-bench") == run:
        out["repositories"].append({"name": r["repositoryName"], "tags": tags})
s3 = boto3.client("s3", **kw)
for b in s3.list_buckets()["Buckets"]:
    try:
        objects = s3.list_objects_v2(Bucket=b["Name"]).get("Contents", [])
    except s3.exceptions.NoSuchBucket:
        continue  # deleted since the listing
    for o in objects:
        if run is None or run in o["Key"]:
            out["objects"].append(b["Name"] + "/" + o["Key"])
print(json.dumps(out, indent=1))
