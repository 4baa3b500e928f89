"""The dataset rows of the Bedrock-trained models: formats, Converse dialects, record counts.

Pure data read by `bedrock_pipeline.registry` (which re-exports nothing from here: callers use
the registry's model rows). Source tags as in the registry's docstring: [prep] [req] [distil]
[nova] [nova2] [quotas] for the guide pages, [aws-v] for AWS's published dataset validators
(facts taken, not code). docs/validation.md tabulates every number with its source.
"""

from __future__ import annotations

from bedrock_pipeline.formats import ConverseDialect, DatasetFormat
from bedrock_pipeline.model_spec import DatasetLimits

GB = 1024**3
MB = 1024**2
CONVERSE, MESSAGES, PC, INPUT = (
    DatasetFormat.CONVERSE,
    DatasetFormat.MESSAGES,
    DatasetFormat.PROMPT_COMPLETION,
    DatasetFormat.CONTINUED_PRETRAINING,
)

DISTIL_DIALECT = ConverseDialect(
    "distillation-data-prep-option-1.html; [aws-v] model_distillation/dataset-validation",
    max_system_blocks=1,
    max_blocks_per_message=1,
)
# [distil] Converse records; Anthropic and Meta students take single-turn prompts only, the
# assistant turn is optional (the teacher writes it). Minimum 100 prompts: [aws-v]
# distillation validator (MIN_NUM_PROMPTS) and its README.
SINGLE_TURN_DISTILLATION = DatasetLimits(
    formats=(CONVERSE,),
    source="distillation-data-prep-option-1.html",
    min_train_records=100,
    single_turn=True,
    require_answer=False,
    converse=DISTIL_DIALECT,
)
# [quotas] Haiku: 32-10,000 train, <= 1,000 validation, <= 10,000 total, 32,000 tokens/record,
# train <= 10 GB, validation <= 1 GB. [aws-v] Haiku validator: the validation file needs 32
# records too (MIN_LINES), and "\nHuman:" / "\nAssistant:" may appear in no message.
HAIKU_FT = DatasetLimits(
    formats=(MESSAGES,),
    source="model-training-validation-requirements.html (Claude 3 Haiku); gr/bedrock.html; [aws-v]",
    min_train_records=32,
    max_train_records=10_000,
    min_validation_records=32,
    max_validation_records=1_000,
    max_total_records=10_000,
    max_tokens_per_record=32_000,
    max_train_bytes=10 * GB,
    max_validation_bytes=1 * GB,
    reserved_keywords=("\nHuman:", "\nAssistant:"),
    reserved_in_answers=True,
)


def llama_limits(
    formats: tuple[DatasetFormat, ...], tokens: int, images: bool = False
) -> DatasetLimits:
    # [quotas] Llama 3.1/3.2/3.3: 100-10,000 records train+validation; 16,000 tokens per record
    # (Llama 3.2 90B: 10,000). Llama 3.1 reads prompt/completion, 3.2/3.3 Converse [prep].
    # [aws-v] Llama validator: <= 1,000 validation records, one system block.
    dialect = ConverseDialect(
        "preparing-text-data.html, preparing-image-text-data.html; [aws-v] meta-llama",
        media=frozenset({"image"}) if images else frozenset(),
        max_system_blocks=1,
    )
    return DatasetLimits(
        formats=formats,
        source="preparing-text-data.html, preparing-image-text-data.html; quotas: gr/bedrock.html",
        min_train_records=100,
        max_validation_records=1_000,
        max_total_records=10_000,
        max_tokens_per_record=tokens,
        converse=dialect,
    )


def titan_limits(cpt: bool, tokens: int = 4_096) -> DatasetLimits:
    # [req] Titan Text: input+output tokens 4,096 at batch size 1; character quota = tokens x 6;
    # training file 10 GB for continued pre-training, 1 GB for fine-tuning; validation 100 MB.
    return DatasetLimits(
        formats=(INPUT,) if cpt else (PC,),
        source="model-training-validation-requirements.html (Titan Text)",
        max_tokens_per_record=tokens,
        max_train_bytes=10 * GB if cpt else 1 * GB,
        max_validation_bytes=100 * MB,
    )


