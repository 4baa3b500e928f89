"""Helpers of the security gate tests (data, fakes, typed handles); the fixtures that use
them live in tests/security/conftest.py."""

from __future__ import annotations

from typing import Any

CANARY = "canary.template.json"


def canary_template() -> dict[str, Any]:
    """A bucket with no encryption, logging or public-access block (checkov fails), one checkov
    skip without a reason (blocking), and a property cfn-lint rejects (an error)."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "OpenBucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
            "UnreasonedSkip": {
                "Type": "AWS::SQS::Queue",
                "Metadata": {"checkov": {"skip": [{"id": "CKV_AWS_27"}]}},
                "Properties": {"NoSuchProperty": True},
            },
        },
    }
