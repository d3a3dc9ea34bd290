"""Synthetic people, their devices and the bots: derived on demand from ``(seed, index)``.

Nothing is stored per visitor: :func:`person` rebuilds the same person (same cookies, devices, email, phone,
consent) from its index every time, which keeps memory flat however many visitors there are.

Only reserved ranges are used: IPs from 192.0.2.0/24 and 198.51.100.0/24 (people) and 2001:db8::/32,
203.0.113.0/24 is the "datacenter" range and only bots use it; emails on example.com / example.org plus
some gmail.com; phones in the fictional ranges (US 555-01xx, UK Ofcom drama 020 7946 0xxx / 07700 900xxx,
France ARCEP 01 99 00 xx xx / 06 39 98 xx xx).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from retarget_pipeline.generate import agents

FIRST = (
    "anna", "lukas", "marie", "jonas", "sophie", "paul", "emma", "felix", "lea", "noah", "mia", "elias",
    "olivia", "james", "amelia", "oliver", "isla", "harry", "chloe", "louis", "camille", "hugo", "ines", "jules",
    "sofia", "daan", "julia", "sem", "lucia", "mateo", "grace", "ethan", "ava", "liam", "zoe", "adam",
)  # fmt: skip
LAST = (
    "schmidt", "mueller", "schneider", "fischer", "weber", "meyer", "wagner", "becker", "smith", "jones",
    "taylor", "brown", "williams", "wilson", "martin", "bernard", "dubois", "thomas", "robert", "richard",
    "devries", "jansen", "bakker", "visser", "garcia", "lopez", "martinez", "sanchez", "johnson", "miller",
)  # fmt: skip
# (country, currency, weight): the shop is euro-based with UK and US customers.
COUNTRIES = (("DE", "EUR", 0.35), ("FR", "EUR", 0.2), ("NL", "EUR", 0.1), ("GB", "GBP", 0.15), ("US", "USD", 0.2))
PHONE_COUNTRIES = frozenset({"US", "GB", "FR"})
DATACENTER_PREFIX = "203.0.113."


@dataclass(frozen=True)
class Device:
    anonymous_id: str
    kind: str  # desktop | mobile_web | app_ios | app_android
    user_agent: str
    ip: str
    advertising_id: str | None
    consent: str  # before the flip (if any)
    flip_at_ms: int | None  # when consent changes, if it does
    consent_after: str

    @property
    def mobile(self) -> bool:
        return self.kind != "desktop"

    def consent_at(self, t_ms: int) -> str:
        return self.consent_after if self.flip_at_ms is not None and t_ms >= self.flip_at_ms else self.consent


@dataclass(frozen=True)
class Person:
    index: int
    country: str
    currency: str
    user_id: str | None  # registered customers only
    email_local: str
    email_domain: str
    phone: tuple[str, str] | None  # (kind, digits) in the country's fictional range
    devices: tuple[Device, ...]
    favourites_seed: int


@dataclass(frozen=True)
class Knobs:
    """The subset of settings that shape a person (kept small so people.py needs no CLI knowledge)."""

    seed: int
    registered_rate: float
    second_device_rate: float
    app_rate: float
    consent_denied_rate: float
    consent_flip_rate: float
    window_start_ms: int
    window_ms: int


_V4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_V4_SET = (4 << 76) | (0x8000 << 48)


def new_uuid(rng: random.Random) -> str:
    """A UUID v4 from the seeded RNG (same as ``str(uuid.UUID(int=bits, version=4))``, 3x faster)."""
    h = f"{(rng.getrandbits(128) & _V4_CLEAR) | _V4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@lru_cache(maxsize=1 << 15)
def person(index: int, k: Knobs) -> Person:
    """Person ``index``; a pure function of its arguments, so a bounded cache only saves time."""
    rng = random.Random((k.seed << 34) ^ (index * 2654435761) ^ 0x5EED)
    country, currency, _ = rng.choices(COUNTRIES, weights=[c[2] for c in COUNTRIES])[0]
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = rng.choice((f"{first}.{last}", f"{first}{last}{rng.randint(1, 99)}", f"{first[0]}{last}"))
    domain = rng.choices(("example.com", "example.org", "gmail.com"), weights=(0.45, 0.3, 0.25))[0]
    registered = rng.random() < k.registered_rate
    user_id = f"C{rng.randint(10_000_000, 99_999_999)}" if registered else None
    phone = _phone(rng, country) if country in PHONE_COUNTRIES and rng.random() < 0.6 else None
    n_devices = 2 if registered and rng.random() < k.second_device_rate else 1
    devices = tuple(_device(rng, k, second=i == 1) for i in range(n_devices))
    return Person(index, country, currency, user_id, local, domain, phone, devices, rng.getrandbits(32))


def _device(rng: random.Random, k: Knobs, *, second: bool) -> Device:
    roll = rng.random()
    if roll < k.app_rate or (second and roll < 2 * k.app_rate):
        kind = rng.choice(("app_ios", "app_android"))
    elif roll < 0.55 or second:
        kind = "mobile_web"
    else:
        kind = "desktop"
    advertising_id = None
    if kind.startswith("app"):
        maid = new_uuid(rng)
        # iOS IDFAs are upper case; 8 % of iOS users limit ad tracking, which sends the all-zero id.
        if kind == "app_ios":
            maid = "00000000-0000-0000-0000-000000000000" if rng.random() < 0.08 else maid.upper()
        advertising_id = maid
    consent = "denied" if rng.random() < k.consent_denied_rate else ("unknown" if rng.random() < 0.04 else "granted")
    flip_at = None
    after = consent
    if rng.random() < k.consent_flip_rate:
        flip_at = k.window_start_ms + int(rng.random() * k.window_ms)
        after = "granted" if consent == "denied" else "denied"
    return Device(
        new_uuid(rng), kind, agents.human_agent(rng, kind), human_ip(rng), advertising_id, consent, flip_at, after
    )


def human_ip(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return f"2001:db8:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
    return f"{rng.choice(('192.0.2.', '198.51.100.'))}{rng.randint(1, 254)}"


def _phone(rng: random.Random, country: str) -> tuple[str, str]:
    if country == "US":
        return "us", f"{rng.choice(('415', '212', '312', '617'))}55501{rng.randint(0, 99):02d}"
    if country == "GB":
        if rng.random() < 0.5:
            return "gb_landline", f"2079460{rng.randint(0, 999):03d}"
        return "gb_mobile", f"7700900{rng.randint(0, 999):03d}"
    if rng.random() < 0.5:
        return "fr_landline", f"19900{rng.randint(0, 9999):04d}"
    return "fr_mobile", f"63998{rng.randint(0, 9999):04d}"


def render_email(rng: random.Random, p: Person) -> str:
    """The person's email as typed this time: mostly clean, sometimes upper case, padded or gmail-dotted."""
    local, domain = p.email_local, p.email_domain
    roll = rng.random()
    if domain == "gmail.com" and roll < 0.35:
        if rng.random() < 0.5:
            local = f"{local}+{rng.choice(('shop', 'deals', 'news'))}"
        else:
            cut = rng.randint(1, len(local) - 1)
            local = local.replace(".", "") if "." in local else f"{local[:cut]}.{local[cut:]}"
        return f"{local}@{domain}"
    if roll < 0.55:
        return f"{local}@{domain}"
    if roll < 0.7:
        return f"{local.title()}@{domain.title()}"
    if roll < 0.8:
        return f"{local}@{domain}".upper()
    if roll < 0.9:
        return f" {local}@{domain} "
    return f"{local}@{domain}\t"


