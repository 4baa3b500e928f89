"""Property tests: valid records always pass; any single schema-breaking mutation is caught."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bedrock_pipeline.format_fastpath import record_texts
from bedrock_pipeline.formats import DEFAULT_DIALECT, DatasetFormat, FormatError, to_conversation
from bedrock_pipeline.registry import MODELS, CustomizationType, get_model
from bedrock_pipeline.sources import LocalFile
from bedrock_pipeline.validation import validate_dataset

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
text = st.text(min_size=1, max_size=40).filter(lambda s: not s.isspace())
image = st.fixed_dictionaries(
    {
        "format": st.sampled_from(["png", "jpeg", "gif", "webp"]),
        "source": st.fixed_dictionaries(
            {
                "s3Location": st.fixed_dictionaries(
                    {
                        "uri": st.from_regex(
                            r"s3://[a-z0-9]{3,20}/[a-z0-9/]{1,20}\.png", fullmatch=True
                        )
                    },
                    optional={"bucketOwner": st.from_regex(r"[0-9]{12}", fullmatch=True)},
                )
            }
        ),
    }
)


@st.composite
def turns(draw: st.DrawFn) -> list[str]:
    n = draw(st.integers(1, 3))
    return ["user", "assistant"] * n


@st.composite
def messages_record(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = {
        "messages": [{"role": r, "content": draw(text)} for r in draw(turns())]
    }
    if draw(st.booleans()):
        record["system"] = draw(text)
    return record


@st.composite
def converse_record(draw: st.DrawFn, images: bool = True) -> dict[str, Any]:
    messages = []
    for role in draw(turns()):
        blocks: list[dict[str, Any]] = [
            {"text": t} for t in draw(st.lists(text, min_size=1, max_size=2))
        ]
        if images and role == "user" and draw(st.booleans()):
            blocks.append({"image": draw(image)})
        messages.append({"role": role, "content": blocks})
    record: dict[str, Any] = {"schemaVersion": "bedrock-conversation-2024", "messages": messages}
    if draw(st.booleans()):
        record["system"] = [{"text": draw(text)}]
    return record


RECORDS = {
    DatasetFormat.MESSAGES: messages_record(),
    DatasetFormat.PROMPT_COMPLETION: st.fixed_dictionaries({"prompt": text, "completion": text}),
    DatasetFormat.CONVERSE: converse_record(),
    DatasetFormat.CONTINUED_PRETRAINING: st.fixed_dictionaries({"input": text}),
}
any_record = st.sampled_from(list(RECORDS)).flatmap(lambda f: st.tuples(st.just(f), RECORDS[f]))
OPTIONAL_KEYS = {"system", "bucketOwner"}


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position in a record: dict keys and list items, depth first."""
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*path, i))
    return found


