"""Collators that turn a batch of raw examples into the inputs of the contrastive models."""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch


class SimCLRDataCollator:
    """Make `n_views` random views of every image of a batch.

    Returns `{"pixel_values": (batch_size, n_views, C, H, W)}`, plus `"labels"` (batch_size,) when
    `label_column` is set (supervised contrastive learning). Works as the `collate_fn` of a
    `torch.utils.data.DataLoader` (augmentation then runs in its workers) and as the
    `data_collator` of transformers' `Trainer` (with `remove_unused_columns=False`).

    Args:
        transform: one random view of one image, e.g.
            `hf_contrastive.augment.vision.SimCLRViewTransform.from_preset("cifar")`.
        n_views: views per image (2 for SimCLR; SupCon also uses more).
        image_column: the examples' image field.
        label_column: the examples' label field, or `None` to leave labels out (SimCLR).
    """

    def __init__(
        self,
        transform: Callable[[Any], torch.Tensor],
        n_views: int = 2,
        image_column: str = "image",
        label_column: Optional[str] = None,
    ) -> None:
        if n_views < 1:
            raise ValueError(f"n_views must be >= 1, got {n_views}.")
        self.transform = transform
        self.n_views = n_views
        self.image_column = image_column
        self.label_column = label_column

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not examples:
            raise ValueError("SimCLRDataCollator got an empty batch.")
        missing = [c for c in (self.image_column, self.label_column) if c is not None and c not in examples[0]]
        if missing:
            raise KeyError(
                f"column(s) {missing} not in the examples, which have {sorted(examples[0])}; set "
                "image_column / label_column to the right names."
            )
        pixel_values = torch.stack(
            [torch.stack([self.transform(example[self.image_column]) for _ in range(self.n_views)]) for example in examples]
        )
        batch = {"pixel_values": pixel_values}
        if self.label_column is not None:
            batch["labels"] = torch.tensor([int(example[self.label_column]) for example in examples], dtype=torch.long)
        return batch
