"""Personal data and secrets in text: where they are, how to show them without revealing them, and how to mask them.

Who finds what (the project's own code only finds candidates; a library decides wherever one exists):

- secrets: the regular-expression plugins of ``detect-secrets`` (AWS, Azure, GitHub, GitLab, Slack, Stripe, OpenAI,
  npm, PyPI, Twilio, JWT, private keys, basic-auth URLs ... every ``RegexBasedDetector`` it ships; each match is
  confirmed by the plugin's own ``analyze_string``), plus patterns it lacks: Hugging Face ``hf_`` tokens, Anthropic and
  Google API keys, Replicate tokens, and whole ``-----BEGIN … PRIVATE KEY-----`` blocks;
- card numbers: digit runs of 13 to 19 digits whose Luhn check (``python-stdnum``) passes;
- IBAN, CPF and CNPJ: their check digits through ``python-stdnum`` (``stdnum.iban``, ``stdnum.br.cpf``,
  ``stdnum.br.cnpj``): a number with wrong check digits is not reported;
- phone numbers: ``phonenumbers`` (Google's libphonenumber) decides, for Brazil and the United States unless the number
  has its own ``+country`` prefix; a bare run of digits (an order id, a unix timestamp) counts only with a phone word
  among the :data:`PHONE_CONTEXT_WORDS` words before it (Presidio's context rule: phone, tel, call, whatsapp, telefone,
  celular, contato ...), a formatted one (``+``, parentheses, spaces, dashes or dots between its digits) on its own;
- IP addresses: Python's ``ipaddress`` (loopback, unspecified and reserved addresses are ignored);
- e-mail addresses: a pattern (the same shape Presidio's e-mail recognizer uses).

Overlaps are resolved in that priority order (a CNPJ is not also a card number). Presidio itself is not used: it
imports spaCy (19 more packages) and its e-mail check fetches the public-suffix list over the network.

    find_sensitive("mail me at ana@example.com")        # [Match("email", 11, 26, "e-mail address")]
    mask_sensitive("mail me at ana@example.com")        # ("mail me at <EMAIL>", 1)
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.ip_public import IPPublicDetector
from stdnum import iban, luhn
from stdnum.br import cnpj, cpf

MASKS = {"secret": "<SECRET>", "email": "<EMAIL>", "iban": "<IBAN>", "cnpj": "<CNPJ>", "cpf": "<CPF>", "card": "<CARD>",
         "ip_address": "<IP>", "phone": "<PHONE>"}
"""What :func:`mask_sensitive` writes in place of each kind (also the priority order of overlapping matches)."""
PERSONAL_KINDS = tuple(kind for kind in MASKS if kind != "secret")
PHONE_REGIONS = ("BR", "US")
"""Regions a phone number without ``+country`` is read in (the project's two languages' largest markets)."""
PHONE_WORDS = frozenset({
    "phone", "phones", "telephone", "tel", "mobile", "cell", "cellphone", "call", "sms", "whatsapp", "fax", "contact",  # English
    "telefone", "telefones", "fone", "celular", "cel", "ligue", "ligar", "contato", "contatos", "zap", "ramal",  # Portuguese
})
"""Words that make a bare digit run a phone number (Presidio's phone recognizer context, in both project languages);
"number"/"número" are not among them: "order number 4155550132" is an order."""
PHONE_CONTEXT_WORDS = 5
"""How many words before a bare digit run are searched for a phone word (Presidio's default context prefix)."""

OWN_SECRET_PATTERNS: dict[str, re.Pattern[str]] = {
    "Private key block": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY"
                                    r"(?: BLOCK)?-----|$)", re.DOTALL),
    "Hugging Face token": re.compile(r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,40}(?![A-Za-z0-9])"),
    "Anthropic API key": re.compile(r"(?<![A-Za-z0-9])sk-ant-[A-Za-z0-9]+\d{2}-[A-Za-z0-9_-]{80,}"),
    "Google API key": re.compile(r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])"),
    "Replicate token": re.compile(r"(?<![A-Za-z0-9_])r8_[A-Za-z0-9]{37}(?![A-Za-z0-9])"),
}
"""Credentials detect-secrets has no plugin for (and private keys as whole blocks, so masking removes all of one)."""

EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}(?![\w-])")
IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?(?![A-Za-z0-9])")
CNPJ = re.compile(r"(?<![\d./-])\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}(?![\d/-]|\.\d)")
CPF = re.compile(r"(?<![\d./-])\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?![\d/-]|\.\d)")
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]|\.\d)")
IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{1,4}:){2,7}:?[0-9A-Fa-f]{1,4}(?![0-9A-Fa-f:])|"
                  r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}:?){1,6}(?![0-9A-Fa-f:])")
PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d ().-]{6,18}\d(?![\w])")
TOKEN_RUN = re.compile(r"[A-Za-z0-9_+=]{16,}")
SECRET_MARKERS = re.compile(r"PRIVATE KEY|PuTTY|://[^\s:/]+:[^\s@]+@")
"""Every secret shape has a token-like run (16+ characters with a digit, or 24+), a private key header or a
user:password URL; text without any is not run through the secret patterns (plain URLs and long words are not)."""
DIGIT_RUN = re.compile(r"\d[\d .()/-]{5,}\d")
"""Every number checked below (IBAN, CNPJ, CPF, card, IPv4, phone) has a run of 7+ digits and separators."""
HEX_PAIR = re.compile(r"[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:")
"""Every IPv6 address has two colon-separated hex groups or a "::"."""


