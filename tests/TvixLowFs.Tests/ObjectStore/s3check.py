#!/usr/bin/env python3
"""The independent S3 client of the object-store tests (boto3, Debian's python3-boto3).

  s3check.py create BUCKET          create a bucket
  s3check.py keys BUCKET [PREFIX]   print every key below PREFIX, one a line, with its size
  s3check.py get BUCKET KEY FILE    write the object's bytes to FILE
  s3check.py put BUCKET KEY FILE    store FILE's bytes as the object

Endpoint and keys come from S3CHECK_ENDPOINT, S3CHECK_ACCESS_KEY and S3CHECK_SECRET_KEY.
"""
import os
import sys

import boto3
from botocore.config import Config


def client():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["S3CHECK_ENDPOINT"],
        aws_access_key_id=os.environ["S3CHECK_ACCESS_KEY"],
        aws_secret_access_key=os.environ["S3CHECK_SECRET_KEY"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
    )


def main(argv):
    command, bucket, *rest = argv
    s3 = client()
    if command == "create":
        s3.create_bucket(Bucket=bucket)
    elif command == "keys":
        prefix = rest[0] if rest else ""
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                print(f"{entry['Key']} {entry['Size']}")
    elif command == "get":
        key, path = rest
        with open(path, "wb") as output:
            output.write(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    elif command == "put":
        key, path = rest
        with open(path, "rb") as data:
            s3.put_object(Bucket=bucket, Key=key, Body=data.read())
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
