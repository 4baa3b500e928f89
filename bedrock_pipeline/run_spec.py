"""The run document: one JSON object that asks for one customization run.

The API validates requests against ``api_gateway_schema()``, the workflow's first state parses
the same document with ``parse_run_spec`` and every later state reads the normalized copy
(``RunSpec.workflow_input()``), so the shape lives here and nowhere else.

``runName`` is the idempotency key: the Step Functions execution name, every job name and every
``clientRequestToken`` derive from it deterministically (``names_for``), so starting the same
run twice reaches the same execution and the same jobs, never a second one.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.alias_generators import to_camel

from bedrock_pipeline.model_spec import CustomizationType, Trainer
from bedrock_pipeline.patterns import INVOKABLE_MODEL_ID, MODEL_ID, MODEL_NAME, RUN_NAME, S3_URI
from bedrock_pipeline.promotion import DecisionMetric

# Step Functions execution names: 1-80 characters; CloudWatch Logs (logging ALL) only accepts
# these characters. A run name is one of them already, or gets a digest suffix (_slug).
EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
TAG_KEY = r"^[A-Za-z0-9 _.:/=+@-]{1,128}$"
# SageMaker instance types of the training container (ml.g5.2xlarge, ml.p4d.24xlarge, ...).
INSTANCE_TYPE = r"^ml\.[a-z0-9]+\.[a-z0-9]+$"
# Tags the workflow sets itself; a request must not override them.
RESERVED_TAG_PREFIXES = ("aws:", "bcp:")

# Job kinds: one suffix each, so the names of a run's jobs never collide.
JOB_SUFFIXES: dict[str, str] = {
    "customization": "ft",
    "training": "train",
    "import": "import",
    "throughput": "pt",
}


class RunSpecError(ValueError):
    """A run document that cannot run; ``field`` is the dotted JSON path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.field, self.message))


