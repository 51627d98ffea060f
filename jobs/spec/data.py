"""The ``data:`` section: where the training data is (a file, or a Hub dataset as ``hub:OWNER/NAME``) and how to read it.

The checks of a Hub dataset reference that need no network live here too (:func:`check_hub_dataset_id`,
:func:`parse_split`), so the spec refuses a malformed id or split before anything is downloaded;
:mod:`jobs.data.hub_datasets` streams the rows.

    parse_split("train[:1000]")   # ("train", 0, 1000)
"""

from __future__ import annotations

import re
from typing import Literal, Union

from pydantic import Field, field_validator, model_validator

from jobs.errors import DataError
from jobs.spec.base import SpecModel, refuse_url
from jobs.spec.enums import DataFormat
from jobs.spec.limits import shown

HUB_DATA_PREFIX = "hub:"  # data.train: hub:OWNER/NAME names a dataset on the Hugging Face Hub
_SPLIT = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[(\d*):(\d*)\])?$")
_DATASET_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def check_hub_dataset_id(ref: str) -> str:
    """``ref`` (hub:OWNER/NAME) if well formed; the plain dataset id is returned."""
    dataset_id = ref[len(HUB_DATA_PREFIX):] if ref.startswith(HUB_DATA_PREFIX) else ref
    if not _DATASET_ID.match(dataset_id) or ".." in dataset_id:
        raise ValueError(f"{ref!r} is not a Hub dataset id; write hub:OWNER/NAME, e.g. hub:acme/planets")
    return dataset_id


def parse_split(split: str) -> tuple[str, int, int | None]:
    """(split name, first row, end row or None) from ``train``, ``train[:1000]`` or ``train[1000:2000]`` (row slices stream; percent
    slices would need the whole split first)."""
    match = _SPLIT.match((split or "train").strip())
    if not match:
        raise DataError(f"data.split {split!r} is not a split name or a row slice; write e.g. train, test or train[:1000] "
                        "(percent slices are not supported when streaming)")
    name, start, stop = match.group(1), int(match.group(2) or 0), int(match.group(3)) if match.group(3) else None
    if stop is not None and stop <= start:
        raise DataError(f"data.split {split!r} selects no rows; the end must be after the start")
    return name, start, stop


class DataSpec(SpecModel):
    """Where the training data is and how to read it."""

    train: str = Field(description="Training data file: .csv .tsv .jsonl .json .parquet or .txt (text-to-image: a folder or .zip of images), "
                                   "or a Hub dataset as hub:OWNER/NAME.")
    validation: Union[float, str, None] = Field(
        default=None,
        description="Held-out data: a fraction of the training rows (0 to 0.5), a file (a Hub dataset: a split name; text-to-image: a folder "
                    "or .zip of captioned images), or empty for none. The before/after report is measured on it.",
    )
    split_seed: int = Field(
        default=0, ge=0, le=2**32 - 1,
        description="Seed that picks the held-out rows (the data.validation share or the automatic hold-out); independent of "
                    "training.seed, so the training seed, max_length and train_on_prompt never move a row across the split. "
                    "Never swept: every job of a sweep is measured on the same rows.",
    )
    config: str | None = Field(default=None, max_length=200, description="Hub dataset only: the configuration (subset) to load, if it has several.")
    split: str = Field(default="train", min_length=1, max_length=200, description="Hub dataset only: the split to train on, e.g. train or train[:1000].")
    format: DataFormat = Field(
        default=DataFormat.AUTO,
        description="auto detects it from the columns; text, instruction, chat or classification force it.",
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Map roles to your column names, e.g. {prompt: question, response: answer} or {text: review, label: stars}.",
    )
    thinking: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Causal LM with a chat template that has a thinking switch (Qwen3, SmolLM3): on trains and answers with the "
                    "thinking block (a reasoning field, or <think>...</think> at the start of the answer), off with the empty "
                    "think block (the model answers directly), auto keeps the template's default. Passed as enable_thinking "
                    "to the chat template at training, in the Playground and in the report; other templates accept only auto.",
    )

    @field_validator("validation")
    @classmethod
    def _validation_fraction(cls, value: Union[float, str, None]) -> Union[float, str, None]:
        if isinstance(value, float) and not 0.0 < value <= 0.5:
            raise ValueError("must be a fraction between 0 and 0.5 (e.g. 0.1), a file path, or empty")
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("train")
    @classmethod
    def _train_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a data file")
        if value.startswith(HUB_DATA_PREFIX):
            check_hub_dataset_id(value)
        else:
            refuse_url(value)
        return value

    @model_validator(mode="after")
    def _validation_fits_the_source(self) -> DataSpec:
        if isinstance(self.validation, str):
            if self.from_hub:
                try:
                    parse_split(self.validation)
                except Exception:  # noqa: BLE001 - DataError or ValueError: one sentence either way
                    raise ValueError(f"data.validation of a Hub dataset names one of its splits (e.g. test or train[:100]), "
                                     f"not a file (got {shown(self.validation)})") from None
            else:
                refuse_url(self.validation)
        return self

    @property
    def from_hub(self) -> bool:
        """True when ``train`` names a Hub dataset (hub:OWNER/NAME)."""
        return self.train.startswith(HUB_DATA_PREFIX)
