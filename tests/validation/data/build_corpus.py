# ruff: noqa: E501, RUF005  (one defect per row reads better than wrapped rows)
"""Builds the validation test corpus: one file per defect, plus valid files of every format.

    .venv/bin/python tests/validation/data/build_corpus.py   # rewrites defects/, valid/, manifest

Each defective file is valid except for ONE defect, and the model it is checked against is
chosen so that nothing else fires (e.g. Haiku files carry Haiku's 32-record minimum). The
manifest records, per file, the model, customization type and the exact (code, line) expected;
tests/validation/test_corpus.py asserts that the validator reports exactly that and nothing else,
and that the committed files equal what this script writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"
TITAN = "amazon.titan-text-express-v1:0:8k"
NOVA_LITE = "amazon.nova-lite-v1:0:300k"
NOVA_MICRO = "amazon.nova-micro-v1:0:128k"
LLAMA32 = "meta.llama3-2-1b-instruct-v1:0:128k"
CONTAINER = "container/llama3"
FT, CPT, DISTIL = "FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"
V = "bedrock-conversation-2024"
IMG = {"format": "png", "source": {"s3Location": {"uri": "s3://my-data/img/cat.png"}}}


def dumps(record: Any) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


def haiku(i: int) -> dict[str, Any]:
    return {
        "system": "You answer in one sentence.",
        "messages": [
            {"role": "user", "content": f"What is {i} + {i}?"},
            {"role": "assistant", "content": f"{i} + {i} = {2 * i}."},
        ],
    }


def pc(i: int) -> dict[str, Any]:
    return {"prompt": f"Translate 'cat {i}' to French.", "completion": f"chat {i}"}


def conv(i: int, *, answer: bool = True) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"text": f"Summarise note {i}."}]}
    ]
    if answer:
        messages.append({"role": "assistant", "content": [{"text": f"Note {i} in brief."}]})
    return {"schemaVersion": V, "system": [{"text": "Be brief."}], "messages": messages}


def cpt(i: int) -> dict[str, Any]:
    return {"input": f"Section {i}. The quarterly report shows revenue grew by {i} percent."}


Maker = Callable[[int], dict[str, Any]]


def lines_with(make: Maker, n: int, at: int, bad: bytes) -> list[bytes]:
    """n valid records with `bad` as line `at` (1-based)."""
    good = [dumps(make(i)) for i in range(1, n + 1)]
    return [*good[: at - 1], bad, *good[at - 1 :]]


def conv_with(**changes: Any) -> bytes:
    record = conv(999)
    record.update(changes)
    return dumps(record)


def haiku_msgs(*messages: dict[str, Any], **top: Any) -> bytes:
    return dumps({"system": "s", "messages": list(messages), **top})


U = {"role": "user", "content": "Hi?"}
A = {"role": "assistant", "content": "Hello."}


def user_blocks(*blocks: Any) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": list(blocks)},
        {"role": "assistant", "content": [{"text": "ok"}]},
    ]


# name: (model, customization, lines, code, line[, validation lines])
# fmt: off
DEFECTS: dict[str, tuple[Any, ...]] = {
    # Line level: encoding and JSON
    "invalid_utf8": (TITAN, FT, lines_with(pc, 4, 3, b'{"prompt": "caf\xe9", "completion": "x"}'), "INVALID_UTF8", 3),
    "invalid_json_truncated": (TITAN, FT, lines_with(pc, 4, 2, b'{"prompt": "a", "completion": '), "INVALID_JSON", 2),
    "invalid_json_trailing_comma": (TITAN, FT, lines_with(pc, 4, 4, b'{"prompt": "a", "completion": "b",}'), "INVALID_JSON", 4),
    "invalid_json_nan": (TITAN, FT, lines_with(pc, 4, 1, b'{"prompt": "a", "completion": NaN}'), "INVALID_JSON", 1),
    "invalid_json_single_quotes": (TITAN, FT, lines_with(pc, 4, 2, b"{'prompt': 'a', 'completion': 'b'}"), "INVALID_JSON", 2),
    "utf8_bom": (TITAN, FT, [b"\xef\xbb\xbf" + dumps(pc(0)), *[dumps(pc(i)) for i in range(1, 4)]], "INVALID_JSON", 1),
    "two_records_one_line": (TITAN, FT, lines_with(pc, 4, 3, dumps(pc(90)) + b" " + dumps(pc(91))), "INVALID_JSON", 3),
    "blank_line": (TITAN, FT, lines_with(pc, 4, 3, b""), "BLANK_LINE", 3),
    "not_an_object_array": (TITAN, FT, lines_with(pc, 4, 2, b'["prompt", "completion"]'), "NOT_AN_OBJECT", 2),
    "not_an_object_string": (TITAN, FT, lines_with(pc, 4, 4, b'"just text"'), "NOT_AN_OBJECT", 4),
    # prompt/completion (Titan fine-tuning)
    "pc_missing_completion": (TITAN, FT, lines_with(pc, 4, 2, b'{"prompt": "a"}'), "MISSING_FIELD", 2),
    "pc_completion_number": (TITAN, FT, lines_with(pc, 4, 3, b'{"prompt": "a", "completion": 4}'), "WRONG_TYPE", 3),
    "pc_prompt_null": (TITAN, FT, lines_with(pc, 4, 1, b'{"prompt": null, "completion": "b"}'), "WRONG_TYPE", 1),
    "pc_empty_completion": (TITAN, FT, lines_with(pc, 4, 4, b'{"prompt": "a", "completion": ""}'), "EMPTY_CONTENT", 4),
    "pc_whitespace_prompt": (TITAN, FT, lines_with(pc, 4, 2, b'{"prompt": " \\n\\t", "completion": "b"}'), "EMPTY_CONTENT", 2),
    "unknown_format": (TITAN, FT, lines_with(pc, 4, 2, b'{"question": "a", "answer": "b"}'), "UNKNOWN_FORMAT", 2),
    "pc_file_with_messages_record": (TITAN, FT, lines_with(pc, 4, 3, dumps(haiku(3))), "FORMAT_MISMATCH", 3),
    # Claude 3 Haiku messages (32-record minimum: 32 good records + the defect)
    "haiku_assistant_first": (HAIKU, FT, lines_with(haiku, 32, 5, haiku_msgs(A, U, A)), "ROLE_ORDER", 5),
    "haiku_ends_on_user": (HAIKU, FT, lines_with(haiku, 32, 6, haiku_msgs(U, A, U)), "ROLE_ORDER", 6),
    "haiku_two_user_turns": (HAIKU, FT, lines_with(haiku, 32, 7, haiku_msgs(U, U, A)), "ROLE_ORDER", 7),
    "haiku_single_message": (HAIKU, FT, lines_with(haiku, 32, 8, haiku_msgs(U)), "ROLE_ORDER", 8),
    "haiku_system_role": (HAIKU, FT, lines_with(haiku, 32, 9, haiku_msgs({"role": "system", "content": "x"}, U, A)), "INVALID_ROLE", 9),
    "haiku_missing_role": (HAIKU, FT, lines_with(haiku, 32, 10, haiku_msgs({"content": "x"}, A)), "MISSING_FIELD", 10),
    "haiku_content_blocks": (HAIKU, FT, lines_with(haiku, 32, 11, haiku_msgs({"role": "user", "content": [{"text": "x"}]}, A)), "WRONG_TYPE", 11),
    "haiku_system_list": (HAIKU, FT, lines_with(haiku, 32, 12, haiku_msgs(U, A, system=[{"text": "x"}])), "WRONG_TYPE", 12),
    "haiku_empty_messages": (HAIKU, FT, lines_with(haiku, 32, 13, haiku_msgs()), "EMPTY_CONTENT", 13),
    "haiku_empty_answer": (HAIKU, FT, lines_with(haiku, 32, 14, haiku_msgs(U, {"role": "assistant", "content": ""})), "EMPTY_CONTENT", 14),
    "haiku_message_extra_field": (HAIKU, FT, lines_with(haiku, 32, 15, haiku_msgs(U, {**A, "name": "bot"})), "UNKNOWN_FIELD", 15),
    "haiku_messages_not_list": (HAIKU, FT, lines_with(haiku, 32, 16, dumps({"messages": {"role": "user"}})), "WRONG_TYPE", 16),
    "haiku_prompt_completion_record": (HAIKU, FT, lines_with(haiku, 32, 17, dumps(pc(1))), "FORMAT_MISMATCH", 17),
    "haiku_token_limit": (HAIKU, FT, lines_with(haiku, 32, 18, haiku_msgs(U, {"role": "assistant", "content": "word " * 20_000})), "TOKEN_LIMIT", 18),
    "haiku_duplicate": (HAIKU, FT, lines_with(haiku, 32, 19, dumps(haiku(4))), "DUPLICATE_RECORD", 19),
    "haiku_too_few_records": (HAIKU, FT, [dumps(haiku(i)) for i in range(10)], "TOO_FEW_RECORDS", 0),
    "haiku_validation_overlap": (HAIKU, FT, [dumps(haiku(i)) for i in range(40)], "TRAIN_VALIDATION_OVERLAP", 2,
                                 [dumps(haiku(100)), dumps(haiku(7)), *[dumps(haiku(i)) for i in range(101, 132)]]),
    "haiku_validation_too_many": (HAIKU, FT, [dumps(haiku(i)) for i in range(33)], "TOO_MANY_RECORDS", 0,
                                  [dumps(haiku(i)) for i in range(1000, 2001)]),
    # Converse (Nova Lite fine-tuning: images allowed, reserved keywords, 8-record minimum)
    "converse_missing_schema_version": (NOVA_LITE, FT, lines_with(conv, 8, 2, dumps({k: v for k, v in conv(9).items() if k != "schemaVersion"})), "MISSING_FIELD", 2),
    "converse_wrong_schema_version": (LLAMA32, FT, lines_with(conv, 100, 3, conv_with(schemaVersion="bedrock-conversion-2024")), "SCHEMA_VERSION", 3),
    "converse_content_string": (NOVA_LITE, FT, lines_with(conv, 8, 4, conv_with(messages=[{"role": "user", "content": [{"text": "a"}]}, {"role": "assistant", "content": "b"}])), "WRONG_TYPE", 4),
    "converse_empty_content": (NOVA_LITE, FT, lines_with(conv, 8, 1, conv_with(messages=user_blocks()[:1] + [{"role": "assistant", "content": []}])), "EMPTY_CONTENT", 1),
    "converse_text_and_image_block": (NOVA_LITE, FT, lines_with(conv, 8, 2, conv_with(messages=user_blocks({"text": "a", "image": IMG}))), "INVALID_CONTENT_BLOCK", 2),
    "converse_image_in_assistant": (NOVA_LITE, FT, lines_with(conv, 8, 3, conv_with(messages=[{"role": "user", "content": [{"text": "a"}]}, {"role": "assistant", "content": [{"image": IMG}]}])), "IMAGE_NOT_ALLOWED", 3),
    "converse_image_bmp": (NOVA_LITE, FT, lines_with(conv, 8, 4, conv_with(messages=user_blocks({"text": "a"}, {"image": {**IMG, "format": "bmp"}}))), "IMAGE_FORMAT", 4),
    "converse_image_https_uri": (NOVA_LITE, FT, lines_with(conv, 8, 1, conv_with(messages=user_blocks({"image": {**IMG, "source": {"s3Location": {"uri": "https://example.com/a.png"}}}}))), "IMAGE_URI", 1),
    "converse_image_bad_owner": (NOVA_LITE, FT, lines_with(conv, 8, 2, conv_with(messages=user_blocks({"image": {**IMG, "source": {"s3Location": {"uri": "s3://my-data/a.png", "bucketOwner": "12345"}}}}))), "IMAGE_URI", 2),
    "converse_image_extra_field": (NOVA_LITE, FT, lines_with(conv, 8, 3, conv_with(messages=user_blocks({"image": {**IMG, "size": 10}}))), "UNKNOWN_FIELD", 3),
    "converse_video_no_source": (NOVA_LITE, FT, lines_with(conv, 8, 4, conv_with(messages=user_blocks({"video": {"format": "mp4"}}))), "MISSING_FIELD", 4),
    "converse_system_string": (NOVA_LITE, FT, lines_with(conv, 8, 1, conv_with(system="Be brief.")), "WRONG_TYPE", 1),
    "converse_reserved_keyword": (NOVA_LITE, FT, lines_with(conv, 8, 2, conv_with(messages=user_blocks({"text": "User: what now?"}))), "RESERVED_KEYWORD", 2),
    "converse_images_on_text_model": (NOVA_MICRO, FT, lines_with(conv, 8, 3, conv_with(messages=user_blocks({"text": "a"}, {"image": IMG}))), "MEDIA_NOT_SUPPORTED", 3),
    # Continued pre-training (Titan Express)
    "cpt_empty_input": (TITAN, CPT, lines_with(cpt, 4, 2, b'{"input": ""}'), "EMPTY_CONTENT", 2),
    "cpt_input_list": (TITAN, CPT, lines_with(cpt, 4, 3, b'{"input": ["a", "b"]}'), "WRONG_TYPE", 3),
    "cpt_extra_field": (TITAN, CPT, lines_with(cpt, 4, 4, b'{"input": "a", "source": "web"}'), "UNKNOWN_FIELD", 4),
    "cpt_token_limit": (TITAN, CPT, lines_with(cpt, 4, 1, dumps({"input": "x" * 9000})), "TOKEN_LIMIT", 1),
    "cpt_prompt_completion_record": (TITAN, CPT, lines_with(cpt, 4, 2, dumps(pc(2))), "FORMAT_MISMATCH", 2),
    # Distillation (Claude/Llama students: single turn, 100-record minimum)
    "distil_multi_turn": (HAIKU, DISTIL, lines_with(lambda i: conv(i, answer=False), 100, 50, conv_with(messages=user_blocks({"text": "a"}) + user_blocks({"text": "b"}))), "MULTI_TURN_NOT_SUPPORTED", 50),
    "distil_haiku_format": (HAIKU, DISTIL, lines_with(lambda i: conv(i, answer=False), 100, 60, dumps(haiku(1))), "FORMAT_MISMATCH", 60),
    # Our container: several formats allowed, one per file
    "container_mixed_formats": (CONTAINER, FT, [dumps(pc(1)), dumps(haiku(2)), dumps(pc(3))], "FORMAT_MISMATCH", 2),
    "container_cpt_record_in_fine_tuning": (CONTAINER, FT, [dumps(cpt(1)), dumps(pc(2))], "FORMAT_MISMATCH", 1),
    "empty_file": (TITAN, FT, [], "EMPTY_FILE", 0),
}
# fmt: on

VALID: dict[str, tuple[str, str, list[bytes]]] = {
    "haiku_messages": (
        HAIKU,
        FT,
        [dumps(haiku(i)) for i in range(40)]
        + [
            dumps(
                {
                    "messages": [
                        U,
                        A,
                        {"role": "user", "content": "Und auf Deutsch? Ünïcödé ✓ 日本語"},
                        {"role": "assistant", "content": "Ja."},
                    ]
                }
            )
        ],
    ),
    "prompt_completion": (TITAN, FT, [dumps(pc(i)) for i in range(20)]),
    "converse_text": (LLAMA32, FT, [dumps(conv(i)) for i in range(100)]),
    "converse_images_multi_turn": (
        NOVA_LITE,
        FT,
        [
            dumps(
                {
                    **conv(i),
                    "messages": user_blocks({"text": f"Describe {i}"}, {"image": IMG})
                    + user_blocks({"text": "More?"}),
                }
            )
            for i in range(10)
        ],
    ),
    "continued_pretraining": (TITAN, CPT, [dumps(cpt(i)) for i in range(20)]),
    "distillation_prompts": (
        HAIKU,
        DISTIL,
        [dumps(conv(i, answer=i % 2 == 0)) for i in range(120)],
    ),
    "container_prompt_completion": (CONTAINER, FT, [dumps(pc(i)) for i in range(10)]),
}


def write(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def build(root: Path = HERE) -> dict[str, Any]:
    manifest: dict[str, Any] = {"defects": {}, "valid": {}}
    for sub in ("defects", "valid"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name, (model, ctype, lines, code, line, *val) in DEFECTS.items():
        write(root / "defects" / f"{name}.jsonl", lines)
        entry = {"model": model, "customization": ctype, "code": code, "line": line}
        if val:
            write(root / "defects" / f"{name}.val.jsonl", val[0])
            entry["validation"] = f"{name}.val.jsonl"
        manifest["defects"][name] = entry
    for name, (model, ctype, lines) in VALID.items():
        write(root / "valid" / f"{name}.jsonl", lines)
        manifest["valid"][name] = {"model": model, "customization": ctype}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


if __name__ == "__main__":
    result = build()
    print(f"{len(result['defects'])} defective files, {len(result['valid'])} valid files")