class _Doc(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


HyperParameters = dict[
    Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")], str | int | float
]


class ContainerSettings(_Doc):
    """``trainer=container``: our training image on SageMaker, then Custom Model Import."""

    instance_type: Annotated[str, Field(pattern=INSTANCE_TYPE)] = "ml.g5.2xlarge"
    instance_count: Annotated[int, Field(ge=1, le=16)] = 1
    # Network isolation: the container cannot download weights, so they come from S3.
    base_weights_uri: Annotated[str, Field(pattern=S3_URI)]
    method: Literal["lora", "full"] = "lora"
    hyper_parameters: HyperParameters = Field(default_factory=dict)
    volume_size_gb: Annotated[int, Field(ge=1, le=16384)] = 100
    # SageMaker's MaxRuntimeInSeconds limit is 28 days.
    max_runtime_s: Annotated[int, Field(ge=60, le=28 * 86400)] = 86400
    use_spot: bool = False
    # Managed spot: total time including waiting for capacity; must be >= maxRuntimeS.
    max_wait_s: Annotated[int | None, Field(ge=60, le=28 * 86400)] = None

    @model_validator(mode="after")
    def _spot(self) -> ContainerSettings:
        if self.max_wait_s is not None and not self.use_spot:
            raise RunSpecError("container.maxWaitS", "applies only with useSpot=true")
        if self.use_spot and (self.max_wait_s or self.max_runtime_s) < self.max_runtime_s:
            raise RunSpecError(
                "container.maxWaitS",
                f"must be >= container.maxRuntimeS ({self.max_runtime_s}) for managed spot",
            )
        return self


class ProvisionedThroughput(_Doc):
    # No-commitment throughput only: a commitment term cannot be deleted after evaluation.
    model_units: Annotated[int, Field(ge=1, le=100)] = 1
    delete_after_evaluation: bool = True


class EvaluatedModel(_Doc):
    name: Annotated[str, Field(pattern=MODEL_NAME)]
    model_id: Annotated[str, Field(pattern=MODEL_ID)]
    api: Literal["auto", "converse", "invoke"] = "converse"


class Inference(_Doc):
    # Temperature 0 by default: an evaluation must be repeatable.
    max_tokens: Annotated[int, Field(ge=1, le=8192)] = 512
    temperature: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0


def _invokable(value: object) -> object:
    if isinstance(value, str) and not re.fullmatch(INVOKABLE_MODEL_ID, value):
        raise RunSpecError(
            "evaluation.baseModelId",
            f"{value!r} is not a model Bedrock Runtime can invoke; give a base model id "
            "(meta.llama3-1-8b-instruct-v1:0), an inference profile id "
            "(us.meta.llama3-1-8b-instruct-v1:0) or the ARN of a foundation model, inference "
            "profile, provisioned throughput, imported model or custom model deployment (a "
            "Bedrock custom model is invoked through its provisioned throughput or deployment)",
        )
    if isinstance(value, str) and inference_model_id(value) != value:
        raise RunSpecError(
            "evaluation.baseModelId",
            f"{value!r} is a customization id (its context-length suffix is not invokable); "
            f"give its on-demand id {inference_model_id(value)!r} or an inference profile",
        )
    return value


class Evaluation(_Doc):
    """Held-out comparison of base and custom model. Field names are the evaluation step's
    configuration keys: the workflow merges this object with the run's model ids unchanged.

    ``base_model_id`` is the Bedrock model the custom model is compared against (Converse
    ``modelId``); trainer=bedrock: absent means the run's own base model."""

    test_data_uri: Annotated[str, Field(pattern=S3_URI)]
    base_model_id: Annotated[
        str | None,
        Field(pattern=INVOKABLE_MODEL_ID, max_length=2048),
        BeforeValidator(_invokable),
    ] = None
    comparison_models: Annotated[tuple[EvaluatedModel, ...], Field(max_length=4)] = ()
    few_shot_count: Annotated[int, Field(ge=0, le=20)] = 0
    few_shot_uri: Annotated[str | None, Field(pattern=S3_URI)] = None
    inference: Inference = Inference()
    batch_size: Annotated[int, Field(ge=1, le=1000)] = 50
    concurrency: Annotated[int, Field(ge=1, le=32)] = 4
    # The metric the promotion gate compares; absent: the stage's decision_metric.
    decision_metric: DecisionMetric | None = None


# CreateModelCustomizationJob, RequestMetadataFilters (botocore's bedrock service model): keys
# 1-256 and values 0-256 of these characters; one pair per equals/notEquals; 1-16 filters in
# andAll/orAll; the source is an S3 prefix of these characters.
METADATA_KEY = r"^[a-zA-Z0-9\s._:/=+$@-]{1,256}$"
METADATA_VALUE = r"^[a-zA-Z0-9\s._:/=+$@-]{0,256}$"
LOG_SOURCE_URI = (
    r"^s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?$"
)
MetadataPair = Annotated[
    dict[
        Annotated[str, Field(pattern=METADATA_KEY)], Annotated[str, Field(pattern=METADATA_VALUE)]
    ],
    Field(min_length=1, max_length=1),
]


class RequestMetadataBaseFilters(_Doc):
    """One of: the request metadata holds this pair (`equals`) or does not (`notEquals`)."""

    equals: MetadataPair | None = None
    not_equals: MetadataPair | None = None

    @model_validator(mode="after")
    def _union(self) -> RequestMetadataBaseFilters:
        _one_of(self, "invocationLogsConfig.requestMetadataFilters")
        return self


class RequestMetadataFilters(RequestMetadataBaseFilters):
    """A union (exactly one member), as in the API: a pair, or all/any of 1-16 pair filters."""

    and_all: (
        Annotated[tuple[RequestMetadataBaseFilters, ...], Field(min_length=1, max_length=16)] | None
    ) = None
    or_all: (
        Annotated[tuple[RequestMetadataBaseFilters, ...], Field(min_length=1, max_length=16)] | None
    ) = None


def _one_of(union: _Doc, where: str) -> None:
    given = [name for name, value in union if value is not None]
    if len(given) != 1:
        allowed = ", ".join(to_camel(n) for n in type(union).model_fields)
        raise RunSpecError(where, f"give exactly one of {allowed} (got {len(given)})")


class InvocationLogSource(_Doc):
    s3_uri: Annotated[str, Field(pattern=LOG_SOURCE_URI)]


class InvocationLogsConfig(_Doc):
    """Distillation from model invocation logs (distillation-data-prep-option-2.html): the S3
    prefix the logs are delivered to, whether the logged responses are the training answers
    (`usePromptResponse`; else the teacher writes them), and which logs to use."""

    invocation_log_source: InvocationLogSource
    use_prompt_response: bool = False
    request_metadata_filters: RequestMetadataFilters | None = None


class RunSpec(_Doc):
    run_name: Annotated[str, Field(pattern=RUN_NAME)]
    base_model_id: Annotated[str, Field(pattern=MODEL_ID)]
    customization_type: CustomizationType = CustomizationType.FINE_TUNING
    trainer: Trainer = Trainer.BEDROCK
    training_data_uri: Annotated[str | None, Field(pattern=S3_URI)] = None
    validation_data_uri: Annotated[str | None, Field(pattern=S3_URI)] = None
    # trainer=import: S3 prefix of Hugging Face weights trained elsewhere.
    model_data_uri: Annotated[str | None, Field(pattern=S3_URI)] = None
    hyper_parameters: HyperParameters = Field(default_factory=dict)
    teacher_model_id: Annotated[str | None, Field(pattern=MODEL_ID)] = None
    # Distillation: the teacher's response length when it writes the assistant turns.
    max_response_length: Annotated[int | None, Field(ge=1, le=32768)] = None
    # Distillation from invocation logs instead of a prompt file (trainingDataUri).
    invocation_logs_config: InvocationLogsConfig | None = None
    container: ContainerSettings | None = None
    provisioned_throughput: ProvisionedThroughput | None = None
    evaluation: Evaluation | None = None
    tags: Annotated[
        dict[Annotated[str, Field(pattern=TAG_KEY)], Annotated[str, Field(max_length=256)]],
        Field(max_length=20),
    ] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _cross_field(self, info: ValidationInfo) -> RunSpec:
        # context {"collect": True}: the caller lists every issue itself (check-run).
        if not (info.context or {}).get("collect"):
            for issue in cross_field_issues(self):
                raise issue
        return self

    @property
    def execution_name(self) -> str:
        return execution_name(self.run_name)

    def workflow_input(self) -> dict[str, Any]:
        """The execution input: the document with defaults filled in, in canonical field names
        (two requests that differ only in spelled-out defaults give the same input)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def cross_field_issues(spec: RunSpec) -> list[RunSpecError]:
    """Combinations the fields' own types cannot express; each names the field to change."""
    issues: list[RunSpecError] = []
    distil = spec.customization_type == CustomizationType.DISTILLATION
    if distil and spec.teacher_model_id is None:
        issues.append(
            RunSpecError("teacherModelId", "required when customizationType=DISTILLATION")
        )
    if not distil and spec.teacher_model_id is not None:
        issues.append(
            RunSpecError("teacherModelId", "allowed only with customizationType=DISTILLATION")
        )
    if not distil and spec.max_response_length is not None:
        issues.append(
            RunSpecError("maxResponseLength", "allowed only with customizationType=DISTILLATION")
        )
    if spec.invocation_logs_config is not None:
        if not distil:
            issues.append(
                RunSpecError(
                    "invocationLogsConfig", "allowed only with customizationType=DISTILLATION"
                )
            )
        if spec.training_data_uri is not None:
            issues.append(
                RunSpecError(
                    "trainingDataUri", "give the prompts as a file or as invocationLogsConfig"
                )
            )
    if distil and spec.trainer != Trainer.BEDROCK:
        issues.append(
            RunSpecError("trainer", "DISTILLATION runs on Bedrock only; use trainer=bedrock")
        )
    if spec.trainer == Trainer.IMPORT:
        if spec.model_data_uri is None:
            issues.append(
                RunSpecError(
                    "modelDataUri", "required when trainer=import (S3 prefix of the weights)"
                )
            )
        for name, value in (
            ("trainingDataUri", spec.training_data_uri),
            ("validationDataUri", spec.validation_data_uri),
            ("container", spec.container),
        ):
            if value is not None:
                issues.append(
                    RunSpecError(name, "not used when trainer=import (no training); remove it")
                )
        if spec.hyper_parameters:
            issues.append(
                RunSpecError("hyperParameters", "not used when trainer=import; remove it")
            )
    else:
        if spec.training_data_uri is None and spec.invocation_logs_config is None:
            issues.append(
                RunSpecError(
                    "trainingDataUri",
                    f"required when trainer={spec.trainer} (or invocationLogsConfig to distil "
                    "from invocation logs)",
                )
            )
        if spec.model_data_uri is not None:
            issues.append(RunSpecError("modelDataUri", "allowed only with trainer=import"))
    if spec.trainer == Trainer.CONTAINER:
        if spec.container is None:
            issues.append(
                RunSpecError(
                    "container", "required when trainer=container (baseWeightsUri at least)"
                )
            )
        if spec.hyper_parameters:
            issues.append(
                RunSpecError(
                    "hyperParameters", "trainer=container takes container.hyperParameters instead"
                )
            )
    elif spec.trainer == Trainer.BEDROCK and spec.container is not None:
        issues.append(RunSpecError("container", "allowed only with trainer=container"))
    # Bedrock-trained custom models serve only through provisioned throughput; imported
    # models serve on demand.
    if spec.provisioned_throughput is not None and spec.trainer != Trainer.BEDROCK:
        issues.append(
            RunSpecError(
                "provisionedThroughput",
                "imported models serve on demand; use it with trainer=bedrock",
            )
        )
    if (
        spec.evaluation is not None
        and spec.evaluation.base_model_id is None
        and spec.trainer != Trainer.BEDROCK
    ):
        issues.append(
            RunSpecError(
                "evaluation.baseModelId",
                f"required when trainer={spec.trainer}: baseModelId {spec.base_model_id!r} names "
                "the architecture of the weights, not a Bedrock model; name the Bedrock model "
                "the weights started from (e.g. us.meta.llama3-2-1b-instruct-v1:0), which the "
                "custom model is compared against",
            )
        )
    if (
        spec.evaluation is not None
        and spec.trainer == Trainer.BEDROCK
        and spec.provisioned_throughput is None
    ):
        issues.append(
            RunSpecError(
                "provisionedThroughput", "required to evaluate a Bedrock-trained custom model"
            )
        )
    for key in spec.tags:
        if key.lower().startswith(RESERVED_TAG_PREFIXES):
            issues.append(
                RunSpecError(f"tags.{key}", f"prefixes {RESERVED_TAG_PREFIXES} are reserved")
            )
    return issues


def parse_run_spec(document: object) -> RunSpec:
    """Parse a run document; the first problem raises ``RunSpecError`` with its JSON path."""
    try:
        return RunSpec.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        ctx_error = (first.get("ctx") or {}).get("error")
        if isinstance(ctx_error, RunSpecError):
            raise ctx_error from None
        path = ".".join(str(p) for p in first["loc"]) or "<document>"
        raise RunSpecError(path, f"{first['msg']} (got {_short(first.get('input'))})") from None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def evaluation_base_model_id(spec: RunSpec) -> str | None:
    """The model the evaluation compares the custom model against: ``evaluation.baseModelId``,
    else (trainer=bedrock) the run's base model by its on-demand id; None without evaluation."""
    if spec.evaluation is None:
        return None
    return spec.evaluation.base_model_id or inference_model_id(spec.base_model_id)


def inference_model_id(base_model_id: str) -> str:
    """The on-demand id of a customizable base model: customization ids carry a context-length
    suffix (``...-v1:0:128k``) that inference does not accept."""
    return re.sub(r":\d+k$", "", base_model_id)


def _digest(run_name: str, length: int) -> str:
    return hashlib.sha256(run_name.encode()).hexdigest()[:length]


def _slug(run_name: str, limit: int) -> str:
    """Letters, digits and single hyphens (valid for every AWS name involved), at most
    ``limit`` characters; names that change on the way get a digest, so two run names never
    share a slug."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", run_name).strip("-")
    if slug == run_name and len(slug) <= limit:
        return slug
    return f"{slug[: limit - 9].rstrip('-')}-{_digest(run_name, 8)}"


def execution_name(run_name: str) -> str:
    """The Step Functions execution name of a run (StartExecution is idempotent by name)."""
    if EXECUTION_NAME.fullmatch(run_name):
        return run_name
    return _slug(run_name, 80)


def names_for(run_name: str, prefix: str = "") -> dict[str, Any]:
    """Job and model names plus idempotency tokens of one run, per job kind.

    Names start with the stage ``prefix`` (``bcp-dev``) so that IAM can scope SageMaker's
    training jobs to the stage. Bedrock job names, SageMaker training job names and custom
    model names allow 63 characters: the slug leaves room for the prefix, the longest suffix
    and ``-model``.
    """
    head = f"{prefix}-" if prefix else ""
    room = 63 - len(head) - len("-model") - 1 - max(len(s) for s in JOB_SUFFIXES.values())
    slug = _slug(run_name, room)
    # The stage prefix is part of the token: two stages in one account may run the same runName,
    # and Bedrock would treat the second stage's request as a retry of the first.
    token = _digest(f"{head}{run_name}", 40)
    out: dict[str, Any] = {"execution": execution_name(run_name), "slug": slug}
    for kind, suffix in JOB_SUFFIXES.items():
        out[kind] = {
            "jobName": f"{head}{slug}-{suffix}",
            "modelName": f"{head}{slug}-{suffix}-model",
            # clientRequestToken: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,256}
            "token": f"{suffix}-{token}",
        }
    return out


# --- JSON schema ------------------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the request document, by its JSON field names."""
    return RunSpec.model_json_schema(by_alias=True, mode="validation")


def api_gateway_schema() -> dict[str, Any]:
    """The same schema in the draft-04 dialect API Gateway request models accept: references
    inlined, optional values without the ``null`` alternative (omit the field instead)."""
    schema = json_schema()
    defs = schema.pop("$defs", {})

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(n) for n in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return convert(defs[node["$ref"].rsplit("/", 1)[-1]])
        any_of = node.get("anyOf")
        if any_of is not None:
            options = [o for o in any_of if o.get("type") != "null"]
            if len(options) == 1:
                merged = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
                return convert({**options[0], **merged})
        out = {k: convert(v) for k, v in node.items() if k not in ("title", "default")}
        if "const" in out:
            out["enum"] = [out.pop("const")]
        if (
            node.get("type") == "object"
            and "additionalProperties" not in node
            and "properties" in node
        ):
            out["additionalProperties"] = False
        return out

    converted: dict[str, Any] = convert(schema)
    converted["$schema"] = "http://json-schema.org/draft-04/schema#"
    converted["title"] = "RunSpec"
    return converted
