"""What every spec section shares: unknown keys ignored with a warning, and the checks of a path or model reference.

    class MySection(SpecModel):
        size: int = Field(default=1, ge=1, description="...")
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from jobs.spec.compat import spec_warning
from jobs.spec.limits import shown


class SpecModel(BaseModel):
    """Base of every spec section: unknown keys are ignored with a warning that suggests a fix."""

    model_config = ConfigDict(extra="ignore", use_enum_values=False, validate_assignment=True)

    @model_validator(mode="before")
    @classmethod
    def _warn_unknown_keys(cls, values: Any) -> Any:
        if isinstance(values, dict):
            known = set(cls.model_fields)
            for key in values:
                if isinstance(key, str) and key not in known:
                    close = difflib.get_close_matches(key, known, n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    spec_warning(f"{cls.__name__}: unknown key '{key}' ignored{hint}")
        return values


_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def refuse_url(value: str) -> str:
    """A local path field takes a path, never a URL (``http://``, ``file:``, ...): raise ValueError for those."""
    if _URL_SCHEME.match(value.strip()) and not re.match(r"^[A-Za-z]:[\\/]", value.strip()):  # a Windows drive is a path
        raise ValueError(f"must be a path on this machine or a Hub id, not a URL (got {shown(value)})")
    return value


def check_model_reference(value: str) -> str:
    """``base_model`` is a local folder or file (an absolute, ``./`` or ``~`` path, or one that exists) or a Hub id that passes
    ``huggingface_hub``'s own id rules; a URL, ``file:`` or an id with ``..`` is refused."""
    refuse_url(value)
    path = Path(value).expanduser()
    relative_local = value.startswith(("./", "../")) or path.suffix.lower() in (".gguf", ".safetensors")
    if path.exists() or path.is_absolute() or (relative_local and ".." not in path.parts):
        return value
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(value)
    except HFValidationError:
        raise ValueError(f"is neither a folder or file on this machine nor a valid Hub id such as org/name (got {shown(value)})") from None
    return value
