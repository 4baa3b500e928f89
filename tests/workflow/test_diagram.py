"""The state machine pictured in README.md and docs/workflow.md is the synthesized one."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from tests.support.assembly import Assembly
from tools.state_diagram import (
    BEGIN,
    DOCUMENTS,
    END,
    definition_from_template,
    mermaid,
    replace_block,
)


def _state_names(machine: Mapping[str, Any]) -> Iterator[str]:
    for name, state in machine["States"].items():
        yield name
        for branch in state.get("Branches", []):
            yield from _state_names(branch)
        if "ItemProcessor" in state:
            yield from _state_names(state["ItemProcessor"])


def test_documents_show_the_synthesized_state_machine(
    dev_assembly: Assembly, prod_assembly: Assembly
) -> None:
    dev = mermaid(definition_from_template(dev_assembly.template("-workflow")))
    assert dev == mermaid(definition_from_template(prod_assembly.template("-workflow")))
    for path in DOCUMENTS:
        assert f"{BEGIN}\n{dev}{END}" in path.read_text(), f"{path.name} is stale: run `make synth`"


def test_every_state_is_drawn_once_with_its_name(dev_assembly: Assembly) -> None:
    definition = definition_from_template(dev_assembly.template("-workflow"))
    names = list(_state_names(definition))
    assert len(names) > 40 and "Prepare run" in names and "Run batch" in names
    labels = re.findall(r'\bs\d+(?:\["|\{"|\(\["| \[")([^"]+)"', mermaid(definition))
    assert sorted(labels) == sorted(names)


def test_shapes_and_labelled_edges() -> None:
    definition = {
        "StartAt": "Run",
        "States": {
            "Run": {
                "Type": "Parallel",
                "Next": "Done",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
                "Branches": [
                    {
                        "StartAt": "Ready?",
                        "States": {
                            "Ready?": {
                                "Type": "Choice",
                                "Choices": [
                                    {"Variable": "$.ready", "BooleanEquals": True, "Next": "Go"},
                                    {
                                        "And": [
                                            {"Variable": "$.n", "NumericGreaterThan": 3},
                                            {"Variable": "$.k", "IsPresent": True},
                                        ],
                                        "Next": "Go",
                                    },
                                ],
                                "Default": "Wait",
                            },
                            "Wait": {"Type": "Wait", "Seconds": 5, "Next": "Ready?"},
                            "Go": {"Type": "Task", "Resource": "${Fn::GetAtt}", "End": True},
                        },
                    }
                ],
            },
            "Done": {"Type": "Succeed"},
            "Failed": {"Type": "Fail"},
        },
    }
    lines = mermaid(definition).splitlines()
    assert lines[:2] == ["```mermaid", "flowchart TD"] and lines[-1] == "```"
    body = "\n".join(lines)
    assert 'subgraph s0 ["Run"]' in body
    assert 's3{"Ready?"} -->|"ready = true"| s5["Go"]' in body
    assert 's3 -->|"n > 3 and k present"| s5' in body
    assert 's3 -->|"otherwise"| s4["Wait"]' in body and "s4 --> s3" in body
    assert 's0 -->|"error: States.ALL"| s2(["Failed"])' in body
    assert 's0 --> s1(["Done"])' in body and "start((start)) --> s0" in body


def test_replace_block_keeps_the_rest_of_the_document(tmp_path: Any) -> None:
    text = f"# T\n\nbefore\n{BEGIN}\nold\n{END}\nafter\n"
    assert replace_block(text, "new\n", tmp_path) == f"# T\n\nbefore\n{BEGIN}\nnew\n{END}\nafter\n"
