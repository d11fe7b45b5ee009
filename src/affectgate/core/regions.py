"""Region codes of a deployment context: ISO 3166-1 from pycountry, EU and EEA membership from a dated table.

The only module that imports ``pycountry`` (the ISO 3166 maintenance agency's list as packaged by pycountry).
ISO 3166 says nothing about the European Union, so membership is the table below, with its sources:

- EU member states: the 27 states listed on https://european-union.europa.eu/principles-countries-history/eu-countries
  (no accession or withdrawal since the United Kingdom left on 31 Jan 2020).
- The EU's own country codes: the Interinstitutional Style Guide, section 7.1 ("Country codes"), writes Greece as
  ``EL`` (ISO ``GR``) and the United Kingdom as ``UK`` (ISO ``GB``); both are accepted and mapped to ISO.
- EEA EFTA states (Iceland, Liechtenstein, Norway): Regulation (EU) 2024/1689 is "Text with EEA relevance"; it
  applies there only once the EEA Joint Committee incorporates it into the EEA Agreement (Annex XI). The table
  records that status as pending; the engine sends an EEA-only deployment to a human rather than assuming either
  answer (see ``EEA_STATUS``).

Table reviewed: 2026-12-07.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache

import pycountry

TABLE_REVIEWED = "2026-12-07"

#: ISO 3166-1 alpha-2 codes of the 27 EU member states (Greece is GR in ISO, EL in the EU's own usage).
EU_MEMBER_STATES: tuple[str, ...] = (
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
)  # fmt: skip
#: EEA states outside the EU (EEA Agreement, EFTA pillar).
EEA_EFTA_STATES: tuple[str, ...] = ("IS", "LI", "NO")
#: The EU's own codes that differ from ISO 3166-1 (Interinstitutional Style Guide 7.1) -> ISO code.
EU_CODE_ALIASES: dict[str, str] = {"EL": "GR", "UK": "GB"}
#: Codes for a whole area rather than one state.
AREA_CODES: dict[str, str] = {"EU": "the European Union (all 27 member states)", "EEA": "the European Economic Area"}
EEA_STATUS = (
    "pending: the AI Act applies in Iceland, Liechtenstein and Norway only once the EEA Joint Committee has "
    f"incorporated it into the EEA Agreement (table reviewed {TABLE_REVIEWED}; check EEA-Lex for the current status)"
)


@dataclass(frozen=True)
class Region:
    """One declared region code, resolved."""

    code: str
    iso: str | None
    name: str
    eu: bool
    eea_efta: bool

    def as_fact(self) -> dict[str, str | bool | None]:
        """The region as a plain mapping for the policy facts."""
        return {"code": self.code, "iso": self.iso, "name": self.name, "eu": self.eu, "eea_efta": self.eea_efta}


@lru_cache(maxsize=1)
def _iso_codes() -> dict[str, str]:
    return {c.alpha_2: c.name for c in pycountry.countries}


def resolve_region(code: str) -> Region:
    """Resolve one code (ISO 3166-1 alpha-2, an EU alias such as EL, or EU / EEA); ValueError if unknown."""
    if code in AREA_CODES:
        return Region(code=code, iso=None, name=AREA_CODES[code], eu=True, eea_efta=code == "EEA")
    iso = EU_CODE_ALIASES.get(code, code)
    names = _iso_codes()
    if iso not in names:
        raise ValueError(unknown_region_message(code))
    return Region(code=code, iso=iso, name=names[iso], eu=iso in EU_MEMBER_STATES, eea_efta=iso in EEA_EFTA_STATES)


def unknown_region_message(code: str) -> str:
    """Why ``code`` is refused, with the closest known codes."""
    known = [*AREA_CODES, *EU_CODE_ALIASES, *_iso_codes()]
    upper = code.upper()
    if upper != code and (upper in known):
        return f"region code {code!r} must be upper case: write {upper!r}"
    close = difflib.get_close_matches(upper, known, n=3)
    return f"unknown region code {code!r}: not an ISO 3166-1 alpha-2 code, nor EU, EEA or the EU's codes EL/UK" + (
        f" (did you mean {', '.join(close)}?)" if close else ""
    )


def region_facts(codes: tuple[str, ...] | list[str]) -> list[dict[str, str | bool | None]]:
    """Every code resolved to a plain mapping; unknown codes raise ValueError."""
    return [resolve_region(code).as_fact() for code in codes]
