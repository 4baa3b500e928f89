"""Reads a synthesized cloud assembly from disk: templates, construct paths and acknowledgments.

cdk-nag 3 filters acknowledged findings itself, so ``validation-report.json`` never lists them;
what was acknowledged lives in each stack's ``<stack>.metadata.json`` as
``aws:cdk:acknowledged-rules`` entries keyed by construct path. Reading the assembly (not the app
objects) keeps the audit about what is deployed, and lets tests and ``make audit`` share it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACK_METADATA = "aws:cdk:acknowledged-rules"
LOGICAL_ID_METADATA = "aws:cdk:logicalId"
# Rule-id prefixes of the registered packs, and the namespace CDK gives its built-in validator.
PACK_PREFIXES = {
    "AwsSolutions-": "AwsSolutions",
    "HIPAA.Security-": "HIPAA Security",
    "NIST.800.53.R5-": "NIST 800-53 R5",
    "PCI.DSS.321-": "PCI DSS 3.2.1",
    "Serverless-": "Serverless",
}
CFN_VALIDATE_NAMESPACE = "CloudFormation-Validate"


@dataclass(frozen=True)
class Acknowledgment:
    """One acknowledged rule on one construct (and so on every resource below it)."""

    stack: str
    pack: str
    rule: str  # as acknowledged, e.g. "AwsSolutions-IAM5[Resource::*]"
    construct_path: str
    resources: tuple[str, ...]  # logical ids at or below the construct path
    reason: str

    @property
    def base_rule(self) -> str:
        return self.rule.split("[", 1)[0]

    @property
    def finding(self) -> str | None:
        """The granular finding id inside ``[...]``, when the acknowledgment names one."""
        return self.rule[len(self.base_rule) + 1 : -1] if "[" in self.rule else None


def pack_of(rule: str, namespace: str | None = None) -> str:
    if namespace == CFN_VALIDATE_NAMESPACE:
        return "CloudFormation Validate (CDK built-in)"
    if rule.startswith("@aws-cdk/"):
        return "CDK synthesis warning"
    for prefix, pack in PACK_PREFIXES.items():
        if rule.startswith(prefix):
            return pack
    return namespace or "unknown"


@dataclass
class StackArtifact:
    name: str
    template_path: Path
    template: dict[str, Any]
    # construct path -> logical id, for every CloudFormation element of the stack
    logical_ids: dict[str, str] = field(default_factory=dict)
    # construct path -> {rule id (without namespace): (namespace, reason)}
    acknowledged: dict[str, dict[str, tuple[str | None, str]]] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template.get("Resources", {})
        return resources

    def path_of(self, logical_id: str) -> str | None:
        for path, lid in self.logical_ids.items():
            if lid == logical_id:
                return path
        return None

    def resources_under(self, construct_path: str) -> tuple[str, ...]:
        prefix = construct_path.rstrip("/") + "/"
        return tuple(
            lid
            for path, lid in self.logical_ids.items()
            if (path == construct_path or path.startswith(prefix)) and lid in self.resources
        )

    def acknowledgment_for(self, logical_id: str, rule: str) -> Acknowledgment | None:
        """The acknowledgment of ``rule`` on the resource or any construct above it, as cdk-nag
        looks it up (``NagPack.isAcknowledged``)."""
        path = self.path_of(logical_id)
        while path:
            entry = self.acknowledged.get(path, {}).get(rule)
            if entry is not None:
                namespace, reason = entry
                return Acknowledgment(
                    self.name,
                    pack_of(rule, namespace),
                    rule,
                    path,
                    self.resources_under(path),
                    reason,
                )
            path = path.rsplit("/", 1)[0] if "/" in path.strip("/") else ""
        return None

    def acknowledgments(self) -> Iterator[Acknowledgment]:
        for path, rules in sorted(self.acknowledged.items()):
            for rule, (namespace, reason) in sorted(rules.items()):
                yield Acknowledgment(
                    self.name,
                    pack_of(rule, namespace),
                    rule,
                    path,
                    self.resources_under(path),
                    reason,
                )


@dataclass
class CloudAssembly:
    outdir: Path
    stacks: dict[str, StackArtifact]
    validation_report: dict[str, Any] | None

    def exports(self) -> dict[str, tuple[str, Any]]:
        """Export name -> (exporting stack, exported value), to follow Fn::ImportValue."""
        found: dict[str, tuple[str, Any]] = {}
        for stack in self.stacks.values():
            for output in stack.template.get("Outputs", {}).values():
                name = output.get("Export", {}).get("Name")
                if isinstance(name, str):
                    found[name] = (stack.name, output.get("Value"))
        return found


def _split_namespace(key: str) -> tuple[str | None, str]:
    namespace, sep, rule = key.partition("::")
    if not sep:
        return None, key
    return (None if namespace.lower() == "annotation" else namespace), rule


def load_assembly(outdir: Path) -> CloudAssembly:
    stacks: dict[str, StackArtifact] = {}
    for template_path in sorted(outdir.glob("*.template.json")):
        name = template_path.name.removesuffix(".template.json")
        artifact = StackArtifact(name, template_path, json.loads(template_path.read_text()))
        metadata_path = outdir / f"{name}.metadata.json"
        if metadata_path.is_file():
            for path, entries in json.loads(metadata_path.read_text()).items():
                for entry in entries:
                    if entry.get("type") == LOGICAL_ID_METADATA:
                        artifact.logical_ids[path] = entry["data"]
                    elif entry.get("type") == ACK_METADATA:
                        rules = artifact.acknowledged.setdefault(path, {})
                        for key, reason in entry["data"].items():
                            namespace, rule = _split_namespace(key)
                            rules[rule] = (namespace, str(reason))
        stacks[name] = artifact
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else None
    return CloudAssembly(outdir=outdir, stacks=stacks, validation_report=report)
