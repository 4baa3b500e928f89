# ruff: noqa: E501  (one case per row reads better than wrapped rows)
"""Builds the differential corpus: small files, one per rule of AWS's published dataset
validators and the guide pages, each with the verdict the rule implies.

    .venv/bin/python tests/validation/data/build_differential.py [DIR]  # files to DIR (or a
                                                                          # temp dir), manifest here

Every file is valid except for the one record (or count) its rule is about. Per case the
manifest (differential.json) records our verdict (code, line, field), the verdict of AWS's
validator for that model (`aws`, with the validator's path in aws-samples) and which source our
verdict follows: "both" (the validator and the guide agree, so do we), or "guide" (the guide
page decides against the validator; docs/validation.md, "Formats and sources", says why).
tests/validation/test_differential.py builds the files (about 1 MB, so they are not committed),
checks both, and that the committed manifest equals this one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.validation.data.build_corpus import (
    HAIKU,
    LLAMA32,
    NOVA_LITE,
    NOVA_MICRO,
    V,
    conv,
    dumps,
    haiku,
    pc,
    write,
)

HERE = Path(__file__).parent
NOVA2 = "amazon.nova-2-lite-v1:0:256k"
LLAMA31 = "meta.llama3-1-8b-instruct-v1:0:128k"
FT, DISTIL = "FINE_TUNING", "DISTILLATION"

# AWS's validators (aws-samples): the facts are theirs, the code stays there.
NOVA_V = "amazon-bedrock-samples:custom-models/bedrock-fine-tuning/nova/understanding/dataset_validation/nova_ft_dataset_validator.py"
NOVA2_V = "amazon-nova-samples:customization/bedrock-finetuning/understanding/dataset_validation/nova_ft_dataset_validator.py"
LLAMA_V = "amazon-bedrock-samples:custom-models/bedrock-fine-tuning/meta-llama/dataset_validation/dataset_validation.py"
HAIKU_V = "amazon-bedrock-samples:custom-models/bedrock-fine-tuning/claude-haiku/DataValidation/data_validation.py"
DISTIL_V = "amazon-bedrock-samples:custom-models/model_distillation/dataset-validation/dataset_validator.py"
NOVA_G = "nova/latest/userguide/fine-tune-prepare-data-understanding.html"
NOVA2_G = "nova/latest/nova2-userguide/nova-data-prep-sft-2.html; bedrock nova-2-sft-data-prep.html"


def media(kind: str, fmt: str, key: str, bucket: str = "my-data") -> dict[str, Any]:
    return {kind: {"format": fmt, "source": {"s3Location": {"uri": f"s3://{bucket}/{key}"}}}}


VIDEO = media("video", "mp4", "vid/clip.mp4")
IMAGE = media("image", "png", "img/cat.png")
PDF = media("document", "pdf", "doc/report.pdf")
ANSWER = {"role": "assistant", "content": [{"text": "Seen."}]}


def record(*user: Any, answer: Any = ANSWER, **top: Any) -> dict[str, Any]:
    return {
        "schemaVersion": V,
        "messages": [{"role": "user", "content": [{"text": "Describe it."}, *user]}, answer],
        **top,
    }


def with_record(n: int, bad: dict[str, Any], at: int = 2, make: Any = conv) -> list[bytes]:
    good = [dumps(make(i)) for i in range(1, n + 1)]
    return [*good[: at - 1], dumps(bad), *good[at - 1 :]]


WEATHER = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            }
        },
    }
}


def tools_record(
    use_name: str = "get_weather", result_id: str = "t1", result_role: str = "user"
) -> dict[str, Any]:
    call = {"toolUse": {"toolUseId": "t1", "name": use_name, "input": {"city": "Paris"}}}
    result = {"toolResult": {"toolUseId": result_id, "content": [{"json": {"celsius": 18}}]}}
    return {
        "schemaVersion": V,
        "toolConfig": {"tools": [WEATHER]},
        "messages": [
            {"role": "user", "content": [{"text": "Weather in Paris?"}]},
            {"role": "assistant", "content": [{"text": "Checking."}, call]},
            {"role": result_role, "content": [result]}
            if result_role == "user"
            else {"role": "user", "content": [{"text": "And?"}]},
            {
                "role": "assistant",
                "content": [{"text": "18 degrees."}]
                + ([result] if result_role == "assistant" else []),
            },
        ],
    }


REASONING = {
    "role": "assistant",
    "content": [
        {"reasoningContent": {"reasoningText": {"text": "Two plus two is four."}}},
        {"text": "4"},
    ],
}
# Shaped like the tool-use sample of aws-samples (nova_tooluse_customization): schema version
# "tooluse-dataset-2024", tools described in the prompt's text, the call as the answer's text.
TOOLUSE_SAMPLE = {
    "system": [{"text": "You are a bot that can handle different requests with tools."}],
    "messages": [
        {
            "role": "user",
            "content": [
                {
                    "text": 'Given the functions within <tools>, answer with a JSON call.\n<tools>[{"name": "terminal"}]</tools>\n<question>List the files</question>'
                }
            ],
        },
        {
            "role": "assistant",
            "content": [{"text": "{'name': terminal, 'parameters': {'commands': ['ls']}}"}],
        },
    ],
    "schemaVersion": "tooluse-dataset-2024",
}


def llama_conv(i: int) -> dict[str, Any]:
    return conv(i)


def distil(i: int) -> dict[str, Any]:
    return conv(i, answer=False)


def nova2(n: int, bad: dict[str, Any] | None = None) -> list[bytes]:
    return with_record(n, bad) if bad else [dumps(conv(i)) for i in range(n)]


# name: (model, customization, train lines, ours, aws, follows, guide, [validation lines])
#   ours: ("accept", warning code or None) | ("reject", code, line, field)
#   aws: (validator, "accept" | "reject")
# fmt: off
CASES: dict[str, tuple[Any, ...]] = {
    # 1. Video blocks (Nova Lite/Pro): AWS accepts them; so do we, with its rules.
    "nova_video_mp4": (NOVA_LITE, FT, with_record(8, record(VIDEO)), ("accept", None), (NOVA_V, "accept"), "both", NOVA_G),
    "nova_video_webm": (NOVA_LITE, FT, with_record(8, record(media("video", "webm", "vid/a.webm"))), ("accept", None), (NOVA_V, "accept"), "both", NOVA_G),
    "nova_video_avi": (NOVA_LITE, FT, with_record(8, record(media("video", "avi", "vid/a.avi"))), ("reject", "MEDIA_FORMAT", 2, "messages[0].content[1].video.format"), (NOVA_V, "reject"), "both", NOVA_G),
    "nova_two_videos": (NOVA_LITE, FT, with_record(8, record(VIDEO, media("video", "mp4", "vid/b.mp4"))), ("reject", "MEDIA_LIMIT", 2, "messages[0].content[2].video"), (NOVA_V, "reject"), "both", NOVA_G),
    "nova_video_with_image": (NOVA_LITE, FT, with_record(8, record(VIDEO, IMAGE)), ("reject", "MEDIA_LIMIT", 2, "messages[0].content[2].image"), (NOVA_V, "reject"), "both", NOVA_G),
    "nova_micro_video": (NOVA_MICRO, FT, with_record(8, record(VIDEO)), ("reject", "MEDIA_NOT_SUPPORTED", 2, "messages[0].content[1].video"), (NOVA_V, "reject"), "both", NOVA_G),
    "nova_video_in_assistant": (NOVA_LITE, FT, with_record(8, record(answer={"role": "assistant", "content": [VIDEO]})), ("reject", "BLOCK_NOT_ALLOWED", 2, "messages[1].content[0].video"), (NOVA_V, "reject"), "both", NOVA_G),
    "nova_video_and_image_datasets_mixed": (NOVA_LITE, FT, [*with_record(8, record(VIDEO)), dumps(record(IMAGE))], ("reject", "MIXED_MEDIA", 10, ""), (NOVA_V, "accept"), "guide", NOVA_G),
    # 2. At most 10 images in a turn.
    "nova_ten_images": (NOVA_LITE, FT, with_record(8, record(*[media("image", "png", f"img/{k}.png") for k in range(10)])), ("accept", None), (NOVA_V, "accept"), "both", NOVA_G),
    "nova_eleven_images": (NOVA_LITE, FT, with_record(8, record(*[media("image", "png", f"img/{k}.png") for k in range(11)])), ("reject", "MEDIA_LIMIT", 2, "messages[0].content[11].image"), (NOVA_V, "reject"), "both", NOVA_G),
    # 3. 8 to 20,000 records.
    "nova_five_records": (NOVA_LITE, FT, [dumps(conv(i)) for i in range(5)], ("reject", "TOO_FEW_RECORDS", 0, ""), (NOVA_V, "reject"), "both", NOVA_G),
    "nova_eight_records": (NOVA_LITE, FT, [dumps(conv(i)) for i in range(8)], ("accept", None), (NOVA_V, "accept"), "both", NOVA_G),
    # 4. Media URIs: letters, digits, _ - / . only.
    "nova_image_uri_space": (NOVA_LITE, FT, with_record(8, record(media("image", "png", "img/my cat.png"))), ("reject", "IMAGE_URI", 2, "messages[0].content[1].image.source.s3Location.uri"), (NOVA_V, "reject"), "both", NOVA_G),
    "nova_video_uri_plus": (NOVA_LITE, FT, with_record(8, record(media("video", "mp4", "vid/a+b.mp4"))), ("reject", "MEDIA_URI", 2, "messages[0].content[1].video.source.s3Location.uri"), (NOVA_V, "reject"), "both", NOVA_G),
    "nova_image_uri_accented_letters": (NOVA_LITE, FT, with_record(8, record(media("image", "png", "img/café.png"))), ("accept", None), (NOVA_V, "accept"), "both", NOVA_G),
    # schemaVersion: any string for Nova (the tool-use sample's version), exact for Llama.
    "nova_tooluse_sample_schema_version": (NOVA_MICRO, FT, with_record(8, TOOLUSE_SAMPLE), ("accept", None), (NOVA_V, "accept"), "both", NOVA_G),
    "llama32_tooluse_sample_schema_version": (LLAMA32, FT, with_record(100, TOOLUSE_SAMPLE), ("reject", "SCHEMA_VERSION", 2, "schemaVersion"), (LLAMA_V, "reject"), "both", "preparing-text-data.html"),
    # Where AWS's validators are laxer or stricter than ours before: decided from the guide.
    "llama32_no_schema_version": (LLAMA32, FT, with_record(100, {k: v for k, v in conv(0).items() if k != "schemaVersion"}), ("reject", "MISSING_FIELD", 2, "schemaVersion"), (LLAMA_V, "accept"), "guide", "preparing-text-data.html; distillation-data-prep-option-1.html"),
    "llama31_prompt_completion_id": (LLAMA31, FT, with_record(100, {**pc(0), "id": "r-0"}, make=pc), ("accept", "IGNORED_FIELD"), (LLAMA_V, "accept"), "both", "preparing-text-data.html"),
    "llama32_two_system_blocks": (LLAMA32, FT, with_record(100, {**conv(0), "system": [{"text": "a"}, {"text": "b"}]}), ("reject", "INVALID_CONTENT_BLOCK", 2, "system"), (LLAMA_V, "reject"), "both", "preparing-text-data.html"),
    "llama32_validation_1001": (LLAMA32, FT, [dumps(conv(i)) for i in range(100)], ("reject", "TOO_MANY_RECORDS", 0, ""), (LLAMA_V, "reject"), "both", "model-customization-prepare.html", [dumps(conv(i)) for i in range(1000, 2001)]),
    "haiku_validation_31": (HAIKU, FT, [dumps(haiku(i)) for i in range(32)], ("reject", "TOO_FEW_RECORDS", 0, ""), (HAIKU_V, "reject"), "both", "model-training-validation-requirements.html", [dumps(haiku(i)) for i in range(100, 131)]),
    "haiku_reserved_in_answer": (HAIKU, FT, with_record(32, {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello\nHuman: hi"}]}, make=haiku), ("reject", "RESERVED_KEYWORD", 2, ""), (HAIKU_V, "reject"), "both", "model-customization-prepare.html"),
    # Distillation prompts.
    "distil_two_text_blocks": (HAIKU, DISTIL, with_record(100, {"schemaVersion": V, "messages": [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]}]}, make=distil), ("reject", "INVALID_CONTENT_BLOCK", 2, "messages[0].content"), (DISTIL_V, "reject"), "both", "distillation-data-prep-option-1.html"),
    "distil_99_prompts": (HAIKU, DISTIL, [dumps(distil(i)) for i in range(99)], ("reject", "TOO_FEW_RECORDS", 0, ""), (DISTIL_V, "reject"), "both", "distillation-data-prep-option-1.html"),
    "distil_nova_multi_turn": (NOVA_LITE, DISTIL, with_record(100, {"schemaVersion": V, "messages": [{"role": "user", "content": [{"text": "a"}]}, {"role": "assistant", "content": [{"text": "b"}]}, {"role": "user", "content": [{"text": "c"}]}]}, make=distil), ("accept", None), (DISTIL_V, "reject"), "guide", "distillation-data-prep-option-1.html"),
    # Nova 2 Lite SFT: reasoning, tools, documents, homogeneity, 200 records, no validation set.
    "nova2_reasoning": (NOVA2, FT, nova2(200, {"schemaVersion": V, "messages": [{"role": "user", "content": [{"text": "2+2?"}]}, REASONING]}), ("accept", None), (NOVA2_V, "accept"), "both", NOVA2_G),
    "nova2_reasoning_in_user": (NOVA2, FT, nova2(200, {"schemaVersion": V, "messages": [{"role": "user", "content": REASONING["content"]}, ANSWER]}), ("reject", "BLOCK_NOT_ALLOWED", 2, "messages[0].content[0].reasoningContent"), (NOVA2_V, "reject"), "both", NOVA2_G),
    "nova2_reasoning_empty": (NOVA2, FT, nova2(200, {"schemaVersion": V, "messages": [{"role": "user", "content": [{"text": "2+2?"}]}, {"role": "assistant", "content": [{"reasoningContent": {"reasoningText": {"text": ""}}}, {"text": "4"}]}]}), ("reject", "EMPTY_CONTENT", 2, "messages[1].content[0].reasoningContent.reasoningText.text"), (NOVA2_V, "reject"), "both", NOVA2_G),
    "nova1_reasoning": (NOVA_LITE, FT, with_record(8, {"schemaVersion": V, "messages": [{"role": "user", "content": [{"text": "2+2?"}]}, REASONING]}), ("reject", "BLOCK_NOT_ALLOWED", 2, "messages[1].content[0].reasoningContent"), (NOVA2_V, "reject"), "both", NOVA_G),
    "nova2_tool_calling": (NOVA2, FT, nova2(200, tools_record()), ("accept", "TOOL_USE_CAUTION"), (NOVA2_V, "accept"), "both", NOVA2_G),
    "nova2_tool_use_unknown_tool": (NOVA2, FT, nova2(200, tools_record(use_name="get_time")), ("reject", "TOOL_USE", 2, "messages[1].content[1].toolUse.name"), (NOVA2_V, "reject"), "both", NOVA2_G),
    "nova2_tool_result_unmatched": (NOVA2, FT, nova2(200, tools_record(result_id="t9")), ("reject", "TOOL_USE", 2, "messages[2].content[0].toolResult.toolUseId"), (NOVA2_V, "reject"), "both", NOVA2_G),
    "nova2_tool_result_in_assistant": (NOVA2, FT, nova2(200, tools_record(result_role="assistant")), ("reject", "BLOCK_NOT_ALLOWED", 2, "messages[3].content[1].toolResult"), (NOVA2_V, "reject"), "both", NOVA2_G),
    "nova1_tool_config": (NOVA_LITE, FT, with_record(8, tools_record()), ("reject", "BLOCK_NOT_ALLOWED", 2, "toolConfig"), (NOVA2_V, "accept"), "guide", NOVA_G),
    "nova2_document_pdf": (NOVA2, FT, nova2(200, record(PDF)), ("accept", None), (NOVA2_V, "accept"), "both", NOVA2_G),
    "nova2_two_documents": (NOVA2, FT, nova2(200, record(PDF, media("document", "pdf", "doc/b.pdf"))), ("reject", "MEDIA_LIMIT", 2, "messages[0].content[2].document"), (NOVA2_V, "reject"), "both", NOVA2_G),
    "nova1_document": (NOVA_LITE, FT, with_record(8, record(PDF)), ("reject", "MEDIA_NOT_SUPPORTED", 2, "messages[0].content[1].document"), (NOVA2_V, "accept"), "guide", NOVA_G),
    "nova2_webp_image": (NOVA2, FT, nova2(200, record(media("image", "webp", "img/a.webp"))), ("reject", "IMAGE_FORMAT", 2, "messages[0].content[1].image.format"), (NOVA2_V, "reject"), "both", NOVA2_G),
    "nova2_199_records": (NOVA2, FT, nova2(199), ("reject", "TOO_FEW_RECORDS", 0, ""), (NOVA2_V, "reject"), "both", NOVA2_G),
    "nova2_validation_file": (NOVA2, FT, nova2(200), ("reject", "VALIDATION_NOT_SUPPORTED", 0, ""), (NOVA2_V, "reject"), "both", NOVA2_G, [dumps(conv(i)) for i in range(300, 310)]),
}
# fmt: on
# The four kinds of disagreement AWS's Nova validator had with ours: each has cases above.
DISAGREEMENTS = {
    "video blocks": [
        "nova_video_mp4",
        "nova_video_webm",
        "nova_video_avi",
        "nova_two_videos",
        "nova_video_with_image",
        "nova_micro_video",
        "nova_video_in_assistant",
    ],
    "more than 10 images": ["nova_eleven_images", "nova_ten_images"],
    "record count bounds": ["nova_five_records", "nova_eight_records"],
    "media URI characters": [
        "nova_image_uri_space",
        "nova_video_uri_plus",
        "nova_image_uri_accented_letters",
    ],
}


def build(folder: Path) -> dict[str, Any]:
    """Write the case files into `folder`; return the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"cases": {}, "disagreements": DISAGREEMENTS}
    for name, (model, ctype, lines, ours, aws, follows, guide, *val) in CASES.items():
        write(folder / f"{name}.jsonl", lines)
        entry: dict[str, Any] = {
            "model": model,
            "customization": ctype,
            "guide": guide,
            "follows": follows,
        }
        entry["aws"] = {"validator": aws[0], "verdict": aws[1]}
        if ours[0] == "accept":
            entry["ours"] = {"verdict": "accept", "warning": ours[1]}
        else:
            entry["ours"] = {
                "verdict": "reject",
                "code": ours[1],
                "line": ours[2],
                "field": ours[3],
            }
        if val:
            write(folder / f"{name}.val.jsonl", val[0])
            entry["validation"] = f"{name}.val.jsonl"
        manifest["cases"][name] = entry
    return manifest


def manifest_text(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    import sys
    import tempfile

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="diff-"))
    result = build(out)
    (HERE / "differential.json").write_text(manifest_text(result))
    print(f"{len(result['cases'])} differential cases in {out}")
