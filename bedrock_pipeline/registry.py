"""The model registry: every per-model quota, format and hyperparameter range in one table.

Pure data, no AWS. The validator, the validate Lambda, the CLI, the workflow and the training
container all read these rows; a limit that changes is changed here and nowhere else.

Sources (Amazon Bedrock user guide unless noted; each row names its page):
  [prep]   model-customization-prepare.html, preparing-text-data.html,
           preparing-image-text-data.html
  [req]    model-training-validation-requirements.html
  [hp-*]   cm-hp-anth-claude-3.html, cm-hp-meta-llama31.html, cm-hp-meta-llama32.html,
           cm-hp-titan-text.html, cm-hp-nova-mm.html
  [distil] distillation-data-prep-option-1.html, prequisites-model-distillation.html
  [nova]   Amazon Nova user guide, fine-tune-prepare-data-understanding.html
  [nova2]  Amazon Nova 2 user guide, nova-data-prep-sft-2.html; Bedrock user guide,
           nova-2-sft-data-prep.html
  [aws-v]  AWS's published dataset validators (their facts, not their code):
           aws-samples/amazon-bedrock-samples custom-models/bedrock-fine-tuning/
           {nova/understanding/dataset_validation/nova_ft_dataset_validator.py,
           meta-llama/dataset_validation/dataset_validation.py,
           claude-haiku/DataValidation/data_validation.py},
           custom-models/model_distillation/dataset-validation/dataset_validator.py;
           aws-samples/amazon-nova-samples customization/bedrock-finetuning/understanding/
           dataset_validation/nova_ft_dataset_validator.py (Nova 2 rules)
  [import] model-customization-import-model.html
  [regions] custom-model-supported.html (fine-tuning and continued pre-training, "Single-region
           model support"), prequisites-model-distillation.html (distillation students),
           deploy-custom-model-on-demand.html (on-demand deployment of custom models)
  [quotas] "Amazon Bedrock endpoints and quotas", AWS General Reference (gr/bedrock.html),
           model customization rows; marked "unverified" where the page does not state the number
"""

from __future__ import annotations

from collections.abc import Mapping

from bedrock_pipeline import training_contract
from bedrock_pipeline.dataset_limits import (
    HAIKU_FT,
    NOVA2_FT,
    NOVA_DISTIL,
    SINGLE_TURN_DISTILLATION,
)
from bedrock_pipeline.dataset_limits import llama_limits as _llama
from bedrock_pipeline.dataset_limits import nova_limits as _nova
from bedrock_pipeline.dataset_limits import titan_limits as _titan
from bedrock_pipeline.formats import ConverseDialect, DatasetFormat
from bedrock_pipeline.import_rules import IMPORT_RULES, WEIGHT_DTYPES, ArchitectureRule
from bedrock_pipeline.model_spec import (
    BatchSizeGuide,
    CustomizationType,
    DatasetLimits,
    HyperparameterSpec,
    ImportRequirements,
    ModelSpec,
    TokenEstimator,
    Trainer,
    UnknownModelError,
)

__all__ = [  # re-exported: callers import the types from the registry too
    "IMPORT",
    "IMPORT_ARCHITECTURES",
    "IMPORT_RULES",
    "MODELS",
    "WEIGHT_DTYPES",
    "ArchitectureRule",
    "CustomizationType",
    "DatasetLimits",
    "HyperparameterSpec",
    "ModelSpec",
    "Trainer",
    "UnknownModelError",
    "customization_regions",
    "distillation_teachers",
    "get_model",
    "model_regions",
]

GB = 1024**3
MB = 1024**2


# Claude 3 tokenizer: about 3.5 characters per token on English prose; 3 leaves headroom.
CLAUDE_ESTIMATOR = TokenEstimator(3.0, 4, "Claude's tokenizer is not public: conservative")
# Titan: aws-samples/amazon-bedrock-workshop#224 saw 10,000-character chunks rejected at 4,919
# tokens, i.e. about 2 characters per token on real documents, far below the guide's "6".
TITAN_ESTIMATOR = TokenEstimator(2.0, 4, "Titan's tokenizer is not public: ~2 chars/token observed")
NOVA_ESTIMATOR = TokenEstimator(3.0, 4, "Nova's tokenizer is not public: conservative")
# Llama 3's 128K-vocabulary tokenizer is public (about 4 characters per token on English).
LLAMA_ESTIMATOR = TokenEstimator(3.5, 5, "Llama 3 tokenizer averages ~4 chars/token; margin kept")
OPEN_ESTIMATOR = TokenEstimator(3.5, 5, "Mistral/Qwen tokenizers, same margin as Llama")


