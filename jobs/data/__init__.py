"""The data layer: read a user's file, decide its format, inspect it, and turn it into training features.

- :func:`read_records` / :func:`read_table` (``readers``): .csv .tsv .jsonl .json .parquet .txt into row dicts.
- :func:`resolve_format` (``formats``): text, instruction, chat or classification, and the role -> column mapping.
- :func:`inspect_dataset` (``inspect``): preview, row-level problems, label counts and token lengths for the UI.
- :func:`build_examples`, :func:`pack_examples`, :func:`load_training_data` (``examples``): tokenized features with
  prompt masking, packing and validation data for trainers.
- :func:`jobs.data.split.decide_split` and :func:`split_validation` (``split``): the one rule that holds rows of the training
  data out for validation and the before/after report, for every task, picked by ``data.split_seed`` with duplicates kept on
  one side; written to ``runs/<job>/split.json`` (:func:`jobs.data.split.write_split`) and read back by the report.

Every user mistake raises :class:`jobs.errors.DataError` with one sentence naming the file and the line, row or
column. Row numbers are those a person sees in the file (see :mod:`jobs.data.readers`).
"""

from jobs.data.examples import (
    IGNORE_INDEX,
    BuiltExamples,
    TrainingData,
    build_examples,
    build_label_map,
    load_training_data,
    pack_examples,
)
from jobs.data.formats import FormatChoice, resolve_format
from jobs.data.inspect import DatasetReport, inspect_dataset
from jobs.data.readers import MAX_BYTES, MAX_ROWS, SUPPORTED_EXTENSIONS, Table, read_records, read_table
from jobs.data.rows import Problem
from jobs.data.split import split_validation

__all__ = [
    "IGNORE_INDEX",
    "MAX_BYTES",
    "MAX_ROWS",
    "SUPPORTED_EXTENSIONS",
    "BuiltExamples",
    "DatasetReport",
    "FormatChoice",
    "Problem",
    "Table",
    "TrainingData",
    "build_examples",
    "build_label_map",
    "inspect_dataset",
    "load_training_data",
    "pack_examples",
    "read_records",
    "read_table",
    "resolve_format",
    "split_validation",
]
