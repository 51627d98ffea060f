"""The data doctor: checks a data file before training (duplicates, validation copies, personal data, secrets, token
lengths, balance, languages, answers; images and captions) and writes a cleaned copy.

- :mod:`~jobs.data.doctor.findings`: what a check found (:class:`Finding`, :class:`LengthSummary`, :class:`DataCheck`,
  :class:`FixResult`) and its JSON round trip;
- :func:`check_data` (``check``): one check of a training file and its validation file, or of an image folder/zip;
- :func:`fix_data` (``fix``): cleaned copies (duplicates removed, personal data and secrets masked), inputs untouched;
- ``launch.py data-check`` (``cli``). The checks: ``duplicates``, ``personal`` (``sensitive`` finds and masks),
  ``lengths``, ``coverage``, ``images``; ``reading`` reads rows as training does. The manual: docs/data-doctor.md.

    check = check_data(Path("train.jsonl"), Path("valid.jsonl"), tokenizer=tok, max_length=512)
    check.summary(), check.blocks_training()
    fixed = fix_data(check, Path("train.jsonl"), Path("valid.jsonl"), out_dir)   # new files; the inputs untouched
"""

from jobs.data.doctor.check import check_data
from jobs.data.doctor.findings import DataCheck, Finding, FixResult, LengthSummary, Severity
from jobs.data.doctor.fix import fix_data

__all__ = ["DataCheck", "Finding", "FixResult", "LengthSummary", "Severity", "check_data", "fix_data"]
