"""The UI's string tables, one module per language: English, Brazilian Portuguese, and the Portuguese for every JobSpec field.

:mod:`webui.i18n` merges them (with the English field labels and help taken from the JobSpec schema) and looks keys up.
"""

from __future__ import annotations

from webui.strings.en import EN_UI
from webui.strings.pt_br import PT_UI
from webui.strings.pt_br_fields import FIELDS_PT

__all__ = ["EN_UI", "FIELDS_PT", "PT_UI"]