# --- Hyperparameter tables -----------------------------------------------------------------
# [hp-claude] cm-hp-anth-claude-3.html
HAIKU_HP = (
    HyperparameterSpec("epochCount", "int", 2, 1, 10),
    HyperparameterSpec("batchSize", "int", 32, 4, 256),
    HyperparameterSpec("learningRateMultiplier", "float", 1.0, 0.1, 2.0),
    HyperparameterSpec("earlyStoppingThreshold", "float", 0.001, 0.0, 0.1),
    HyperparameterSpec("earlyStoppingPatience", "int", 2, 1, 10),
)
# [hp-llama] cm-hp-meta-llama31.html and cm-hp-meta-llama32.html (3.3 uses the same table);
# Llama takes no learningRateWarmupSteps.
LLAMA_HP = (
    HyperparameterSpec("epochCount", "int", 5, 1, 10),
    HyperparameterSpec("batchSize", "int", 1, 1, 1),
    HyperparameterSpec("learningRate", "float", 1e-4, 5e-6, 0.1),
)
# [hp-titan] cm-hp-titan-text.html
TITAN_HP = (
    HyperparameterSpec("epochCount", "int", 5, 1, 10),
    HyperparameterSpec("batchSize", "int", 1, 1, 64),
    HyperparameterSpec("learningRate", "float", 1e-5, 0.0, 1.0),
    HyperparameterSpec("learningRateWarmupSteps", "int", 5, 0, 250),
)
TITAN_PREMIER_HP = (
    HyperparameterSpec("epochCount", "int", 2, 1, 5),
    HyperparameterSpec("batchSize", "int", 1, 1, 1),
    HyperparameterSpec("learningRate", "float", 1e-6, 1e-7, 1e-5),
    HyperparameterSpec("learningRateWarmupSteps", "int", 5, 0, 20),
)
# [hp-nova] cm-hp-nova-mm.html
NOVA_HP = (
    HyperparameterSpec("epochCount", "int", 2, 1, 5),
    HyperparameterSpec("learningRate", "float", 1e-5, 1e-6, 1e-4),
    HyperparameterSpec("learningRateWarmupSteps", "int", 10, 0, 100),
)
# Our training container (training_image/): its numeric knobs with defaults and ranges, taken
# from the container's own config model so the two can never disagree. Early stopping has the
# same meaning as Bedrock's Haiku settings. Non-numeric knobs (method, packing, target modules)
# are checked against the same model by hyperparameters.resolve_hyperparameters.
CONTAINER_HP = training_contract.registry_specs()

# "Recommended Haiku batch size by dataset size" (AWS ML blog, Haiku fine-tuning
# best practices): > 1,000 records 32-64; 500-1,000 16-32; < 500 4-16.
HAIKU_BATCH_GUIDE = BatchSizeGuide(((1001, 32, 64), (500, 16, 32), (0, 4, 16)), "AWS ML blog")

# Fewer records than this rarely teach a new skill ([nova]: "at least 100 samples for each task").
RECOMMENDED_MIN_RECORDS = 100

# --- Dataset limits -------------------------------------------------------------------------
FT, CPT, DISTIL = (
    CustomizationType.FINE_TUNING,
    CustomizationType.CONTINUED_PRE_TRAINING,
    CustomizationType.DISTILLATION,
)
CONVERSE, MESSAGES, PC, INPUT = (
    DatasetFormat.CONVERSE,
    DatasetFormat.MESSAGES,
    DatasetFormat.PROMPT_COMPLETION,
    DatasetFormat.CONTINUED_PRETRAINING,
)

# The Bedrock rows (dataset_limits.py): HAIKU_FT, _llama, _titan, _nova, NOVA2_FT,
# SINGLE_TURN_DISTILLATION, NOVA_DISTIL. Custom Model Import and our container:
IMPORT = ImportRequirements(
    # [import] one rule per architecture (names, shapes, layers): bedrock_pipeline.import_rules
    architectures=frozenset(IMPORT_RULES),
    regions=frozenset({"us-east-1", "us-east-2", "us-west-2", "eu-central-1"}),
    required_files=("config.json", "tokenizer_config.json"),
    tokenizer_files=("tokenizer.json", "tokenizer.model"),
    max_weights_bytes=200 * 1000**3,  # "less than 200 GB" for text models
    # "up to 128K" context: Llama 3.1-3.3 configs say 131072 and import; compared with "at most".
    max_context_tokens=131_072,
    transformers_version="4.51.3",
)
IMPORT_ARCHITECTURES: frozenset[str] = IMPORT.architectures

