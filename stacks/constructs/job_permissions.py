"""What the job driver and the evaluation step may do, beyond their own logs and network.

Bedrock job, model and throughput ARNs end in service-generated ids, so they are matched by
type (``model-customization-job/*``); SageMaker training jobs carry our names, so they are
matched by the stage prefix. ``iam:PassRole`` names the three service roles and the one service
each may be passed to.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from stacks.constructs.grants import grant_objects
from stacks.constructs.service_roles import ServiceRoles
from stacks.constructs.storage import ProjectBuckets

# The tag every run's jobs and models carry with the stage prefix (lambdas/jobs/requests.py).
STAGE_TAG = "bcp:stage"
KEY_USE = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"]


def _bedrock(stack: Stack, resource: str, region: str | None = None) -> str:
    account = "" if resource.startswith("foundation-model") else stack.account
    return f"arn:{stack.partition}:bedrock:{region or stack.region}:{account}:{resource}"


def grant_jobs(
    grantee: iam.IGrantable,
    *,
    prefix: str,
    roles: ServiceRoles,
    buckets: ProjectBuckets,
    data_key: kms.IKey,
    model_key: kms.IKey,
) -> None:
    stack, role = Stack.of(model_key), grantee.grant_principal
    jobs, models = _bedrock(stack, "model-customization-job/*"), _bedrock(stack, "custom-model/*")
    imports, imported = _bedrock(stack, "model-import-job/*"), _bedrock(stack, "imported-model/*")
    provisioned = _bedrock(stack, "provisioned-model/*")
    statements = [
        iam.PolicyStatement(
            sid="CustomizationJobs",
            actions=[
                "bedrock:CreateModelCustomizationJob",
                "bedrock:GetModelCustomizationJob",
                "bedrock:StopModelCustomizationJob",
            ],
            resources=[jobs, models, _bedrock(stack, "foundation-model/*")],
        ),
        # CreateModelImportJob has no resource type in the Service Authorization Reference
        # (list_amazonbedrock.html): only Resource "*" matches it. Its condition keys are
        # aws:RequestTag and aws:TagKeys: every request carries the stage tag (bcp:stage, set in
        # lambdas/jobs/requests.py), and the job reads only what the passed import role may read.
        iam.PolicyStatement(
            sid="StartImportJobs",
            actions=["bedrock:CreateModelImportJob"],
            resources=["*"],
            conditions={
                "StringEquals": {
                    "aws:RequestedRegion": stack.region,
                    f"aws:RequestTag/{STAGE_TAG}": prefix,
                }
            },
        ),
        iam.PolicyStatement(
            sid="ImportJobs",
            actions=["bedrock:GetModelImportJob"],
            resources=[imports],
        ),
        # CreateProvisionedModelThroughput is authorized on the model it serves: custom-model
        # or foundation-model (Service Authorization Reference); Get/Delete on provisioned-model.
        iam.PolicyStatement(
            sid="CreateProvisionedThroughput",
            actions=["bedrock:CreateProvisionedModelThroughput"],
            resources=[models, _bedrock(stack, "foundation-model/*")],
        ),
        iam.PolicyStatement(
            sid="ProvisionedThroughput",
            actions=[
                "bedrock:GetProvisionedModelThroughput",
                "bedrock:DeleteProvisionedModelThroughput",
            ],
            resources=[provisioned],
        ),
        # Tags are set in the create calls, which Bedrock authorizes as TagResource as well.
        iam.PolicyStatement(
            sid="TagOnCreate",
            actions=["bedrock:TagResource"],
            resources=[jobs, models, imports, imported, provisioned],
        ),
        iam.PolicyStatement(
            sid="StageTrainingJobs",
            actions=[
                "sagemaker:CreateTrainingJob",
                "sagemaker:DescribeTrainingJob",
                "sagemaker:StopTrainingJob",
                "sagemaker:AddTags",
            ],
            resources=[
                f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}:training-job/{prefix}-*"
            ],
        ),
        iam.PolicyStatement(
            sid="PassBedrockRoles",
            actions=["iam:PassRole"],
            resources=[roles.customization.role_arn, roles.model_import.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}},
        ),
        iam.PolicyStatement(
            sid="PassTrainingRole",
            actions=["iam:PassRole"],
            resources=[roles.training.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
        # The requester of a job encrypted with a customer managed key must be able to use the
        # key through the service (Bedrock: "Encryption of custom models").
        iam.PolicyStatement(
            sid="ModelKeyThroughServices",
            actions=KEY_USE,
            resources=[model_key.key_arn],
            conditions={
                "StringEquals": {
                    "kms:ViaService": [
                        f"bedrock.{stack.region}.amazonaws.com",
                        f"sagemaker.{stack.region}.amazonaws.com",
                    ]
                }
            },
        ),
        # SageMaker writes the trained weights with the model key (OutputDataConfig.KmsKeyId);
        # the import-readiness check reads their config.json through S3 before the import.
        iam.PolicyStatement(
            sid="ReadTrainedWeightsKey",
            actions=["kms:Decrypt"],
            resources=[model_key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
        ),
    ]
    for statement in statements:
        role.add_to_principal_policy(statement)
    # The import-readiness check lists the weights and reads config.json.
    grant_objects(grantee, buckets.training_data, data_key, sid="ReadTrainingData")
    grant_objects(grantee, buckets.artifacts, data_key, prefix="runs/", sid="ReadRunArtifacts")


def grant_evaluate(
    grantee: iam.IGrantable, *, buckets: ProjectBuckets, data_key: kms.IKey, model_key: kms.IKey
) -> None:
    stack, role = Stack.of(model_key), grantee.grant_principal
    grant_objects(grantee, buckets.training_data, data_key, sid="ReadTestData")
    grant_objects(
        grantee, buckets.artifacts, data_key, prefix="runs/", write=True, sid="RunArtifacts"
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="InvokeBaseAndCustomModels",
            # Converse is authorized as InvokeModel, on every form evaluation.baseModelId and
            # the comparison models may take (patterns.INVOKABLE_MODEL_ID): a cross-region
            # inference profile needs its profile here and the foundation model in each
            # destination region (Bedrock User Guide, cross-region inference prerequisites).
            actions=["bedrock:InvokeModel"],
            resources=[
                _bedrock(stack, "foundation-model/*", region="*"),
                _bedrock(stack, "inference-profile/*"),
                _bedrock(stack, "application-inference-profile/*"),
                _bedrock(stack, "provisioned-model/*"),
                _bedrock(stack, "imported-model/*"),
                _bedrock(stack, "custom-model-deployment/*"),
            ],
        )
    )
    # Invoking a custom or imported model encrypted with a customer managed key needs
    # kms:Decrypt and kms:GenerateDataKey through Bedrock (Bedrock User Guide, "Encryption of
    # custom models": the PermissionsModelInvocation statement).
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ModelKeyThroughBedrock",
            actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            resources=[model_key.key_arn],
            conditions={
                "StringEquals": {"kms:ViaService": f"bedrock.{stack.region}.amazonaws.com"}
            },
        )
    )