def render_phone(rng: random.Random, phone: tuple[str, str]) -> str:
    """The phone as typed: E.164, national and 'pretty' formats (the identify line says the country)."""
    kind, d = phone
    forms: tuple[str, ...]
    if kind == "us":
        forms = (f"+1{d}", f"+1 ({d[:3]}) {d[3:6]}-{d[6:]}", f"({d[:3]}) {d[3:6]}-{d[6:]}", f"{d[:3]}-{d[3:6]}-{d[6:]}",
                 f"{d[:3]}.{d[3:6]}.{d[6:]}", f"1-{d[:3]}-{d[3:6]}-{d[6:]}")  # fmt: skip
    elif kind == "gb_landline":
        forms = (f"0{d[:2]} {d[2:6]} {d[6:]}", f"+44 {d[:2]} {d[2:6]} {d[6:]}", f"+44 (0){d[:2]} {d[2:6]} {d[6:]}",
                 f"+44{d}")  # fmt: skip
    elif kind == "gb_mobile":
        forms = (f"0{d[:4]} {d[4:]}", f"+44 {d[:4]} {d[4:]}", f"+44{d}", f"0{d}")
    else:
        pairs = " ".join(d[i : i + 2] for i in range(1, 9, 2))
        forms = (f"0{d[0]} {pairs}", f"+33 {d[0]} {pairs}", f"+33{d}", f"0{d}")
    return rng.choice(forms)


@dataclass(frozen=True)
class Bot:
    anonymous_id: str
    user_agent: str
    ip: str
    consent: str


def bot(rng: random.Random) -> Bot:
    """A bot for one session: a crawler / headless / script agent, or a browser agent from the datacenter."""
    roll = rng.random()
    ip = f"{DATACENTER_PREFIX}{rng.randint(1, 254)}" if roll < 0.7 else human_ip(rng)
    # Every bot line is detectable: a bot user agent, or (stealth scrapers) a browser agent from 203.0.113.0/24.
    stealth = 0.5 <= roll < 0.7
    agent = agents.human_agent(rng, "desktop") if stealth else agents.bot_agent(rng)
    return Bot(new_uuid(rng), agent, ip, "unknown" if rng.random() < 0.7 else "granted")