# The container reads every chat format through bedrock_pipeline.formats; Bedrock quotas do not
# apply, Custom Model Import's 128K context does.
CONTAINER_FT = DatasetLimits(
    formats=(MESSAGES, PC, CONVERSE),
    source="training_image/ (our container); context limit from [import]",
    min_train_records=1,
    max_tokens_per_record=IMPORT.max_context_tokens,
)
# Llama 3.2 Vision in our container: Converse records with images in user turns (png, jpeg,
# gif, webp as [prep] lists for Llama 3.2 Vision), one system block as Bedrock's Llama rows;
# no Bedrock record quotas, Custom Model Import's context limit. The training job reads the
# images through one SageMaker manifest, which names one bucket (image_manifest): the images
# sit in the dataset's bucket.
CONTAINER_VISION_FT = DatasetLimits(
    formats=(CONVERSE,),
    source="training_image/ (our container); image formats from [prep]; context from [import]",
    min_train_records=1,
    max_tokens_per_record=IMPORT.max_context_tokens,
    images_in_dataset_bucket=True,
    media_channel=True,
    converse=ConverseDialect(
        "preparing-image-text-data.html; training_image/ (our container)",
        media=frozenset({"image"}),
        max_system_blocks=1,
    ),
)
CONTAINER_CPT = DatasetLimits(
    formats=(INPUT,),
    source="training_image/ (our container)",
    min_train_records=1,
    max_tokens_per_record=IMPORT.max_context_tokens,
)


