"""AWS errors a user fixes in their environment (credentials, permissions, a wrong bucket or
key), said in one line with what to do. Everything else is not recognized (None)."""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    TokenRetrievalError,
)

_CODES = {
    "AccessDenied": "access denied: the caller needs s3:GetObject / s3:ListBucket on it "
    "(and kms:Decrypt for SSE-KMS objects)",
    "403": "access denied: the caller needs s3:GetObject / s3:ListBucket on it "
    "(and kms:Decrypt for SSE-KMS objects)",
    "NoSuchBucket": "no such bucket: check the bucket name in the URI",
    "NoSuchKey": "no such object: check the key in the URI",
    "404": "no such object (or bucket): check the URI",
    "ExpiredToken": "the AWS session token has expired: refresh it (aws sso login, or new "
    "temporary credentials)",
    "ExpiredTokenException": "the AWS session token has expired: refresh it (aws sso login, or "
    "new temporary credentials)",
    "InvalidAccessKeyId": "the AWS access key id is not valid: check the credentials in use",
    "SignatureDoesNotMatch": "the AWS secret key does not match the key id: check the credentials",
    "InvalidToken": "the AWS session token is not valid: refresh the credentials",
}


def environment_problem(exc: BaseException) -> str | None:
    """One line for an environment/access error, or None when `exc` is something else."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (
            "no AWS credentials found: run `aws configure` or `aws sso login`, or set "
            "AWS_PROFILE / AWS_ACCESS_KEY_ID"
        )
    if isinstance(exc, ProfileNotFound):
        return f"{exc}: check --profile / AWS_PROFILE against ~/.aws/config"
    if isinstance(exc, TokenRetrievalError):
        return "the SSO session has expired: run `aws sso login`"
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region or set AWS_REGION"
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach AWS ({exc.kwargs.get('endpoint_url', 'endpoint')}): check the network"
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        return _CODES.get(code)
    return None
