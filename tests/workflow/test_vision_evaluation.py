"""A Llama 3.2 Vision run evaluated on image records, in moto's interpreter against the real
handlers: the evaluation function reads each image the test set names (with its own role: the
authorization ledger checks that GetObject against the synthesized policies) and sends its
bytes to the imported model and to the Bedrock base model through Converse."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from tests.support.workflow import Workflow
from tests.workflow.runs import WEIGHTS, upload_weights

VISION_BASE = "us.meta.llama3-2-11b-instruct-v1:0"  # a cross-region inference profile
COLOURS = ("red", "green", "blue")


def png(colour: str, size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def record(uri: str, answer: str, question: str) -> dict[str, Any]:
    image = {"format": "png", "source": {"s3Location": {"uri": uri}}}
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "Answer with the colour."}],
        "messages": [
            {"role": "user", "content": [{"image": image}, {"text": question}]},
            {"role": "assistant", "content": [{"text": answer}]},
        ],
    }


def test_vision_run_is_evaluated_on_the_bytes_of_the_images_its_test_set_names(
    workflow: Workflow,
) -> None:
    bucket = workflow.training_bucket
    images = {
        f"s3://{bucket}/photos/test-{i}.png": png(colour, (8 + i, 8))
        for i, colour in enumerate(COLOURS)
    }
    for uri, body in images.items():
        workflow.s3.put_object(Bucket=bucket, Key=uri.split("/", 3)[3], Body=body)
    train_image = f"s3://{bucket}/photos/train.png"
    workflow.s3.put_object(Bucket=bucket, Key="photos/train.png", Body=png("red", (8, 8)))
    train = workflow.put_jsonl(
        "vision/train.jsonl", [record(train_image, "red", f"Colour {i}?") for i in range(4)]
    )
    questions = {f"What colour is photo {i}?": c for i, c in enumerate(COLOURS)}
    test = workflow.put_jsonl(
        "vision/test.jsonl",
        [record(uri, c, q) for uri, (q, c) in zip(images, questions.items(), strict=True)],
    )
    base = upload_weights(workflow, "weights/vision/", WEIGHTS)
    # The imported model names the colour; the base model does not know.

    def answer(model: str, question: str) -> str:
        return questions[question] if "imported-model" in model else "I am not sure."

    workflow.emulator.answer = answer
    document = {
        "runName": "vision-eval-1",
        "baseModelId": "container/llama3-vision",
        "trainer": "container",
        "trainingDataUri": train,
        "container": {"baseWeightsUri": base},
        "evaluation": {
            "testDataUri": test,
            "baseModelId": VISION_BASE,
            "batchSize": 2,
            "concurrency": 1,
        },
    }
    result = workflow.run(document)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    imported = result.output["outputs"]["importedModelArn"]
    calls = workflow.emulator.requests("bedrock-runtime", "Converse")
    assert len(calls) == 2 * len(images)
    expected = {
        question: [{"image": {"format": "png", "source": {"bytes": body}}}, {"text": question}]
        for body, question in zip(images.values(), questions, strict=True)
    }
    for model in (imported, VISION_BASE):
        sent = [c for c in calls if c["modelId"] == model]
        assert [c["system"] for c in sent] == [[{"text": "Answer with the colour."}]] * 3
        # Each record's image, as the bytes of the object it names, then the question.
        assert {
            c["messages"][0]["content"][1]["text"]: c["messages"][0]["content"] for c in sent
        } == (expected)
    # The evaluation function read each image itself (the ledger checks its role may).
    read = [p["Key"] for s, o, p in workflow.emulator.calls if s == "s3" and o == "GetObject"]
    assert {f"photos/test-{i}.png" for i in range(3)} <= set(read)
    evaluation = result.output["outputs"]["evaluation"]
    assert evaluation["metrics"]["errors"] == {"custom": 0, "base": 0}
    assert evaluation["metrics"]["exactMatch"] == {"custom": 1.0, "base": 0.0}
    assert evaluation["decision"] == "promoted"
