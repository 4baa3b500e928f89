"""EMULATION of Bedrock Runtime: Converse and InvokeModel answered by local weights.

A model id maps to a Hugging Face checkpoint directory (``--model ID=DIR``; imported models are
registered by the emulated Custom Model Import). The answer is transformers' greedy ``generate``
over the tokenizer's chat template; ``outputTokens`` is the number of tokens generated before
the end-of-turn token, ``inputTokens`` the prompt's, both counted by the model's own tokenizer.

Responses follow the shapes the evaluation step reads (Converse: ``output.message.content``,
``stopReason``, ``usage``; InvokeModel with an OpenAI-style chat body: ``choices``, ``usage``);
a model without local weights is a ``ResourceNotFoundException`` that names the option to pass.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.response import StreamingBody

from bedrock_pipeline.local.emulated_bedrock import client_error
from bedrock_pipeline.run_spec import inference_model_id

# Bedrock-trained models (customization jobs) have no weights here: their ARNs look like these.
BEDROCK_TRAINED = re.compile(r":(provisioned-model|custom-model|custom-model-deployment)/")


@dataclass(frozen=True)
class Generation:
    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str  # end_turn | max_tokens
    latency_ms: int


class LocalModels:
    """Model id -> checkpoint directory; loads each once, generates one request at a time
    (two CPU cores: concurrent generate calls only contend)."""

    def __init__(self, weights: dict[str, Path] | None = None) -> None:
        self.weights: dict[str, Path] = {}
        for model_id, directory in (weights or {}).items():
            self.register(model_id, directory)
        # Set by local mode for trainer=bedrock runs: the Bedrock-trained model's stand-in.
        self.bedrock_trained_stand_in: Path | None = None
        # Bedrock models without weights here that another model's weights answer for.
        self.stand_ins: dict[str, str] = {}
        self.served: dict[str, str] = {}  # model id -> what answered it (for the run summary)
        self._loaded: dict[Path, tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def register(self, model_id: str, directory: Path) -> None:
        """``model_id`` and its inference id (without the ``:<n>k`` context suffix)."""
        self.weights[model_id] = self.weights[inference_model_id(model_id)] = directory

    def stand_in(self, model_id: str, weights_of: str) -> bool:
        """EMULATED: answer ``model_id`` (a Bedrock model, e.g. the evaluation's base model)
        with the weights registered for ``weights_of``, unless ``model_id`` has weights of its
        own (``--model``); whether the stand-in applies."""
        if self._weights(model_id) is not None or self._weights(weights_of) is None:
            return False
        self.stand_ins[model_id] = weights_of
        return True

    def _weights(self, model_id: str) -> Path | None:
        for candidate in (model_id, inference_model_id(model_id)):
            if candidate in self.weights:
                return self.weights[candidate]
        return None

    def resolve(self, model_id: str, operation: str) -> Path:
        own = self._weights(model_id)
        if own is not None:
            self.served.setdefault(model_id, f"local weights {own}")
            return own
        if model_id in self.stand_ins:
            source = self.stand_ins[model_id]
            directory = self._weights(source)
            assert directory is not None
            self.served.setdefault(
                model_id,
                f"EMULATED: {model_id} has no weights here; the local weights of {source} "
                f"({directory}) answer for it",
            )
            return directory
        if BEDROCK_TRAINED.search(model_id) and self.bedrock_trained_stand_in is not None:
            self.served.setdefault(
                model_id,
                "EMULATED: a Bedrock-trained model has no weights here; its base model's local "
                f"weights ({self.bedrock_trained_stand_in}) answer for it",
            )
            return self.bedrock_trained_stand_in
        raise client_error(
            "ResourceNotFoundException",
            f"local mode has no weights for model {model_id}; pass --model {model_id}=DIR "
            "(a Hugging Face checkpoint directory)",
            operation,
            404,
        )

    def _load(self, directory: Path) -> tuple[Any, Any]:
        if directory not in self._loaded:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            torch.set_num_threads(1)  # one generate at a time, beside the other local work
            tokenizer = AutoTokenizer.from_pretrained(directory)
            model = AutoModelForCausalLM.from_pretrained(directory, torch_dtype=torch.float32)
            model.eval()
            self._loaded[directory] = (tokenizer, model)
        return self._loaded[directory]

    def generate(
        self, model_id: str, messages: list[dict[str, str]], max_tokens: int, operation: str
    ) -> Generation:
        directory = self.resolve(model_id, operation)
        import torch

        with self._lock:
            started = time.perf_counter()
            tokenizer, model = self._load(directory)
            ids = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt"
            )
            with torch.no_grad():
                out = model.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=max_tokens,
                    do_sample=False,
                    eos_token_id=tokenizer.eos_token_id,
                    pad_token_id=tokenizer.pad_token_id,
                )
            generated = out[0, ids.shape[1] :].tolist()
            ended = tokenizer.eos_token_id in generated
            if ended:
                generated = generated[: generated.index(tokenizer.eos_token_id)]
            text = tokenizer.decode(generated, skip_special_tokens=True).strip()
            return Generation(
                text=text,
                input_tokens=int(ids.shape[1]),
                output_tokens=len(generated),
                stop_reason="end_turn" if ended else "max_tokens",
                latency_ms=int((time.perf_counter() - started) * 1000),
            )

    # -- the two Bedrock Runtime operations -------------------------------------------------------
    def converse(self, params: dict[str, Any]) -> dict[str, Any]:
        messages = [{"role": "system", "content": s["text"]} for s in params.get("system", [])]
        for message in params["messages"]:
            text = "".join(part.get("text", "") for part in message["content"])
            messages.append({"role": message["role"], "content": text})
        max_tokens = int(params.get("inferenceConfig", {}).get("maxTokens", 512))
        g = self.generate(params["modelId"], messages, max_tokens, "Converse")
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": g.text}]}},
            "stopReason": g.stop_reason,
            "usage": {
                "inputTokens": g.input_tokens,
                "outputTokens": g.output_tokens,
                "totalTokens": g.input_tokens + g.output_tokens,
            },
            "metrics": {"latencyMs": g.latency_ms},
        }

    def invoke_model(self, params: dict[str, Any]) -> dict[str, Any]:
        body = json.loads(params["body"])
        if "messages" not in body:
            raise client_error(
                "ValidationException",
                "local mode answers InvokeModel with an OpenAI-style chat body "
                '({"messages": [...], "max_tokens": N}) only',
                "InvokeModel",
            )
        messages = [{"role": m["role"], "content": str(m["content"])} for m in body["messages"]]
        g = self.generate(
            params["modelId"], messages, int(body.get("max_tokens", 512)), "InvokeModel"
        )
        data = json.dumps(
            {
                "choices": [
                    {
                        "message": {"role": "assistant", "content": g.text},
                        "finish_reason": "stop" if g.stop_reason == "end_turn" else "length",
                    }
                ],
                "usage": {"prompt_tokens": g.input_tokens, "completion_tokens": g.output_tokens},
            }
        ).encode()
        return {
            "body": StreamingBody(io.BytesIO(data), len(data)),
            "contentType": "application/json",
        }