def _parent(record: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        record = record[step]
    return record


def _get(record: Any, path: tuple[Any, ...]) -> Any:
    return _parent(record, path)[path[-1]]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[DatasetFormat, dict[str, Any], str]:
    """A valid record with ONE change that the schema forbids."""
    fmt, record = draw(any_record)
    record = copy.deepcopy(record)
    paths = _paths(record)
    leaves = [p for p in paths if isinstance(_get(record, p), str)]
    kinds = ["retype", "empty", "delete", "add_key", "drop_message"]
    if fmt is DatasetFormat.PROMPT_COMPLETION:  # other top-level keys are ignored, not refused
        kinds = ["retype", "empty", "delete"]
    kind = draw(st.sampled_from(kinds))
    if kind == "retype":  # any string leaf (text, role, uri, format, version) as a number
        path = draw(st.sampled_from(leaves))
        # A null system prompt means none (AWS's Haiku validator: Optional[str]): not a break.
        values = [0, 1.5, True, [], {}] + ([] if path == ("system",) else [None])
        _parent(record, path)[path[-1]] = draw(st.sampled_from(values))
    elif kind == "empty":
        texts = [p for p in leaves if p[-1] in ("content", "text", "prompt", "completion", "input")]
        path = draw(st.sampled_from(texts))
        _parent(record, path)[path[-1]] = draw(st.sampled_from(["", " ", "\n\t"]))
    elif kind == "delete":  # a required key
        keys = [p for p in paths if isinstance(p[-1], str) and p[-1] not in OPTIONAL_KEYS]
        path = draw(st.sampled_from(keys))
        del _parent(record, path)[path[-1]]
    elif kind == "add_key":  # an unknown key in any object
        objects = [()] + [p for p in paths if isinstance(_get(record, p), dict)]
        path = draw(st.sampled_from(objects))
        target = record if not path else _get(record, path)
        target["extra_" + draw(st.from_regex(r"[a-z]{1,8}", fullmatch=True))] = "x"
    else:  # remove one message: breaks first-user / alternation / last-assistant
        if "messages" not in record:
            record["messages"] = "not a list"
        else:
            del record["messages"][draw(st.integers(0, len(record["messages"]) - 1))]
    return fmt, record, kind


@SETTINGS
@given(any_record)
def test_valid_records_always_parse(case: tuple[DatasetFormat, dict[str, Any]]) -> None:
    fmt, record = case
    conversation = to_conversation(record, fmt)
    assert conversation.turns[-1].role == "assistant"
    assert to_conversation(json.loads(json.dumps(record))) == conversation  # detection agrees


@SETTINGS
@given(mutated())
def test_any_schema_breaking_mutation_is_caught(
    case: tuple[DatasetFormat, dict[str, Any], str],
) -> None:
    fmt, record, kind = case
    try:
        to_conversation(record, fmt)
    except FormatError as err:
        assert err.code and err.message
    else:
        raise AssertionError(f"{kind} mutation not caught: {record}")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(text, text), min_size=1, max_size=30, unique=True), st.data())
def test_valid_files_always_pass_and_a_mutated_line_is_pinpointed(
    tmp_path: Path, pairs: list[tuple[str, str]], data: st.DataObject
) -> None:
    """Whole files through the streaming validator (container: 1-record minimum, no quotas)."""
    records: list[dict[str, object]] = [
        {"prompt": f"{i}: {p}", "completion": c} for i, (p, c) in enumerate(pairs)
    ]
    model = get_model("container/llama3")
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = validate_dataset(
        LocalFile(str(path)), model=model, customization=CustomizationType.FINE_TUNING
    )
    assert report.valid, [str(i) for i in report.issues("error")]
    bad = data.draw(st.integers(0, len(records) - 1))
    records[bad] = {**records[bad], "completion": data.draw(st.sampled_from(["", 7, None]))}
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = validate_dataset(
        LocalFile(str(path)), model=model, customization=CustomizationType.FINE_TUNING
    )
    assert [(i.line, i.field) for i in report.issues("error")] == [(bad + 1, "completion")]


# Every dialect of the registry, so a rule of one model cannot slip past the fast path.
DIALECTS = sorted(
    {lim.converse for spec in MODELS.values() for lim in spec.customizations.values()}
    | {DEFAULT_DIALECT},
    key=repr,
)


@SETTINGS
@given(
    st.one_of(any_record.map(lambda c: (c[0], c[1], "valid")), mutated()),
    st.booleans(),
    st.sampled_from(DIALECTS),
)
def test_fast_path_never_disagrees_with_the_parser(
    case: tuple[DatasetFormat, dict[str, Any], str], require_answer: bool, dialect: Any
) -> None:
    """The validator's accelerator only says "valid" where to_conversation does, same texts."""
    fmt, record, _ = case
    fast = record_texts(record, fmt, require_answer, dialect)
    try:
        conv = to_conversation(record, fmt, require_answer=require_answer, dialect=dialect)
    except FormatError:
        assert fast is None
        return
    if fast is None:
        # the only valid records it leaves to the parser: media, or keys Bedrock ignores
        assert conv.has_images or conv.ignored_fields
    else:
        texts = [t.text for t in conv.turns] + ([conv.system] if conv.system else [])
        assert fast == (texts, len(conv.turns))
