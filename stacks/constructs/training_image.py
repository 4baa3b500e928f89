"""The training container's image, as SageMaker's ``TrainingImage``.

``training_image/Dockerfile`` (issue 5) becomes a CDK image asset: ``cdk deploy`` builds and
pushes it, synthesis only fingerprints the directory and needs no Docker. Until that file
exists, the image is expected in the ECR repository ``<prefix>-training`` (tag ``latest``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from constructs import Construct

IMAGE_DIR = Path(__file__).resolve().parents[2] / "training_image"


@dataclass(frozen=True)
class TrainingImage:
    image_uri: str
    repository: ecr.IRepository

    def grant_pull(self, grantee: iam.IGrantable) -> None:
        self.repository.grant_pull(grantee)


def training_image(scope: Construct, construct_id: str, *, prefix: str) -> TrainingImage:
    if (IMAGE_DIR / "Dockerfile").is_file():
        asset = ecr_assets.DockerImageAsset(
            scope,
            construct_id,
            directory=str(IMAGE_DIR),
            platform=ecr_assets.Platform.LINUX_AMD64,
            exclude=["**/__pycache__", "**/*.pyc", "tests", "build"],
        )
        return TrainingImage(asset.image_uri, asset.repository)
    repository = ecr.Repository.from_repository_name(scope, construct_id, f"{prefix}-training")
    return TrainingImage(repository.repository_uri_for_tag("latest"), repository)
