"""Country and territory names in French and English, normalised to ISO codes.

This module is imported by both environments (the Rasa one runs Python 3.10), so it uses the
standard library only and no syntax newer than Python 3.10.

Codes:

* ISO 3166-1 alpha-2 for countries and territories (``DE``, ``GB``, ``US``); the Crown
  dependencies have their own: Jersey ``JE``, Guernsey ``GG`` (Alderney and Sark belong to
  the Bailiwick of Guernsey and map to ``GG``), Isle of Man ``IM``; Kosovo uses the
  user-assigned ``XK`` that the EU and most carriers use.
* ISO 3166-2 for the parts of the United Kingdom that the om-system FAQ excludes: Scotland
  ``GB-SCT``, Northern Ireland ``GB-NIR`` and the Isle of Wight ``GB-IOW`` (an ISO 3166-2:GB
  unitary authority code). England and Wales are plain ``GB``, as the intent catalogue says.
* One pseudo code, ``GB-CHI``, for "the Channel Islands" named as a whole. The phrase covers
  two jurisdictions (Jersey and Guernsey); every function here returns a single code per
  mention, so expanding it into ``JE`` + ``GG`` would break that shape. Callers that need
  the members use :func:`region_members` (``GB-CHI`` -> ``("JE", "GG")``). It is not a real
  ISO code: it never leaves the bot (no carrier or database sees it).

Matching is accent-, case- and punctuation-insensitive ("Etats Unis" = "États-Unis",
"royaume uni" = "Royaume-Uni", "U.K." = "UK") and ignores leading French and English
articles and prepositions ("l'Allemagne", "en Allemagne", "aux Pays-Bas", "in the UK").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

from bot.nlu.order_numbers import store_prefixes

__all__ = [
    "COUNTRIES",
    "Country",
    "country",
    "country_name",
    "country_name_with_preposition",
    "find_countries",
    "is_known_code",
    "normalise_country",
    "parent_country",
    "region_members",
]


@dataclass(frozen=True)
class Country:
    """One country, territory or area the bot can name.

    Attributes:
        code: ISO code (see the module docstring for the few non-ISO-3166-1 ones).
        name_en: English name, without article ("Netherlands").
        name_fr: French name, without article ("Pays-Bas").
        in_en: English phrase "in <country>" ("in the Netherlands", "on the Isle of Man").
        in_fr: French phrase "en/au/aux/à <pays>" ("aux Pays-Bas", "au Danemark").
        variants: other spellings and native names accepted on input.
    """

    code: str
    name_en: str
    name_fr: str
    in_en: str
    in_fr: str
    variants: tuple[str, ...] = ()


# One line per entry: code | English name | French name | French "in" form | variants | English
# "in" form. An English name starting with "the " takes the article in the "in" phrase only.
# French "in" forms: f = "en" + feminine name; m = "au" + masculine name ("en" before a
# vowel: "en Iran", "en Équateur"); p = "aux" + plural name; i = "à" + name without article
# (islands, cities); anything starting with "=" is the phrase itself. Empty last field: the
# English phrase is "in " + the name. A line "+CODE|variants" adds variants to CODE (it keeps
# the lines short).
_TABLE = """
AD|Andorra|Andorre|f|
AE|the United Arab Emirates|Émirats arabes unis|p|UAE;U.A.E.;Emirates;Émirats
AF|Afghanistan|Afghanistan|m|
AG|Antigua and Barbuda|Antigua-et-Barbuda|i|Antigua
AI|Anguilla|Anguilla|i|
AL|Albania|Albanie|f|Shqipëria
AM|Armenia|Arménie|f|
AO|Angola|Angola|m|
AR|Argentina|Argentine|f|
AS|American Samoa|Samoa américaines|=aux Samoa américaines|
AT|Austria|Autriche|f|Österreich;Oesterreich
AU|Australia|Australie|f|New South Wales;Nouvelle-Galles du Sud
AW|Aruba|Aruba|i|
AX|the Åland Islands|îles Åland|=aux îles Åland|Åland
AZ|Azerbaijan|Azerbaïdjan|m|
BA|Bosnia and Herzegovina|Bosnie-Herzégovine|f|Bosnia;Bosnie;Bosnia-Herzegovina
+BA|Bosnie-et-Herzégovine
BB|Barbados|Barbade|=à la Barbade|
BD|Bangladesh|Bangladesh|m|
BE|Belgium|Belgique|f|België;Belgien
BF|Burkina Faso|Burkina Faso|m|Burkina
BG|Bulgaria|Bulgarie|f|
BH|Bahrain|Bahreïn|i|
BI|Burundi|Burundi|m|
BJ|Benin|Bénin|m|
BL|Saint Barthélemy|Saint-Barthélemy|i|St Barts;St Barths;Saint-Barth
BM|Bermuda|Bermudes|p|Bermudas
BN|Brunei|Brunei|m|Brunéi;Brunei Darussalam
BO|Bolivia|Bolivie|f|
BR|Brazil|Brésil|m|Brasil
BS|the Bahamas|Bahamas|p|
BT|Bhutan|Bhoutan|m|
BW|Botswana|Botswana|m|
BY|Belarus|Biélorussie|f|Bélarus;Byelorussia
BZ|Belize|Belize|m|
CA|Canada|Canada|m|Nova Scotia;Nouvelle-Écosse
CD|the Democratic Republic of the Congo|République démocratique du Congo|f|DRC;DR Congo
+CD|RD Congo;Congo-Kinshasa
CF|the Central African Republic|République centrafricaine|f|Centrafrique
CG|the Republic of the Congo|Congo|m|Republic of Congo;République du Congo;Congo-Brazzaville
CH|Switzerland|Suisse|f|Schweiz;Svizzera;Svizra;Swiss Confederation;Confédération suisse
CI|Côte d'Ivoire|Côte d'Ivoire|f|Ivory Coast
CL|Chile|Chili|m|
CM|Cameroon|Cameroun|m|
CN|China|Chine|f|People's Republic of China;PRC;Mainland China;Chine continentale
+CN|République populaire de Chine
CO|Colombia|Colombie|f|
CR|Costa Rica|Costa Rica|m|
CU|Cuba|Cuba|i|
CV|Cape Verde|Cap-Vert|m|Cabo Verde
CW|Curaçao|Curaçao|i|
CY|Cyprus|Chypre|i|
CZ|the Czech Republic|République tchèque|f|Czechia;Tchéquie;Česko;Česká republika
DE|Germany|Allemagne|f|Deutschland;Bundesrepublik Deutschland
DJ|Djibouti|Djibouti|i|
DK|Denmark|Danemark|m|Danmark
DM|Dominica|Dominique|=à la Dominique|
DO|the Dominican Republic|République dominicaine|f|
DZ|Algeria|Algérie|f|
EC|Ecuador|Équateur|m|
EE|Estonia|Estonie|f|Eesti
EG|Egypt|Égypte|f|
EH|Western Sahara|Sahara occidental|m|
ER|Eritrea|Érythrée|f|
ES|Spain|Espagne|f|España
ET|Ethiopia|Éthiopie|f|
FI|Finland|Finlande|f|Suomi
FJ|Fiji|Fidji|p|Fiji Islands;îles Fidji
FK|the Falkland Islands|îles Malouines|=aux îles Malouines|Falklands;Malouines
FM|Micronesia|Micronésie|f|
FO|the Faroe Islands|îles Féroé|=aux îles Féroé|Faroes;Faeroe Islands;Féroé
FR|France|France|f|Frankreich;Francia;République française;French Republic
GA|Gabon|Gabon|m|
GB|the United Kingdom|Royaume-Uni|m|UK;U.K.;Great Britain;Grande-Bretagne;Britain
+GB|United Kingdom of Great Britain and Northern Ireland
+GB|Royaume-Uni de Grande-Bretagne et d'Irlande du Nord
GD|Grenada|Grenade|=à la Grenade|
GE|Georgia|Géorgie|f|
GF|French Guiana|Guyane|f|Guyane française
GG|Guernsey|Guernesey|i|Bailiwick of Guernsey;Bailliage de Guernesey;Alderney;Aurigny;Sark;Sercq
GH|Ghana|Ghana|m|
GI|Gibraltar|Gibraltar|i|
GL|Greenland|Groenland|m|
GM|the Gambia|Gambie|f|Gambia
GN|Guinea|Guinée|f|Guinée-Conakry
GP|Guadeloupe|Guadeloupe|f|
GQ|Equatorial Guinea|Guinée équatoriale|f|
GR|Greece|Grèce|f|Hellas;Ellada
GT|Guatemala|Guatemala|m|
GU|Guam|Guam|i|
GW|Guinea-Bissau|Guinée-Bissau|f|
GY|Guyana|Guyana|m|
HK|Hong Kong|Hong Kong|i|Hongkong
HN|Honduras|Honduras|m|
HR|Croatia|Croatie|f|Hrvatska
HT|Haiti|Haïti|=en Haïti|
HU|Hungary|Hongrie|f|Magyarország
ID|Indonesia|Indonésie|f|
IE|Ireland|Irlande|f|Republic of Ireland;République d'Irlande;Éire;Irish Republic
IL|Israel|Israël|=en Israël|
IM|the Isle of Man|île de Man|=sur l'île de Man|Isle of Man;Ellan Vannin|on the Isle of Man
IN|India|Inde|f|Bharat
IQ|Iraq|Irak|m|Iraq
IR|Iran|Iran|m|
IS|Iceland|Islande|f|Ísland
IT|Italy|Italie|f|Italia
JE|Jersey|Jersey|i|Bailiwick of Jersey;Bailliage de Jersey
JM|Jamaica|Jamaïque|f|
JO|Jordan|Jordanie|f|
JP|Japan|Japon|m|Nippon;Nihon
KE|Kenya|Kenya|m|
KG|Kyrgyzstan|Kirghizistan|m|Kyrgyz Republic;Kirghizstan
KH|Cambodia|Cambodge|m|
KI|Kiribati|Kiribati|p|
KM|the Comoros|Comores|p|
KN|Saint Kitts and Nevis|Saint-Christophe-et-Niévès|i|St Kitts and Nevis;St Kitts
+KN|Saint-Kitts-et-Nevis
KP|North Korea|Corée du Nord|f|DPRK
KR|South Korea|Corée du Sud|f|Korea;Corée;Republic of Korea;République de Corée
KW|Kuwait|Koweït|m|
KY|the Cayman Islands|îles Caïmans|=aux îles Caïmans|Caymans;Cayman
KZ|Kazakhstan|Kazakhstan|m|
LA|Laos|Laos|m|
LB|Lebanon|Liban|m|
LC|Saint Lucia|Sainte-Lucie|i|St Lucia
LI|Liechtenstein|Liechtenstein|m|
LK|Sri Lanka|Sri Lanka|m|
LR|Liberia|Liberia|m|Libéria
LS|Lesotho|Lesotho|m|
LT|Lithuania|Lituanie|f|Lietuva
LU|Luxembourg|Luxembourg|m|Luxemburg;Lëtzebuerg
LV|Latvia|Lettonie|f|Latvija
LY|Libya|Libye|f|
MA|Morocco|Maroc|m|
MC|Monaco|Monaco|i|Principality of Monaco;Principauté de Monaco
MD|Moldova|Moldavie|f|Republic of Moldova
ME|Montenegro|Monténégro|m|Crna Gora
MF|Saint Martin|Saint-Martin|i|
MG|Madagascar|Madagascar|i|
MH|the Marshall Islands|îles Marshall|=aux îles Marshall|
MK|North Macedonia|Macédoine du Nord|f|Macedonia;Macédoine;Republic of North Macedonia
ML|Mali|Mali|m|
MM|Myanmar|Myanmar|m|Burma;Birmanie
MN|Mongolia|Mongolie|f|
MO|Macao|Macao|i|Macau
MQ|Martinique|Martinique|f|
MR|Mauritania|Mauritanie|f|
MT|Malta|Malte|i|
MU|Mauritius|Maurice|i|île Maurice
MV|the Maldives|Maldives|p|
MW|Malawi|Malawi|m|
MX|Mexico|Mexique|m|México;Mejico
MY|Malaysia|Malaisie|f|
MZ|Mozambique|Mozambique|m|
NA|Namibia|Namibie|f|
NC|New Caledonia|Nouvelle-Calédonie|f|
NE|Niger|Niger|m|
NG|Nigeria|Nigeria|m|Nigéria
NI|Nicaragua|Nicaragua|m|
NL|the Netherlands|Pays-Bas|p|Netherlands;Holland;Hollande;Nederland
NO|Norway|Norvège|f|Norge;Noreg
NP|Nepal|Népal|m|
NR|Nauru|Nauru|i|
NZ|New Zealand|Nouvelle-Zélande|f|Aotearoa
OM|Oman|Oman|i|
PA|Panama|Panama|m|Panamá
PE|Peru|Pérou|m|Perú
PF|French Polynesia|Polynésie française|f|Tahiti
PG|Papua New Guinea|Papouasie-Nouvelle-Guinée|f|
PH|the Philippines|Philippines|p|
PK|Pakistan|Pakistan|m|
PL|Poland|Pologne|f|Polska
PM|Saint Pierre and Miquelon|Saint-Pierre-et-Miquelon|i|
PR|Puerto Rico|Porto Rico|i|
PS|Palestine|Palestine|f|State of Palestine;État de Palestine
PT|Portugal|Portugal|m|
PW|Palau|Palaos|p|
PY|Paraguay|Paraguay|m|
QA|Qatar|Qatar|m|
RE|Réunion|La Réunion|=à La Réunion|Reunion Island;île de La Réunion
RO|Romania|Roumanie|f|România;Rumania
RS|Serbia|Serbie|f|Srbija
RU|Russia|Russie|f|Russian Federation;Fédération de Russie
RW|Rwanda|Rwanda|m|
SA|Saudi Arabia|Arabie saoudite|f|KSA
SB|the Solomon Islands|îles Salomon|=aux îles Salomon|Solomons
SC|Seychelles|Seychelles|p|
SD|Sudan|Soudan|m|
SE|Sweden|Suède|f|Sverige
SG|Singapore|Singapour|i|
SI|Slovenia|Slovénie|f|Slovenija
SJ|Svalbard and Jan Mayen|Svalbard-et-Jan-Mayen|=au Svalbard-et-Jan-Mayen|Svalbard
SK|Slovakia|Slovaquie|f|Slovensko;Slovak Republic;République slovaque
SL|Sierra Leone|Sierra Leone|f|
SM|San Marino|Saint-Marin|i|
SN|Senegal|Sénégal|m|
SO|Somalia|Somalie|f|
SR|Suriname|Suriname|m|Surinam
SS|South Sudan|Soudan du Sud|m|
ST|São Tomé and Príncipe|Sao Tomé-et-Principe|i|Sao Tome
SV|El Salvador|Salvador|m|Le Salvador
SY|Syria|Syrie|f|
SZ|Eswatini|Eswatini|m|Swaziland
TC|the Turks and Caicos Islands|îles Turques-et-Caïques|=aux îles Turques-et-Caïques|
+TC|Turks and Caicos
TD|Chad|Tchad|m|
TG|Togo|Togo|m|
TH|Thailand|Thaïlande|f|
TJ|Tajikistan|Tadjikistan|m|
TL|Timor-Leste|Timor oriental|m|East Timor
TM|Turkmenistan|Turkménistan|m|
TN|Tunisia|Tunisie|f|
TO|Tonga|Tonga|p|
TR|Turkey|Turquie|f|Türkiye
TT|Trinidad and Tobago|Trinité-et-Tobago|i|Trinidad
TV|Tuvalu|Tuvalu|p|
TW|Taiwan|Taïwan|i|
TZ|Tanzania|Tanzanie|f|
UA|Ukraine|Ukraine|f|Ukraina
UG|Uganda|Ouganda|m|
US|the United States|États-Unis|p|USA;U.S.A.;U.S.;United States of America;États-Unis d'Amérique
+US|New Jersey;Jersey City;New Mexico;Nouveau-Mexique;New England;Nouvelle-Angleterre
UY|Uruguay|Uruguay|m|
UZ|Uzbekistan|Ouzbékistan|m|
VA|Vatican City|Vatican|m|Holy See;Saint-Siège;Cité du Vatican;Vatican City State
VC|Saint Vincent and the Grenadines|Saint-Vincent-et-les-Grenadines|i|St Vincent
VE|Venezuela|Venezuela|m|
VG|the British Virgin Islands|îles Vierges britanniques|=aux îles Vierges britanniques|
VI|the United States Virgin Islands|îles Vierges des États-Unis|=aux îles Vierges des États-Unis|
+VI|US Virgin Islands;U.S. Virgin Islands
VN|Vietnam|Viêt Nam|m|Viet Nam
VU|Vanuatu|Vanuatu|m|
WF|Wallis and Futuna|Wallis-et-Futuna|i|
WS|Samoa|Samoa|p|
XK|Kosovo|Kosovo|m|
YE|Yemen|Yémen|m|
YT|Mayotte|Mayotte|i|
ZA|South Africa|Afrique du Sud|f|
ZM|Zambia|Zambie|f|
ZW|Zimbabwe|Zimbabwe|m|
GB-SCT|Scotland|Écosse|f|Shetland;Shetland Islands;îles Shetland;Orkney;Orkney Islands
+GB-SCT|Orcades;îles Orcades;Hebrides;Hébrides;Outer Hebrides;Hébrides extérieures
GB-NIR|Northern Ireland|Irlande du Nord|f|N. Ireland
GB-IOW|the Isle of Wight|île de Wight|=sur l'île de Wight|Isle of Wight;Wight|on the Isle of Wight
+GB|England;Angleterre;Wales;pays de Galles;Cymru
GB-CHI|the Channel Islands|îles Anglo-Normandes|=dans les îles Anglo-Normandes|Channel Islands
+GB-CHI|îles de la Manche;Anglo-Norman Islands
"""

# Areas inside a country, and the pseudo code standing for several jurisdictions.
# England and Wales are plain GB (docs/contracts.md): only the areas the om-system FAQ excludes
# get their own ISO 3166-2 code, so the value says what the delivery rules need.
_PARENTS = {"GB-SCT": "GB", "GB-NIR": "GB", "GB-IOW": "GB"}
_REGION_MEMBERS = {"GB-CHI": ("JE", "GG")}

# Leading words dropped before a lookup, so "l'Allemagne", "en Allemagne", "aux Pays-Bas",
# "in the UK", "to the United States" all reach the bare name. Accents are already stripped
# ("à" is "a"). Only leading words go: "Irlande du Nord" keeps its "du".
_LEADING_FILLERS = frozenset(
    {"l", "le", "la", "les", "un", "une", "en", "au", "aux", "a", "dans", "sur", "de", "du"}
    | {"des", "d", "vers", "pour", "the", "in", "to", "from", "into"}
)

# Names that are far more often something else in a support message: first names ("Jordan",
# "Chad", "Dominique", "Maurice", "Salvador") and a US state ("Georgia").
# They are still understood as a whole answer (normalise_country), never picked out of a
# free sentence.
_NOT_IN_FREE_TEXT = frozenset({"jordan", "chad", "georgia", "dominique", "maurice", "salvador"})

# Upper-case two-letter tokens that are far more often something else than a country code in
# a support message: e-mail and letter abbreviations (RE:, P.S.), common acronyms (TV, ID, CV,
# AI, MD, CD, AD, AM/PM, MS, SA) and English words typed in capitals for emphasis ("I have NO
# tracking number", "IS IT"). The shops' order prefixes (OM-104233, BT 200517) are such tokens
# too: they come from the shop folders (`order_prefix`, `bot.nlu.order_numbers`), see
# `_not_codes`.
_CODES_NOT_IN_FREE_TEXT = frozenset(
    {"RE", "PS", "TV", "ID", "CV", "AI", "MD", "CD", "AD", "AM", "PM", "MS", "MR"}
    | {"SA", "TM", "PR", "GP", "CC", "NO", "IN", "IS", "TO", "ME", "MY", "AS", "BY", "DO", "SO"}
    | {"LA", "SD", "PC", "OS", "HD", "GO", "MB", "MM", "TB"}  # SD card, PC, OS, HD, MB/TB, mm
)

# Lower-case words that are also codes: as a whole answer they are far more often the word
# ("no", "de", "la", "it") than the country, so only their upper-case form is a code.
_WORDS_NOT_CODES = (
    _LEADING_FILLERS
    | {code.lower() for code in _CODES_NOT_IN_FREE_TEXT}
    | {"es", "et", "il", "ne", "se", "si", "ni", "ma", "ca", "be", "at", "it"}
)

_LIGATURES = str.maketrans(
    {"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "\u0131": "i"}
)
# A word: letters and digits, plus combining accents so a decomposed "é" stays one word.
_WORD = re.compile(r"[\w\u0300-\u036f]+")
# What may separate the words of one name: "Pays-Bas", "Côte d'Ivoire", "U.K.", "Royaume - Uni".
_NAME_GAP = re.compile(r"[\s\-\u2010-\u2015'\u2019\u02bc.]{1,3}")
_SUBDIVISION_CODE = re.compile(r"(?<![\w-])GB-(?:SCT|NIR|IOW|CHI)(?![\w-])")
_ALPHA2_TOKEN = re.compile(r"(?<![\w\u0300-\u036f])[A-Z]{2}(?![\w\u0300-\u036f])")
# Text that must not be read as names: e-mail addresses, URLs and bare domain names
# ("john.smith@example.co.uk", "amazon.co.uk" are not the UK). Bare domains need a common
# top-level domain, so that a missing space ("en france.merci") does not hide a name.
# Each alternative starts only where its run of characters starts (the lookbehinds): starting
# inside a run, "a.a.a.a..." took quadratic time to fail (tests/hostile).
_MASKED = re.compile(
    r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|(?:https?://|www\.)\S+"
    r"|(?i:(?<![\w.-])[a-z0-9-]+(?:\.[a-z0-9-]+)*"
    r"\.(?:com|net|org|info|shop|io|eu|fr|de|uk|ch|be|nl|it|es|at|jp|us|ca|au)\b)"
)


def _fold(word: str) -> str:
    """Case-folds ``word`` and removes accents and ligatures ("Écosse" -> "ecosse")."""
    decomposed = unicodedata.normalize("NFKD", word.casefold().translate(_LIGATURES))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _key(text: str) -> tuple[str, ...]:
    """The words of ``text``, folded, without the leading articles and prepositions."""
    words = [_fold(match.group()) for match in _WORD.finditer(text)]
    start = 0
    while start < len(words) - 1 and words[start] in _LEADING_FILLERS:
        start += 1
    return tuple(words[start:])


def _french_in(code: str, name: str, form: str) -> str:
    if form.startswith("="):
        return form[1:]
    if form == "f":
        return f"en {name}"
    if form == "m":
        # Masculine names starting with a vowel take "en" ("en Iran", "en Équateur").
        return f"{'en' if _fold(name[0]) in 'aeiouy' else 'au'} {name}"
    if form == "p":
        return f"aux {name}"
    if form == "i":
        return f"à {name}"
    raise ValueError(f"unknown French form {form!r} for {code}")


def _parse_table(table: str) -> dict[str, Country]:
    countries: dict[str, Country] = {}
    for line in table.strip().splitlines():
        fields = line.split("|")
        if line.startswith("+"):
            more = tuple(v for v in fields[1].split(";") if v)
            entry = countries[fields[0][1:]]
            countries[entry.code] = replace(entry, variants=entry.variants + more)
            continue
        code, english, french, form = fields[:4]
        variants = tuple(v for v in fields[4].split(";") if v) if len(fields) > 4 else ()
        in_en = fields[5] if len(fields) > 5 and fields[5] else f"in {english}"
        name_en = english[4:] if english.startswith("the ") else english
        countries[code] = Country(
            code=code,
            name_en=name_en,
            name_fr=french,
            in_en=in_en,
            in_fr=_french_in(code, french, form),
            variants=variants,
        )
    return countries


def _build_index(countries: dict[str, Country]) -> dict[tuple[str, ...], str]:
    index: dict[tuple[str, ...], str] = {}
    for entry in countries.values():
        for text in (entry.name_en, entry.name_fr, *entry.variants):
            key = _key(text)
            claimed = index.setdefault(key, entry.code)
            # A name meaning two places would make the answer depend on table order.
            if claimed != entry.code:
                raise ValueError(f"{text!r} names both {claimed} and {entry.code}")
    return index


COUNTRIES: dict[str, Country] = _parse_table(_TABLE)
_INDEX = _build_index(COUNTRIES)
# For scanning sentences: the keys grouped by their first word, longest first.
_BY_FIRST_WORD: dict[str, list[tuple[tuple[str, ...], str]]] = {}
for _words, _code in sorted(_INDEX.items(), key=lambda item: -len(item[0])):
    _BY_FIRST_WORD.setdefault(_words[0], []).append((_words, _code))
_ALPHA2 = frozenset(code for code in COUNTRIES if len(code) == 2)


def is_known_code(code: str) -> bool:
    """Whether ``code`` (exact, upper case) is a code of this table."""
    return code in COUNTRIES


def country(code: str) -> Country | None:
    """The table entry of ``code`` (any case), or None."""
    return COUNTRIES.get(code.strip().upper())


def parent_country(code: str) -> str:
    """The ISO 3166-1 country an area belongs to ("GB-SCT" -> "GB"); other codes unchanged.

    The Crown dependencies (JE, GG, IM) and the ``GB-CHI`` pseudo code are not part of the
    United Kingdom and are returned unchanged.
    """
    return _PARENTS.get(code, code)


def region_members(code: str) -> tuple[str, ...]:
    """The jurisdictions a pseudo code stands for ("GB-CHI" -> ("JE", "GG")), else ``(code,)``."""
    return _REGION_MEMBERS.get(code, (code,))


def _not_codes(*, lower: bool = False) -> frozenset[str]:
    """The shops' order prefixes ("OM", "BT": never a country in a message), and, unless
    ``lower``, the other tokens of `_CODES_NOT_IN_FREE_TEXT`; ``lower``: the prefixes only, in
    lower case (as a whole answer "om" is the prefix, not Oman; "OM" may still be the code)."""
    prefixes = store_prefixes()
    if lower:
        return frozenset(prefix.lower() for prefix in prefixes)
    return _CODES_NOT_IN_FREE_TEXT | frozenset(prefixes)


def normalise_country(text: str) -> str | None:
    """The code of the country or area ``text`` names, or None.

    ``text`` is a whole value: a name in French or English, a listed variant, or a code
    ("DE", "gb-sct"; a lower-case code that is also a common word, such as "de", "la", "no",
    "it", counts as the word, not the code). Accents, case, punctuation and leading articles or
    prepositions do not matter ("l'Écosse", "en Allemagne", "Etats Unis", "U.K."). When the
    whole text is not a name, a sentence naming exactly one country is accepted too
    ("je suis en Allemagne" -> "DE"); two different countries give None.

    Args:
        text: what the customer (or a slot) gave as the country.

    Returns:
        The code (see the module docstring), or None when no single country is named.
    """
    stripped = text.strip()
    if not stripped:
        return None
    as_code = stripped.upper()
    if as_code in COUNTRIES and stripped not in _WORDS_NOT_CODES | _not_codes(lower=True):
        return as_code
    found = _INDEX.get(_key(stripped))
    if found is not None:
        return found
    codes = {code for _start, _end, _text, code in find_countries(stripped)}
    return codes.pop() if len(codes) == 1 else None


def find_countries(text: str) -> list[tuple[int, int, str, str]]:
    """Finds the countries and areas named in a free sentence.

    Names and variants match whatever their case and accents; where names overlap the
    longest wins ("Irlande du Nord" over "Irlande", "New Jersey" over "Jersey"). ISO codes
    count only as separate upper-case tokens (``DE``, ``GB-SCT``), so French "de", "la",
    "es" are never codes; codes that are usually something else (order prefixes ``OM`` and
    ``BT``, "RE:", "NO", ...) are ignored, and so are all two-letter codes when the message
    is written entirely in capitals. E-mail addresses and web addresses are skipped
    ("example.co.uk" is not the UK).

    Args:
        text: the customer's message.

    Returns:
        ``(start, end, matched text, code)`` for each mention, in text order; ``text[start:end]``
        is the matched text (without any article before it).
    """
    masked = _MASKED.sub(lambda match: " " * len(match.group()), text)
    candidates: list[tuple[int, int, str]] = []

    words = list(_WORD.finditer(masked))
    folded = [_fold(word.group()) for word in words]
    for i, first in enumerate(folded):
        for key, code in _BY_FIRST_WORD.get(first, ()):
            last = i + len(key) - 1
            if last >= len(words) or tuple(folded[i : last + 1]) != key:
                continue
            gaps = (masked[words[j].end() : words[j + 1].start()] for j in range(i, last))
            if not all(_NAME_GAP.fullmatch(gap) for gap in gaps):
                continue
            if " ".join(key) in _NOT_IN_FREE_TEXT:
                continue
            start, end = words[i].start(), words[last].end()
            # Dotted abbreviations keep their final dot: "U.K." rather than "U.K".
            if len(folded[last]) == 1 and masked[end : end + 1] == ".":
                end += 1
            candidates.append((start, end, code))

    candidates.extend((m.start(), m.end(), m.group()) for m in _SUBDIVISION_CODE.finditer(masked))
    # A message typed entirely in capitals is shouting, not a list of codes.
    shouting = not any(ch.islower() for ch in masked) and len(words) > 1
    if not shouting:
        candidates.extend(
            (m.start(), m.end(), m.group())
            for m in _ALPHA2_TOKEN.finditer(masked)
            if m.group() in _ALPHA2 and m.group() not in _not_codes()
        )

    chosen: list[tuple[int, int, str]] = []
    for start, end, code in sorted(candidates, key=lambda c: (c[0] - c[1], c[0])):
        if all(end <= s or start >= e for s, e, _code in chosen):
            chosen.append((start, end, code))
    return [(start, end, text[start:end], code) for start, end, code in sorted(chosen)]


def _entry(code: str) -> Country | None:
    return COUNTRIES.get(code.strip().upper())


def _is_english(lang: str) -> bool:
    # Responses fall back to French (the contract's default language) for anything else.
    return lang.strip().lower().startswith("en")


def country_name(code: str, lang: str) -> str:
    """The plain name of ``code``: "Allemagne" / "Germany", "Pays-Bas" / "Netherlands".

    Args:
        code: a code of this table, any case.
        lang: ``"fr"`` or ``"en"``; anything else gives French.

    Returns:
        The name, or ``code`` itself when it is not in the table (a name is cosmetic; an
        answer with the raw code beats no answer).
    """
    entry = _entry(code)
    if entry is None:
        return code
    return entry.name_en if _is_english(lang) else entry.name_fr


def country_name_with_preposition(code: str, lang: str) -> str:
    """The name with the preposition "in": "en Allemagne", "au Danemark", "aux Pays-Bas".

    English: "in Germany", "in the Netherlands", "on the Isle of Man". Unknown codes give
    the code after "en" / "in".

    Args:
        code: a code of this table, any case.
        lang: ``"fr"`` or ``"en"``; anything else gives French.
    """
    entry = _entry(code)
    english = _is_english(lang)
    if entry is None:
        return f"{'in' if english else 'en'} {code}"
    return entry.in_en if english else entry.in_fr
