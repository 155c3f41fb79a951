"""moto's server for `--with-layer ARN` tests, and the calls that set up its layers.

    moto_layers.py serve PORT
    moto_layers.py publish URL ZIP NAME RUNTIME ARCH   -> prints the layer version ARN
    moto_layers.py put URL BUCKET KEY FILE             -> replaces an S3 object

moto answers GetLayerVersion with `Content.Location: "s3://"`, a placeholder; AWS answers with
a pre-signed HTTPS URL of the zip in S3. So that lpack can do what it does on AWS (GET that URL,
then check the bytes against `Content.CodeSha256`), `serve` starts moto with one change: for a
layer published from S3 (S3Bucket/S3Key, as the tests publish), Location is a pre-signed URL
(boto3's, with the test's fake key) of that object in moto's own S3 on this server. Everything else is moto unchanged: CodeSha256
is what moto computed from the object when the layer was published.
"""

import sys


def serve(port):
    from moto.awslambda import models

    endpoint = f"http://127.0.0.1:{port}"
    original = models.LayerVersion.get_layer_version

    def get_layer_version(self):
        out = original(self)
        c = self.content
        if "S3Bucket" in c and "S3Key" in c:
            out["Content"]["Location"] = client(endpoint, "s3").generate_presigned_url(
                "get_object",
                Params={"Bucket": c["S3Bucket"], "Key": c["S3Key"]},
                ExpiresIn=600,
            )
        return out

    models.LayerVersion.get_layer_version = get_layer_version
    from moto.server import main

    main(["-H", "127.0.0.1", "-p", str(port)])


def client(url, service):
    import boto3

    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def publish(url, zip_path, name, runtime, arch):
    s3 = client(url, "s3")
    bucket = "lpack-layers"
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    key = f"{name}.zip"
    with open(zip_path, "rb") as f:
        s3.put_object(Bucket=bucket, Key=key, Body=f.read())
    out = client(url, "lambda").publish_layer_version(
        LayerName=name,
        Content={"S3Bucket": bucket, "S3Key": key},
        CompatibleRuntimes=[runtime],
        CompatibleArchitectures=[arch],
    )
    print(out["LayerVersionArn"])


def put(url, bucket, key, path):
    with open(path, "rb") as f:
        client(url, "s3").put_object(Bucket=bucket, Key=key, Body=f.read())


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"serve": serve, "publish": publish, "put": put}[cmd](*args)
