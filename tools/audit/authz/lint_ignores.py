"""The one table of parliament findings that are accepted, each with its reason.

``false_positive``: the linter is wrong about what AWS does (the reason names the AWS page);
otherwise the finding is true and kept on purpose. ``match`` is a regular expression searched in
``<logical id>:<property>:<detail>``; ``types`` the CloudFormation types it applies to.
"""

from __future__ import annotations

from dataclasses import dataclass

IDENTITY = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role")


@dataclass(frozen=True)
class Ignore:
    issue: str
    types: tuple[str, ...]
    match: str
    reason: str
    false_positive: bool


KEY = ("AWS::KMS::Key",)
BUCKET_POLICY = ("AWS::S3::BucketPolicy",)

IGNORES: list[Ignore] = [
    # -- the linter is wrong --------------------------------------------------------------
    Ignore(
        "MALFORMED",
        ("AWS::IAM::Role",),
        r":AssumeRolePolicyDocument:.*neither Resource nor NotResource",
        "A role trust policy has no Resource element: the role is the resource (IAM User "
        "Guide, reference_policies_elements_resource.html).",
        True,
    ),
    Ignore(
        "RESOURCE_STAR",
        KEY,
        r"",
        'In a key policy, "Resource": "*" means the key the policy is attached to (KMS '
        "Developer Guide, key-policy-overview.html).",
        True,
    ),
    Ignore(
        "MISMATCHED_TYPE",
        KEY,
        r"ArnLike requires a value of type Arn but given String",
        "Encryption-context values that are ARNs are compared with ArnLike in AWS's own key "
        "policies: kms:EncryptionContext:aws:logs:arn (CloudWatch Logs User Guide, "
        "encrypt-log-data-kms.html) and aws:sqs:arn (SQS Developer Guide, "
        "sqs-server-side-encryption.html).",
        True,
    ),
    Ignore(
        "MISMATCHED_TYPE",
        IDENTITY,
        r"ArnEquals requires a value of type Arn but given String",
        "AWS's documented policy for Bedrock jobs in a VPC compares the job-ARN request and "
        "resource tags with ArnEquals (Bedrock User Guide, vpc-model-customization.html).",
        True,
    ),
    Ignore(
        "RESOURCE_MISMATCH",
        IDENTITY,
        r'"action": "(states:ListExecutions|states:DescribeExecution|bedrock:InvokeModel|'
        r'ec2:CreateNetworkInterface)"',
        "parliament wants every resource type of an action in one statement; IAM authorizes a "
        "request on the resources it names (Service Authorization Reference: DescribeExecution "
        "on an execution or an express execution, InvokeModel on one of its model types), and "
        "CreateNetworkInterface's subnet, security-group and network-interface resources are "
        "split over statements by their conditions on purpose (Bedrock User Guide, "
        "vpc-model-customization.html).",
        True,
    ),
    Ignore(
        "RESOURCE_MISMATCH",
        ("AWS::EC2::VPCEndpoint",),
        r'"action": "s3:GetObjectAttributes"',
        "The gateway endpoint policy names buckets and objects only; access points are not "
        "used, and GetObjectAttributes is authorized on the object (Service Authorization "
        "Reference, list_amazons3.html).",
        True,
    ),
    Ignore(
        "MISMATCHED_TYPE",
        BUCKET_POLICY,
        r"s3:TlsVersion requires a value of type Numeric",
        "s3:TlsVersion is numeric and 1.2 is AWS's own example value (S3 User Guide, "
        "amazon-s3-policy-keys.html, example-object-tls-version).",
        True,
    ),
    Ignore(
        "UNKNOWN_CONDITION_FOR_ACTION",
        BUCKET_POLICY,
        r"Unknown condition aws:ViaAWSService",
        "aws:ViaAWSService is a global condition key, present in every request (IAM User "
        "Guide, reference_policies_condition-keys.html); parliament lists keys per action.",
        True,
    ),
    # -- true findings, kept on purpose ---------------------------------------------------
    Ignore(
        "UNKNOWN_CONDITION_FOR_ACTION",
        BUCKET_POLICY,
        r"Unknown condition s3:TlsVersion",
        "The TLS Deny covers s3:*; the few actions without s3:TlsVersion are account and "
        "access-point operations that these bucket ARNs never authorize (Service "
        "Authorization Reference, list_amazons3.html, condition keys per action).",
        False,
    ),
    Ignore(
        "UNKNOWN_CONDITION_FOR_ACTION",
        KEY,
        r"Unknown condition kms:EncryptionContext:aws:logs:arn",
        "AWS's documented CloudWatch Logs key statement (encrypt-log-data-kms.html) grants "
        "kms:Describe* under the encryption-context condition; DescribeKey carries no context, "
        "so that part never matches, and CloudWatch Logs does not need it.",
        False,
    ),
    Ignore(
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        KEY,
        r"kms:putkeypolicy",
        "Key administration stays with the account so IAM policies of its administrators can "
        "manage the key; without it the key becomes unmanageable (KMS Developer Guide, "
        "key-policy-default.html).",
        False,
    ),
    Ignore(
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        IDENTITY,
        r'"actions": \["(ec2:createnetworkinterfacepermission|iam:passrole)", "kms:creategrant"\]',
        "Bedrock and SageMaker jobs in a VPC create ENI permissions in the stage's subnets, and "
        "the job roles create grants on the model key only through bedrock/sagemaker "
        "(kms:ViaService; Bedrock User Guide, vpc-model-customization.html and "
        "encryption-custom-job.html); the jobs role passes exactly the three service roles "
        "(iam:PassedToService).",
        False,
    ),
    Ignore(
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        IDENTITY,
        r'"actions": \["logs:putresourcepolicy"\]',
        "Step Functions logging to CloudWatch Logs needs logs:PutResourcePolicy on * (Step "
        "Functions Developer Guide, cw-logs.html).",
        False,
    ),
    Ignore(
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        ("AWS::EC2::VPCEndpoint",),
        r'"actions": \["s3:putobjectacl", "s3:putobjectversionacl"\]',
        "The S3 gateway endpoint admits this account's principals to s3:PutObject*; every "
        "bucket has ACLs disabled (ObjectOwnership BucketOwnerEnforced), so an ACL cannot "
        "grant access (S3 User Guide, about-object-ownership.html).",
        False,
    ),
    Ignore(
        "CREDENTIALS_EXPOSURE",
        IDENTITY,
        r"ecr:getauthorizationtoken",
        "The SageMaker training role pulls the training image from ECR; GetAuthorizationToken "
        "has no resource type (SageMaker Developer Guide, sagemaker-roles.html).",
        False,
    ),
    # -- interface endpoint policies (after the S3 gateway rows: the first matching row wins) --
    *(
        Ignore(
            issue,
            ("AWS::EC2::VPCEndpoint",),
            r"",
            "An endpoint policy grants nothing: it narrows what may pass through one service's "
            "endpoint, here to this account's principals; parliament reads its action list (linted "
            "as <service>:*, lint.py) as an identity grant of every action of that service (AWS "
            "PrivateLink Guide, vpc-endpoints-access.html).",
            True,
        )
        for issue in (
            "RESOURCE_STAR",
            "CREDENTIALS_EXPOSURE",
            "PERMISSIONS_MANAGEMENT_ACTIONS",
        )
    ),
]
