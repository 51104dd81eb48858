"""Countries by name, as Everflow's ``country`` filter takes them ("United States").

People type names in any case, or the two-letter code; a near miss gets a suggestion. The vendor
matches its own English names, so that is what the filter sends.
"""

from __future__ import annotations

from workers.grammar.suggest import did_you_mean

__all__ = ["COUNTRIES", "CountryError", "country_name"]

#: ISO 3166 alpha-2 -> the English name Everflow reports (names without commas, so a
#: comma-separated option value never splits one).
COUNTRIES: dict[str, str] = {
    "AE": "United Arab Emirates", "AR": "Argentina", "AT": "Austria", "AU": "Australia", "BE": "Belgium",
    "BG": "Bulgaria", "BR": "Brazil", "CA": "Canada", "CH": "Switzerland", "CL": "Chile", "CN": "China",
    "CO": "Colombia", "CZ": "Czech Republic", "DE": "Germany", "DK": "Denmark", "EG": "Egypt", "ES": "Spain",
    "FI": "Finland", "FR": "France", "GB": "United Kingdom", "GR": "Greece", "HK": "Hong Kong",
    "HU": "Hungary", "ID": "Indonesia", "IE": "Ireland", "IL": "Israel", "IN": "India", "IT": "Italy",
    "JP": "Japan", "KR": "South Korea", "MA": "Morocco", "MX": "Mexico", "MY": "Malaysia", "NG": "Nigeria",
    "NL": "Netherlands", "NO": "Norway", "NZ": "New Zealand", "PE": "Peru", "PH": "Philippines",
    "PK": "Pakistan", "PL": "Poland", "PT": "Portugal", "RO": "Romania", "RS": "Serbia", "SA": "Saudi Arabia",
    "SE": "Sweden", "SG": "Singapore", "TH": "Thailand", "TR": "Turkey", "TW": "Taiwan", "UA": "Ukraine",
    "US": "United States", "VN": "Vietnam", "ZA": "South Africa",
}
#: Names people also use for a few of them.
_ALIASES = {"usa": "US", "united states of america": "US", "uk": "GB", "great britain": "GB",
            "korea": "KR", "czechia": "CZ", "uae": "AE", "holland": "NL", "the netherlands": "NL"}
_BY_NAME = {name.lower(): name for name in COUNTRIES.values()}


class CountryError(ValueError):
    """A country we cannot name; the message is for the person who typed it."""


def country_name(text: str) -> str:
    """Everflow's name for ``text``: a name in any case, an ISO code, or a common alias."""
    raw = " ".join(text.split())
    lowered = raw.lower()
    if lowered in _BY_NAME:
        return _BY_NAME[lowered]
    code = _ALIASES.get(lowered, raw.upper() if len(raw) == 2 else "")
    if code in COUNTRIES:
        return COUNTRIES[code]
    raise CountryError(f"`{raw}` is not a country we know." + did_you_mean(raw, sorted(COUNTRIES.values())))
