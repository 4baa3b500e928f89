"""Customer managed KMS keys: one for data (buckets, logs, queues, topics), one for models.

Key policies give the account root only key *administration*. Cryptographic use is admitted in
two ways only: AWS services acting for the project's roles (``kms:ViaService`` plus a principal
ARN that matches the project's role prefix or a listed admin), and the few service principals that
must encrypt on their own (CloudWatch Logs, S3 log delivery, alarm and event publishers), each
bound to this account. Role ARNs are matched by name prefix rather than referenced, so the stateful
stack never depends on the stateless one (the dependency cycle CDK's Bedrock task creates when one
key serves the bucket and the custom model).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.constructs.secure_defaults import bootstrap_deployment_roles

ADMIN_ACTIONS = [
    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
    "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
    "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
]  # fmt: skip
USE_ACTIONS = [
    "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey",
]  # fmt: skip

# Services allowed to use each key on behalf of the project's roles.
DATA_KEY_SERVICES = ("s3", "lambda", "sqs", "sns", "states", "sagemaker", "bedrock")
MODEL_KEY_SERVICES = ("bedrock", "sagemaker", "s3")


def project_principal_patterns(stack: Stack, prefix: str, admins: tuple[str, ...]) -> list[str]:
    """Principal ARN patterns allowed to use the keys and data: the project's roles (every role the
    app creates is named after its stack, which starts with the prefix), CDK's deploy and
    CloudFormation execution roles by exact name (they create the encrypted resources), and the
    stage's admins."""
    return [
        f"arn:{stack.partition}:iam::{stack.account}:role/{prefix}-*",
        *bootstrap_deployment_roles(stack),
        *admins,
    ]


class ProjectKeys(Construct):
    """The data key and the model key. Construct ids never change: keys are stateful."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        admin_principal_arns: tuple[str, ...],
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        principals = project_principal_patterns(stack, prefix, admin_principal_arns)
        self.data_key = self._key(
            "DataKey",
            alias=f"alias/{prefix}/data",
            description="Training data, artifacts, logs, queues and topics of the pipeline",
            services=DATA_KEY_SERVICES,
            principals=principals,
            removal_policy=removal_policy,
        )
        self._allow_log_and_alarm_services(self.data_key)
        self.model_key = self._key(
            "ModelKey",
            alias=f"alias/{prefix}/models",
            description="Custom and imported models (customModelKmsKeyId / importedModelKmsKeyId)",
            services=MODEL_KEY_SERVICES,
            principals=principals,
            removal_policy=removal_policy,
        )

    def _key(
        self,
        construct_id: str,
        *,
        alias: str,
        description: str,
        services: tuple[str, ...],
        principals: list[str],
        removal_policy: RemovalPolicy,
    ) -> kms.Key:
        stack = Stack.of(self)
        policy = iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="KeyAdministration",
                    principals=[iam.AccountRootPrincipal()],
                    actions=ADMIN_ACTIONS,
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="UseThroughAwsServicesByProjectPrincipals",
                    principals=[iam.AccountRootPrincipal()],
                    actions=[*USE_ACTIONS, "kms:CreateGrant"],
                    resources=["*"],
                    conditions={
                        "StringEquals": {
                            "kms:CallerAccount": stack.account,
                            "kms:ViaService": [
                                f"{svc}.{stack.region}.amazonaws.com" for svc in services
                            ],
                        },
                        "ArnLike": {"aws:PrincipalArn": principals},
                    },
                ),
            ]
        )
        return kms.Key(
            self,
            construct_id,
            alias=alias,
            description=description,
            enable_key_rotation=True,
            rotation_period=Duration.days(365),
            pending_window=Duration.days(30),
            policy=policy,
            removal_policy=removal_policy,
        )

    def _allow_log_and_alarm_services(self, key: kms.Key) -> None:
        stack = Stack.of(self)
        # Step Functions logs of a state machine whose history is under this key are delivered
        # by CloudWatch Logs' vended-log delivery, which decrypts them (Step Functions Developer
        # Guide, "Data at rest encryption": logging with a customer managed key).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="LogDeliveryOfThisAccount",
                principals=[iam.ServicePrincipal("delivery.logs.amazonaws.com")],
                actions=["kms:Decrypt"],
                resources=["*"],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:logs:{stack.region}:"
                        f"{stack.account}:*"
                    },
                },
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsEncryptProjectLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=USE_ACTIONS,
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"
                        )
                    }
                },
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="PublishersAndLogDeliveryOfThisAccount",
                principals=[
                    iam.ServicePrincipal("logging.s3.amazonaws.com"),
                    iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                    iam.ServicePrincipal("events.amazonaws.com"),
                    # SNS moves undeliverable notifications into a KMS-encrypted dead-letter queue.
                    iam.ServicePrincipal("sns.amazonaws.com"),
                ],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