@dataclass(frozen=True)
class Match:
    """One piece of personal data or one secret: its kind, where it is, and what it is (a secret's provider)."""

    kind: str
    start: int
    end: int
    label: str


@lru_cache(maxsize=1)
def secret_plugins() -> tuple[RegexBasedDetector, ...]:
    """One instance of every regular-expression plugin detect-secrets ships (IP addresses are found separately)."""
    classes = get_mapping_from_secret_type_to_class().values()
    return tuple(cls() for cls in sorted(classes, key=lambda c: c.__name__)
                 if isinstance(cls, type) and issubclass(cls, RegexBasedDetector) and cls is not IPPublicDetector)


def _secret_span(match: re.Match[str]) -> tuple[int, int]:
    """The secret inside a match: its longest group when that is a credential (8+ characters: the password of a
    ``user:password@`` URL, the value of an assignment), else the whole match (a group that is only a prefix, ``ghp``)."""
    groups = [index for index in range(1, (match.re.groups or 0) + 1) if match.group(index)]
    longest = max(groups, key=lambda index: len(match.group(index)), default=None)
    if longest is not None and len(match.group(longest)) >= 8:
        return match.span(longest)
    return match.span()


def _secrets(text: str) -> Iterator[Match]:
    for label, pattern in OWN_SECRET_PATTERNS.items():
        for found in pattern.finditer(text):
            yield Match("secret", found.start(), found.end(), label)
    for plugin in secret_plugins():
        for pattern in plugin.denylist:
            for found in pattern.finditer(text):
                if any(True for _ in plugin.analyze_string(found.group())):
                    start, end = _secret_span(found)
                    yield Match("secret", start, end, str(plugin.secret_type))


def _checked(pattern: re.Pattern[str], text: str, kind: str, label: str, valid: Any) -> Iterator[Match]:
    for found in pattern.finditer(text):
        if valid(found.group()):
            yield Match(kind, found.start(), found.end(), label)


def _digits(value: str) -> str:
    return "".join(char for char in value if char.isdigit())


def _is_card(value: str) -> bool:
    digits = _digits(value)
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and len(set(digits)) > 1 and luhn.is_valid(digits)


def _is_iban(value: str) -> bool:
    return iban.is_valid(value.replace(" ", ""))


def _is_ip(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified or address.is_reserved or address.is_multicast)


def _is_phone(value: str) -> bool:
    digits = _digits(value)
    if not 8 <= len(digits) <= 15:
        return False
    for region in PHONE_REGIONS:
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


def _is_formatted_phone(value: str) -> bool:
    """A ``+country`` prefix, parentheses, or separators between the digits: written as a phone number, not a bare id."""
    return not value.isdigit()


def _phone_word_before(text: str, start: int) -> bool:
    words = re.findall(r"\w+", text[max(start - 80, 0):start].casefold())
    return any(word in PHONE_WORDS for word in words[-PHONE_CONTEXT_WORDS:])


def _phones(text: str) -> Iterator[Match]:
    for found in PHONE.finditer(text):
        value = found.group()
        if (_is_formatted_phone(value) or _phone_word_before(text, found.start())) and _is_phone(value):
            yield Match("phone", found.start(), found.end(), "phone number")


def _candidates(text: str) -> Iterator[Match]:
    if SECRET_MARKERS.search(text) or any(len(run) >= 24 or any(char.isdigit() for char in run) for run in TOKEN_RUN.findall(text)):
        yield from _secrets(text)
    if "@" in text:
        yield from _checked(EMAIL, text, "email", "e-mail address", lambda value: True)
    if "::" in text or HEX_PAIR.search(text):
        yield from _checked(IPV6, text, "ip_address", "IP address", _is_ip)
    if not DIGIT_RUN.search(text):
        return
    yield from _checked(IBAN, text, "iban", "IBAN", _is_iban)
    yield from _checked(CNPJ, text, "cnpj", "CNPJ", cnpj.is_valid)
    yield from _checked(CPF, text, "cpf", "CPF", cpf.is_valid)
    yield from _checked(CARD, text, "card", "card number", _is_card)
    yield from _checked(IPV4, text, "ip_address", "IP address", _is_ip)
    yield from _phones(text)


def find_sensitive(text: str) -> list[Match]:
    """Every piece of personal data and every secret in ``text``, without overlaps (earlier kinds in :data:`MASKS` win)."""
    priority = {kind: position for position, kind in enumerate(MASKS)}
    taken: list[Match] = []
    for match in sorted(_candidates(text), key=lambda m: (priority[m.kind], m.start, -(m.end - m.start))):
        if all(match.end <= other.start or match.start >= other.end for other in taken):
            taken.append(match)
    return sorted(taken, key=lambda m: m.start)


def mask_sensitive(text: str, kinds: frozenset[str] | None = None) -> tuple[str, int]:
    """``text`` with every match (of ``kinds``, default all) replaced by its mask (:data:`MASKS`), and how many were masked."""
    matches = [m for m in find_sensitive(text) if kinds is None or m.kind in kinds]
    for match in reversed(matches):
        text = text[:match.start] + MASKS[match.kind] + text[match.end:]
    return text, len(matches)


def hidden(kind: str, value: str) -> str:
    """How a finding shows a value: a secret by its first three characters and length, personal data with its middle hidden."""
    if kind == "secret":
        return f"{value[:3]}… ({len(value)} characters, hidden)"
    if kind == "email":
        name, _, domain = value.partition("@")
        return f"{name[:1]}•••@{domain}"
    keep = 2 if len(value) > 6 else 0
    return value[:keep] + "".join("•" if char.isalnum() else char for char in value[keep:len(value) - keep]) + value[len(value) - keep:]
