"""Personal data and secrets, per row: one finding per kind and file, every row that has one, three hidden examples.

What finds each kind is said in :mod:`jobs.data.doctor.sensitive`. Secrets block training (severity ``block``);
personal data is masked by the fix (severity ``fix``).

    findings = personal_findings(train)
"""

from __future__ import annotations

from collections.abc import Callable

from jobs.data.doctor.findings import Finding
from jobs.data.doctor.reading import DataFile, excerpt
from jobs.data.doctor.sensitive import MASKS, find_sensitive, hidden

DETAILS = {
    "secret": "credentials (API keys, tokens, private keys): a model trained on them can repeat them; training is refused "
              "until they are removed",
    "email": "e-mail addresses", "phone": "phone numbers (Brazil, the United States, or with a +country prefix)",
    "card": "payment card numbers (Luhn check passes)", "iban": "IBAN bank account numbers (mod-97 check passes)",
    "cpf": "Brazilian CPF numbers (check digits pass)", "cnpj": "Brazilian CNPJ numbers (check digits pass)",
    "ip_address": "IP addresses",
}
ROW_SEPARATOR = "\n"


def personal_findings(data: DataFile, progress: Callable[[float], None] | None = None) -> list[Finding]:
    """A finding for each kind of personal data or secret found in ``data``'s rows (every text of every column)."""
    rows: dict[str, list[int]] = {}
    examples: dict[str, list[str]] = {}
    total = len(data.rows)
    for position, row in enumerate(data.rows):
        text = ROW_SEPARATOR.join(row.texts)
        for match in find_sensitive(text):
            found = rows.setdefault(match.kind, [])
            if not found or found[-1] != row.row:
                found.append(row.row)
                shown = examples.setdefault(match.kind, [])
                if len(shown) < 3:
                    value = hidden(match.kind, text[match.start:match.end])
                    label = f" [{match.label}]" if match.kind == "secret" else ""
                    shown.append(excerpt(row.row, text, match.start, match.end, shown=value) + label)
        if progress and position % 2000 == 0:
            progress(position / max(total, 1))
    findings = []
    for kind in MASKS:
        if kind not in rows:
            continue
        secret = kind == "secret"
        action = (f"masked as {MASKS[kind]}; training is refused until secrets are removed" if secret
                  else f"masked as {MASKS[kind]}")
        findings.append(Finding(kind=kind, severity="block" if secret else "fix", file=data.file, rows=rows[kind],
                                examples=examples[kind], action=action, detail=DETAILS[kind]))
    return findings
