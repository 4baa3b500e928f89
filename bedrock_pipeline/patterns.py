"""Regular expressions for the names and URIs a run carries, written once.

The run document (``run_spec``), the validate and evaluation steps and the CLI check the same
values with these; pydantic ``Field(pattern=...)`` takes them as they are, and the API's request
model carries them into API Gateway's JSON Schema.
"""

from __future__ import annotations

# Step Functions execution names allow 1-80 characters; a run name also becomes an S3 key
# segment (runs/<runName>/) and, slugged, part of every job name (run_spec.names_for).
RUN_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"
# An evaluated model's name becomes an S3 key segment and a report heading: kept plain.
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
# A Bedrock model id, inference profile or model ARN (the APIs allow 2048 characters).
MODEL_ID = r"^[A-Za-z0-9][A-Za-z0-9.:/_+-]{0,2047}$"
# What Converse and InvokeModel take as ``modelId`` for a model to compare against (Bedrock API
# Reference, Converse and InvokeModel, "modelId"): a base model id (meta.llama3-1-8b-instruct-v1:0),
# an inference profile id (us.meta.llama3-1-8b-instruct-v1:0), or the ARN of a foundation model, an
# inference profile, an application inference profile, a provisioned throughput, an imported model
# or a custom model deployment. A registry architecture (container/llama3) is none of these.
INVOKABLE_MODEL_ID = (
    r"^(?:[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){1,2}(?::[a-z0-9-]{1,63}){0,2}"
    r"|arn:aws(?:-[a-z-]+)?:bedrock:[a-z0-9-]{1,20}:(?:"
    r":foundation-model/[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){1,2}(?::[a-z0-9-]{1,63}){0,2}"
    r"|[0-9]{12}:(?:inference-profile|application-inference-profile)/[a-zA-Z0-9:.-]+"
    r"|[0-9]{12}:(?:provisioned-model|imported-model|custom-model-deployment)/[a-z0-9]{12}))$"
)
# S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens (S3 "Bucket naming rules").
# A bucket, a prefix or an object: s3://bucket, s3://bucket/, s3://bucket/key.
S3_URI = r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/\S*)?$"
# An object: the key is required (s3://bucket/key).
S3_OBJECT_URI = r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/\S.*$"
# The stage's name prefix (bcp-<stage>), the head of every job and model name.
STAGE_PREFIX = r"^[a-z][a-z0-9-]{1,20}$"