# [nova] Converse; the words below make the job fail wherever they appear in a prompt.
# Token limits for Nova are not stated on the pages above: left unchecked.
NOVA_RESERVED = ("User:", "Bot:", "Assistant:", "System:", "<image>", "<video>", "[EOS]")
_NOVA_SOURCE = "fine-tune-prepare-data-understanding.html; [aws-v] nova_ft_dataset_validator.py"
# [nova] "schemaVersion can be any string value"; one kind of media per dataset; "one sample
# can have only 1 video"; media in the dataset's bucket. [aws-v] Nova validator: video formats
# mov/mkv/mp4/webm, at most 10 images per turn, no video beside images, no media for Micro or
# in assistant turns, URIs of letters, digits, _ - / . only.
NOVA_MEDIA_DIALECT = ConverseDialect(
    _NOVA_SOURCE,
    schema_versions=None,
    media=frozenset({"image", "video"}),
    video_formats=frozenset({"mov", "mkv", "mp4", "webm"}),
    max_images_per_turn=10,
    max_videos_per_record=1,
    video_alone=True,
    nova_uri=True,
)
NOVA_TEXT_DIALECT = ConverseDialect(_NOVA_SOURCE, schema_versions=None)
# [aws-v] Nova validator: 8 to 20,000 records (MODEL_TO_NUM_SAMPLES_MAP), the maximum over
# training + validation (validate_dataset_level).
NOVA_RECORDS = {"min_train_records": 8, "max_train_records": 20_000, "max_total_records": 20_000}


def nova_limits(images: bool) -> DatasetLimits:
    return DatasetLimits(
        formats=(CONVERSE,),
        source=f"Nova user guide, {_NOVA_SOURCE}",
        converse=NOVA_MEDIA_DIALECT if images else NOVA_TEXT_DIALECT,
        reserved_keywords=NOVA_RESERVED,
        images_in_dataset_bucket=True,
        homogeneous_media=True,
        **NOVA_RECORDS,  # type: ignore[arg-type]
    )


# [nova2] Nova 2 SFT: the Nova 1 Converse format plus reasoningContent in assistant turns,
# document (pdf) blocks, tool calling (toolConfig, toolUse, toolResult); images png/jpeg/gif,
# videos mov/mkv/mp4; homogeneous datasets. [aws-v] (amazon-nova-samples): 200-20,000 records,
# no validation dataset, one document per record, 10 images per turn.
NOVA2_DIALECT = ConverseDialect(
    "nova-data-prep-sft-2.html, nova-2-sft-data-prep.html; [aws-v] amazon-nova-samples",
    schema_versions=None,
    media=frozenset({"image", "video", "document"}),
    image_formats=frozenset({"png", "jpeg", "gif"}),
    video_formats=frozenset({"mov", "mkv", "mp4"}),
    document_formats=frozenset({"pdf"}),
    max_images_per_turn=10,
    max_videos_per_record=1,
    max_documents_per_record=1,
    video_alone=True,
    nova_uri=True,
    reasoning=True,
    tools=True,
)
NOVA2_FT = DatasetLimits(
    formats=(CONVERSE,),
    source="Nova 2 user guide nova-data-prep-sft-2.html; nova-2-sft-data-prep.html; [aws-v]",
    min_train_records=200,
    max_train_records=20_000,
    max_total_records=20_000,
    converse=NOVA2_DIALECT,
    reserved_keywords=NOVA_RESERVED,
    images_in_dataset_bucket=True,
    homogeneous_media=True,
    validation_file=False,
    # nova-2-sft-data-prep.html, "Current limitations": tool use is in the input format but
    # "not currently supported by Amazon Nova 2.0 SFT. Adding tool sections might cause your
    # job to fail." The Nova 2 user guide documents it; accepted, with this warning.
    tools_caution=(
        "records use tools: the Nova 2 user guide documents tool-calling SFT, but the Bedrock "
        "user guide (nova-2-sft-data-prep.html) says the job may fail on tool sections"
    ),
)


NOVA_DISTIL = DatasetLimits(
    formats=(CONVERSE,),
    source="distillation-data-prep-option-1.html (Nova students take multi-turn prompts)",
    min_train_records=100,
    require_answer=False,
    reserved_keywords=NOVA_RESERVED,
    converse=DISTIL_DIALECT,
)