# --- The table --------------------------------------------------------------------------------
def _bedrock(
    model_id: str,
    name: str,
    customizations: Mapping[CustomizationType, DatasetLimits],
    hyperparameters: tuple[HyperparameterSpec, ...],
    estimator: TokenEstimator,
    hp_source: str,
    **extra: object,
) -> ModelSpec:
    # The customization ids carry a context suffix (":128k"); the plain id is accepted too.
    plain = model_id.rsplit(":", 1)[0] if model_id.count(":") > 1 else model_id
    aliases = (plain,) if plain != model_id else ()
    return ModelSpec(
        model_id, name, Trainer.BEDROCK, customizations, hyperparameters, estimator,
        aliases=aliases, hyperparameter_source=hp_source, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def _container(
    model_id: str,
    name: str,
    architecture: str,
    estimator: TokenEstimator,
    customizations: Mapping[CustomizationType, DatasetLimits] | None = None,
) -> ModelSpec:
    return ModelSpec(
        model_id,
        name,
        Trainer.CONTAINER,
        customizations or {FT: CONTAINER_FT, CPT: CONTAINER_CPT},
        CONTAINER_HP,
        estimator,
        import_architecture=architecture,
        hyperparameter_source="training_image/ (our container)",
    )


_LLAMA_HP = (LLAMA_HP, LLAMA_ESTIMATOR, "cm-hp-meta-llama31.html / cm-hp-meta-llama32.html")
_TITAN_HP = (TITAN_HP, TITAN_ESTIMATOR, "cm-hp-titan-text.html")
_NOVA_HP = (NOVA_HP, NOVA_ESTIMATOR, "cm-hp-nova-mm.html")
# fmt: off
_SPECS: tuple[ModelSpec, ...] = (
    _bedrock("anthropic.claude-3-haiku-20240307-v1:0:200k", "Claude 3 Haiku",
             {FT: HAIKU_FT, DISTIL: SINGLE_TURN_DISTILLATION},
             HAIKU_HP, CLAUDE_ESTIMATOR, "cm-hp-anth-claude-3.html",
             batch_size_guide=HAIKU_BATCH_GUIDE),
    _bedrock("meta.llama3-1-8b-instruct-v1:0:128k", "Llama 3.1 8B Instruct",
             {FT: _llama((PC,), 16_000), DISTIL: SINGLE_TURN_DISTILLATION}, *_LLAMA_HP),
    _bedrock("meta.llama3-1-70b-instruct-v1:0:128k", "Llama 3.1 70B Instruct",
             {FT: _llama((PC,), 16_000), DISTIL: SINGLE_TURN_DISTILLATION}, *_LLAMA_HP),
    _bedrock("meta.llama3-2-1b-instruct-v1:0:128k", "Llama 3.2 1B Instruct",
             {FT: _llama((CONVERSE,), 16_000), DISTIL: SINGLE_TURN_DISTILLATION}, *_LLAMA_HP),
    _bedrock("meta.llama3-2-3b-instruct-v1:0:128k", "Llama 3.2 3B Instruct",
             {FT: _llama((CONVERSE,), 16_000), DISTIL: SINGLE_TURN_DISTILLATION}, *_LLAMA_HP),
    _bedrock("meta.llama3-2-11b-instruct-v1:0:128k", "Llama 3.2 11B Vision Instruct",
             {FT: _llama((CONVERSE,), 16_000, images=True)}, *_LLAMA_HP),
    _bedrock("meta.llama3-2-90b-instruct-v1:0:128k", "Llama 3.2 90B Vision Instruct",
             {FT: _llama((CONVERSE,), 10_000, images=True)}, *_LLAMA_HP),
    _bedrock("meta.llama3-3-70b-instruct-v1:0:128k", "Llama 3.3 70B Instruct",
             {FT: _llama((CONVERSE,), 16_000), DISTIL: SINGLE_TURN_DISTILLATION}, *_LLAMA_HP),
    _bedrock("amazon.titan-text-lite-v1:0:4k", "Titan Text G1 - Lite",
             {FT: _titan(cpt=False), CPT: _titan(cpt=True)}, *_TITAN_HP),
    _bedrock("amazon.titan-text-express-v1:0:8k", "Titan Text G1 - Express",
             {FT: _titan(cpt=False), CPT: _titan(cpt=True)}, *_TITAN_HP),
    # [prep]: Premier has no continued pre-training.
    _bedrock("amazon.titan-text-premier-v1:0:32k", "Titan Text Premier",
             {FT: _titan(cpt=False)}, TITAN_PREMIER_HP, TITAN_ESTIMATOR, "cm-hp-titan-text.html"),
    _bedrock("amazon.nova-micro-v1:0:128k", "Amazon Nova Micro",
             {FT: _nova(images=False), DISTIL: NOVA_DISTIL}, *_NOVA_HP),
    _bedrock("amazon.nova-lite-v1:0:300k", "Amazon Nova Lite",
             {FT: _nova(images=True), DISTIL: NOVA_DISTIL}, *_NOVA_HP),
    _bedrock("amazon.nova-pro-v1:0:300k", "Amazon Nova Pro",
             {FT: _nova(images=True)}, *_NOVA_HP),
    # Nova 2 hyperparameter ranges are not stated on the pages above: Nova's table applies.
    _bedrock("amazon.nova-2-lite-v1:0:256k", "Amazon Nova 2 Lite", {FT: NOVA2_FT}, *_NOVA_HP),
    # Architectures our GPU container trains and Custom Model Import serves.
    _container("container/llama3", "Llama 3.x (container)", "LlamaForCausalLM", LLAMA_ESTIMATOR),
    _container("container/mistral", "Mistral (container)", "MistralForCausalLM", OPEN_ESTIMATOR),
    _container("container/qwen2", "Qwen2 / Qwen2.5 (container)", "Qwen2ForCausalLM",
               OPEN_ESTIMATOR),
    _container("container/llama3-vision", "Llama 3.2 Vision (container)",
               "MllamaForConditionalGeneration", LLAMA_ESTIMATOR, {FT: CONTAINER_VISION_FT}),
)
# fmt: on

MODELS: Mapping[str, ModelSpec] = {spec.model_id: spec for spec in _SPECS}
_BY_ALIAS: Mapping[str, ModelSpec] = {
    alias: spec for spec in _SPECS for alias in (spec.model_id, *spec.aliases)
}

# [distil] / [quotas] teacher -> students. Teachers are invoked, never customized, so they
# are not rows of MODELS.
DISTILLATION_PAIRS: Mapping[str, tuple[str, ...]] = {
    "anthropic.claude-3-5-sonnet-20240620-v1:0": ("anthropic.claude-3-haiku-20240307-v1:0:200k",),
    "anthropic.claude-3-5-sonnet-20241022-v2:0": ("anthropic.claude-3-haiku-20240307-v1:0:200k",),
    "meta.llama3-1-405b-instruct-v1:0": (
        "meta.llama3-1-8b-instruct-v1:0:128k",
        "meta.llama3-1-70b-instruct-v1:0:128k",
        "meta.llama3-2-1b-instruct-v1:0:128k",
        "meta.llama3-3-70b-instruct-v1:0:128k",
    ),
    "meta.llama3-1-70b-instruct-v1:0": (
        "meta.llama3-1-8b-instruct-v1:0:128k",
        "meta.llama3-2-1b-instruct-v1:0:128k",
        "meta.llama3-2-3b-instruct-v1:0:128k",
    ),
    "meta.llama3-3-70b-instruct-v1:0": (
        "meta.llama3-1-8b-instruct-v1:0:128k",
        "meta.llama3-2-1b-instruct-v1:0:128k",
        "meta.llama3-2-3b-instruct-v1:0:128k",
    ),
    "amazon.nova-pro-v1:0": ("amazon.nova-micro-v1:0:128k", "amazon.nova-lite-v1:0:300k"),
    "amazon.nova-premier-v1:0": ("amazon.nova-micro-v1:0:128k", "amazon.nova-lite-v1:0:300k"),
}


# --- Regions ------------------------------------------------------------------------------------
# [regions] Where each (model, customization type) runs: a customization job, and the custom
# model it makes, live in one region. A stage may only allow a model its region can customize.
US_EAST_1, US_WEST_2 = "us-east-1", "us-west-2"
_EAST, _WEST, _BOTH = (
    frozenset({US_EAST_1}),
    frozenset({US_WEST_2}),
    frozenset({US_EAST_1, US_WEST_2}),
)
_REGIONS: dict[str, Mapping[CustomizationType, frozenset[str]]] = {
    # Claude 3 Haiku and every Meta Llama model: fine-tuning and distillation in us-west-2 only.
    "anthropic.claude-3-haiku-20240307-v1:0:200k": {FT: _WEST, DISTIL: _WEST},
    **{
        model_id: {FT: _WEST, DISTIL: _WEST}
        for model_id in (
            "meta.llama3-1-8b-instruct-v1:0:128k",
            "meta.llama3-1-70b-instruct-v1:0:128k",
            "meta.llama3-2-1b-instruct-v1:0:128k",
            "meta.llama3-2-3b-instruct-v1:0:128k",
            "meta.llama3-2-11b-instruct-v1:0:128k",
            "meta.llama3-2-90b-instruct-v1:0:128k",
            "meta.llama3-3-70b-instruct-v1:0:128k",
        )
    },
    # Titan Text G1 - Express: both regions, both customization types.
    "amazon.titan-text-express-v1:0:8k": {FT: _BOTH, CPT: _BOTH},
    # Titan Text Lite and Premier: named by earlier revisions of the page (fine-tuning regions
    # us-east-1 and us-west-2; Premier us-east-1 only), no longer in its current table. Kept so
    # existing stages and datasets still validate; the shipped stages do not allow them.
    "amazon.titan-text-lite-v1:0:4k": {FT: _BOTH, CPT: _BOTH},
    "amazon.titan-text-premier-v1:0:32k": {FT: _EAST},
    # Amazon Nova (Micro, Lite, Pro, 2 Lite): us-east-1 only.
    "amazon.nova-micro-v1:0:128k": {FT: _EAST, DISTIL: _EAST},
    "amazon.nova-lite-v1:0:300k": {FT: _EAST, DISTIL: _EAST},
    "amazon.nova-pro-v1:0:300k": {FT: _EAST},
    "amazon.nova-2-lite-v1:0:256k": {FT: _EAST},
    # Our container trains on SageMaker (any region); the model then needs Custom Model Import.
    **{
        spec.model_id: {FT: IMPORT.regions, CPT: IMPORT.regions}
        for spec in _SPECS
        if spec.trainer is Trainer.CONTAINER
    },
}
# [regions] CreateCustomModelDeployment (on-demand inference of custom Nova models).
ON_DEMAND_DEPLOYMENT_REGIONS: frozenset[str] = _BOTH
# Every region in which some registry model can be customized: a stage outside it has nothing
# to run.
CUSTOMIZATION_REGIONS: frozenset[str] = frozenset(
    region for table in _REGIONS.values() for regions in table.values() for region in regions
)


def customization_regions(model_id: str, customization: CustomizationType) -> frozenset[str]:
    """Regions where `model_id` (a registry id or alias) can run `customization`; empty when
    it cannot run it anywhere. Raises UnknownModelError for an id the registry does not know."""
    return _REGIONS.get(get_model(model_id).model_id, {}).get(customization, frozenset())


def model_regions(model_id: str) -> frozenset[str]:
    """Regions where `model_id` can run at least one customization type."""
    table = _REGIONS.get(get_model(model_id).model_id, {})
    return frozenset(region for regions in table.values() for region in regions)


def get_model(model_id: str) -> ModelSpec:
    """The registry row for a base model id (a customization id or its plain alias)."""
    try:
        return _BY_ALIAS[model_id]
    except KeyError:
        raise UnknownModelError(model_id, MODELS) from None


def distillation_teachers(student_id: str) -> tuple[str, ...]:
    """Teacher model ids that may distil into `student_id` (empty when it is no student)."""
    student = get_model(student_id).model_id
    return tuple(t for t, students in DISTILLATION_PAIRS.items() if student in students)
