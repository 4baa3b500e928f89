"""Image records for Llama 3.2 Vision: read, check every image, encode, batch (no packing).

Records are Bedrock's Converse format (`bedrock-conversation-2024`) with `image` blocks in user
turns, parsed and validated by `bedrock_pipeline.formats` under the registry row's dialect. The
image bytes come from the `images` input channel, never from S3 at run time: each referenced
object is expected at its key under the channel, so `s3://b/k/x.png` is read from
`$SM_CHANNEL_IMAGES/k/x.png` (the workflow fills the channel from a manifest of exactly those
objects: bedrock_pipeline.image_manifest, docs/training-vision.md).

Every image is opened and checked before training starts (format png/jpeg/gif/webp as declared,
file size, pixel count); a failure names the file, line, field and image. Pixels are made by the
base model's own image processor (preprocessor_config.json) only when a batch is built, so the
dataset is never held decoded in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from bedrock_pipeline.converse import IMAGE_FORMATS
from bedrock_pipeline.formats import DatasetFormat, detect_format, iter_jsonl, to_conversation
from bedrock_pipeline.image_manifest import MAX_IMAGE_BYTES, ManifestError, channel_path
from bedrock_pipeline.model_spec import CustomizationType
from bedrock_pipeline.registry import get_model
from bedrock_pipeline.training_contract import CHANNEL_IMAGES
from training_image.trainer.chat import IGNORE, render_messages
from training_image.trainer.data import DataError, channel_files, source_name

REGISTRY_ROW = "container/llama3-vision"
IMAGE_TOKEN = "<|image|>"
# Bedrock's Llama 3.2 pages give no pixel limit (the processor scales to at most 4 tiles of
# 560 px anyway); this bound only refuses decompression bombs before Pillow decodes them.
MAX_IMAGE_PIXELS = 8000 * 8000
PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "GIF": "gif", "WEBP": "webp"}


class ImageError(DataError):
    """An image of a record is missing, unreadable, of the wrong format or too large."""


@dataclass(frozen=True)
class ImageRef:
    path: Path
    where: str  # PATH:LINE field (the record and block that named it)


@dataclass(frozen=True)
class VisionExample:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    images: tuple[ImageRef, ...]


@dataclass(frozen=True)
class VisionChannel:
    examples: tuple[VisionExample, ...]
    records: int
    images: int
    truncated: int

    @property
    def label_tokens(self) -> int:
        return sum(sum(1 for x in e.labels if x != IGNORE) for e in self.examples)


def resolve(uri: str, images_dir: Path | None, where: str) -> Path:
    if images_dir is None:
        raise ImageError(
            f"{where}: {uri}: the job has no '{CHANNEL_IMAGES}' input channel; image records "
            "need the referenced objects at their keys under it"
        )
    try:
        key = channel_path(uri)
    except ManifestError as exc:
        raise ImageError(f"{where}: {exc}") from None
    path = (images_dir / key).resolve()
    if not path.is_relative_to(images_dir.resolve()):
        raise ImageError(f"{where}: {uri}: the key leaves the images channel")
    return path


def check_image(path: Path, declared: str, where: str) -> None:
    """Raise ImageError unless `path` is a readable `declared` image within the limits."""
    if not path.is_file():
        raise ImageError(f"{where}: image not found in the images channel (looked for {path})")
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise ImageError(f"{where}: image is {size:,} bytes; at most {MAX_IMAGE_BYTES:,} allowed")
    try:
        with Image.open(path) as image:
            actual = PIL_FORMATS.get(image.format or "", (image.format or "unknown").lower())
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ImageError(
                    f"{where}: image is {width} x {height} px; at most {MAX_IMAGE_PIXELS:,} "
                    "pixels allowed"
                )
            image.load()  # decodes: a truncated or corrupt file fails here, not mid-training
    except ImageError:
        raise
    except Exception as exc:  # Pillow raises many types for bad files
        raise ImageError(f"{where}: image cannot be decoded ({exc})") from None
    if actual not in IMAGE_FORMATS:
        raise ImageError(f"{where}: image is {actual}; allowed: {', '.join(sorted(IMAGE_FORMATS))}")
    if actual != declared:
        raise ImageError(
            f"{where}: the block declares format '{declared}' but the file is {actual}"
        )


def template_messages(
    record: dict[str, Any], images_dir: Path | None, where: str
) -> tuple[list[dict[str, Any]], list[ImageRef]]:
    """Template-ready messages (content lists with {"type": "image"} in block order) + images."""
    messages: list[dict[str, Any]] = []
    refs: list[ImageRef] = []
    system = record.get("system")
    if system:
        messages.append({"role": "system", "content": "\n".join(b["text"] for b in system)})
    for i, message in enumerate(record["messages"]):
        content: list[dict[str, Any]] = []
        for j, block in enumerate(message["content"]):
            if "text" in block:
                content.append({"type": "text", "text": block["text"]})
                continue
            image = block["image"]
            field = f"{where}: messages[{i}].content[{j}].image"
            path = resolve(image["source"]["s3Location"]["uri"], images_dir, field)
            check_image(path, image["format"], f"{field} ({image['source']['s3Location']['uri']})")
            refs.append(ImageRef(path, field))
            content.append({"type": "image"})
        messages.append({"role": message["role"], "content": content})
    return messages, refs


def encode_vision(
    tokenizer: Any, messages: list[dict[str, Any]], refs: list[ImageRef], max_len: int
) -> tuple[VisionExample, bool]:
    """Token ids with one `<|image|>` per image, labels on assistant spans only."""
    text, spans = render_messages(tokenizer, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = enc["input_ids"]
    labels = [IGNORE] * len(ids)
    for k, (start, end) in enumerate(enc["offset_mapping"]):
        if end > start and any(a <= start < b for a, b in spans):
            labels[k] = ids[k]
    labels[0] = IGNORE
    image_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    if sum(1 for x in ids if x == image_id) != len(refs):
        raise DataError(
            f"{refs[0].where if refs else 'record'}: the chat template wrote "
            f"{sum(1 for x in ids if x == image_id)} {IMAGE_TOKEN} tokens for {len(refs)} images"
        )
    cut = len(ids) > max_len
    return VisionExample(tuple(ids[:max_len]), tuple(labels[:max_len]), tuple(refs)), cut


def load_vision_channel(
    directory: Path, tokenizer: Any, images_dir: Path | None, max_len: int
) -> VisionChannel:
    """Parse, check every image, tokenize. Raises FormatError/DataError/ImageError at the record."""
    dialect = get_model(REGISTRY_ROW).customizations[CustomizationType.FINE_TUNING].converse
    examples: list[VisionExample] = []
    records = images = truncated = 0
    for path in channel_files(directory):
        name = source_name(path)
        with path.open("rb") as stream:
            for line, record in iter_jsonl(stream, name):
                where = f"{name}:{line}"
                if isinstance(record, dict) and detect_format(record) is not DatasetFormat.CONVERSE:
                    raise DataError(
                        f"{where}: a vision model reads the Converse format "
                        "(bedrock-conversation-2024) only"
                    )
                to_conversation(record, DatasetFormat.CONVERSE, path=name, line=line,
                                dialect=dialect)  # fmt: skip
                messages, refs = template_messages(record, images_dir, where)
                example, cut = encode_vision(tokenizer, messages, refs, max_len)
                records += 1
                images += len(refs)
                truncated += cut
                if any(x != IGNORE for x in example.labels):
                    examples.append(example)
    if not examples:
        raise DataError(f"{directory}: the channel holds no record with tokens to train on")
    return VisionChannel(tuple(examples), records, images, truncated)
