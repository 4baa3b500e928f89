"""The training container's image, as SageMaker's ``TrainingImage``.

``training_image/Dockerfile`` is a CDK image asset: ``cdk deploy`` builds and pushes it,
synthesis only stages and fingerprints the build context and needs no Docker. The context is
the repository root (the image needs ``bedrock_pipeline`` beside ``training_image``); the root
``.dockerignore`` is an allow-list, which CDK applies when it stages the context and Docker
applies again when it builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import IgnoreMode
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from constructs import Construct

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = "training_image/Dockerfile"


@dataclass(frozen=True)
class TrainingImage:
    image_uri: str
    repository: ecr.IRepository

    def grant_pull(self, grantee: iam.IGrantable) -> None:
        self.repository.grant_pull(grantee)


def training_image(scope: Construct, construct_id: str) -> TrainingImage:
    asset = ecr_assets.DockerImageAsset(
        scope,
        construct_id,
        directory=str(ROOT),
        file=DOCKERFILE,
        ignore_mode=IgnoreMode.DOCKER,
        platform=ecr_assets.Platform.LINUX_AMD64,
    )
    return TrainingImage(asset.image_uri, asset.repository)
