"""Batches of image rows: one example per row (no packing), right padding, Mllama's inputs.

Shapes (B rows, S the longest row, N the most images in a row, T the processor's
max_image_tiles, C x H x W a tile): input_ids, labels, attention_mask [B, S];
pixel_values [B, N, T, C, H, W]; aspect_ratio_ids [B, N]; aspect_ratio_mask [B, N, T];
cross_attention_mask [B, S, N, T] (token s sees the tiles of the last image at or before it,
as MllamaProcessor builds it). A batch without images still carries one blank image that no
token attends: every rank then runs the vision tower in every forward, which FSDP's
collectives need.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
from PIL import Image
from transformers.models.mllama.processing_mllama import (
    convert_sparse_cross_attention_mask_to_dense,
    get_cross_attention_token_mask,
)

from training_image.trainer.chat import IGNORE
from training_image.trainer.vision_data import IMAGE_TOKEN, VisionExample


@dataclass(frozen=True)
class VisionBatch:
    input_ids: torch.Tensor
    labels: torch.Tensor
    attention_mask: torch.Tensor
    pixel_values: torch.Tensor
    aspect_ratio_ids: torch.Tensor
    aspect_ratio_mask: torch.Tensor
    cross_attention_mask: torch.Tensor
    label_tokens: int
    real_tokens: int

    def to(self, device: torch.device) -> VisionBatch:
        moved = {
            f.name: getattr(self, f.name).to(device, non_blocking=True)
            if isinstance(getattr(self, f.name), torch.Tensor)
            else getattr(self, f.name)
            for f in fields(self)
        }
        return VisionBatch(**moved)


def _rgb(path: Any) -> Image.Image:
    with Image.open(path) as image:
        image.seek(0)  # GIF / animated WebP: the first frame, as a still image
        return image.convert("RGB")


class VisionRows:
    """The dataset as rows (one example each); `batch` builds the tensors of chosen rows."""

    def __init__(self, examples: tuple[VisionExample, ...], processor: Any) -> None:
        self.rows = list(examples)
        self.image_processor = processor.image_processor
        self.image_token_id = processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)

    def batch(self, indices: list[int], pad_id: int, packing: bool = False) -> VisionBatch:
        del packing  # image rows are never packed
        rows = [self.rows[i] for i in indices]
        length = max(len(r.input_ids) for r in rows)
        ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
        labels = torch.full((len(rows), length), IGNORE, dtype=torch.long)
        attention = torch.zeros((len(rows), length), dtype=torch.long)
        for b, row in enumerate(rows):
            n = len(row.input_ids)
            ids[b, :n] = torch.tensor(row.input_ids)
            labels[b, :n] = torch.tensor(row.labels)
            attention[b, :n] = 1
        blank = Image.new("RGB", (8, 8))
        images = [[_rgb(ref.path) for ref in row.images] or [blank] for row in rows]
        pixels = self.image_processor(images=images, return_tensors="pt")
        sparse = [
            get_cross_attention_token_mask(list(row.input_ids), self.image_token_id) for row in rows
        ]
        cross = convert_sparse_cross_attention_mask_to_dense(
            sparse,
            num_tiles=pixels["num_tiles"],
            max_num_tiles=self.image_processor.max_image_tiles,
            length=length,
        )
        return VisionBatch(
            input_ids=ids,
            labels=labels,
            attention_mask=attention,
            pixel_values=pixels["pixel_values"],
            aspect_ratio_ids=pixels["aspect_ratio_ids"],
            aspect_ratio_mask=pixels["aspect_ratio_mask"],
            cross_attention_mask=torch.from_numpy(cross),
            label_tokens=int((labels[:, 1:] != IGNORE).sum()),
            real_tokens=int(attention.sum()),
        )
