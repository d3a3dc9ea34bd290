"""Visitor behaviour: one call builds one session's events as ``(event_time_ms, payload)`` in time order.

Three kinds of session: shopping (landing page -> product views -> cart -> checkout -> purchase funnel, with
logins), ad exposure (a burst of ad impressions, sometimes a click that lands in a shopping session) and bot
(fast page/product views, no cart). Delivery (received time, late batches, double fires, malformed lines) is
added later by :mod:`retarget_pipeline.generate.delivery`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from retarget_pipeline.generate.catalog import Campaign, Catalog, Product
from retarget_pipeline.generate.people import Bot, Device, Person, new_uuid, render_email, render_phone

Event = tuple[int, dict[str, Any]]
SHOP = "https://shop.example.com"
# (referrer, utm_source, utm_medium, utm_campaign, weight) of a landing page not reached through an ad.
LANDINGS: tuple[tuple[str | None, str | None, str | None, str | None, float], ...] = (
    (None, None, None, None, 0.30),
    ("https://www.google.com/", None, None, None, 0.22),
    ("https://www.bing.com/", None, None, None, 0.03),
    ("https://l.facebook.com/", "facebook", "social", "organic_posts", 0.06),
    ("https://www.instagram.com/", None, None, None, 0.04),
    (None, "newsletter", "email", "black_friday_2026", 0.10),
    ("https://www.google.com/", "google", "cpc", "brand_search", 0.15),
    ("https://blog.example.org/best-running-shoes-2026", None, None, None, 0.10),
)
_LANDING_WEIGHTS = [row[4] for row in LANDINGS]
PUBLISHERS = ("https://news.example.org/article/", "https://recipes.example.net/r/", "https://www.example.com/blog/")


@dataclass
class Funnel:
    """Per-session funnel probabilities derived from the settings (see the package docstring)."""

    cart_rate: float
    purchase_rate: float

    @property
    def checkout_rate(self) -> float:
        return min(1.0, self.purchase_rate * 1.8)

    @property
    def pay_rate(self) -> float:
        return self.purchase_rate / self.checkout_rate if self.checkout_rate else 0.0


class SessionBuilder:
    """Builds sessions with the stream's RNG (so the whole run is one deterministic sequence)."""

    def __init__(self, rng: random.Random, catalog: Catalog, funnel: Funnel) -> None:
        self.rng = rng
        self.catalog = catalog
        self.funnel = funnel
        self._favourite_cache: dict[int, list[Product]] = {}

    def _favourites(self, seed: int) -> list[Product]:
        """The person's 3 favourite products (pure function of the seed; the cache is bounded)."""
        wanted = self._favourite_cache.get(seed)
        if wanted is None:
            if len(self._favourite_cache) >= 1 << 15:
                self._favourite_cache.clear()
            chooser = random.Random(seed)
            wanted = self._favourite_cache[seed] = [self.catalog.popular(chooser) for _ in range(3)]
        return wanted

    def _gap(self, median_s: float, spread: float = 0.8) -> int:
        return max(300, int(self.rng.lognormvariate(0.0, spread) * median_s * 1000))

    @staticmethod
    def _base(device: Device, person: Person, t_ms: int) -> dict[str, Any]:
        base: dict[str, Any] = {"anonymous_id": device.anonymous_id}
        if device.advertising_id is not None:
            base["advertising_id"] = device.advertising_id
        base["consent"] = device.consent_at(t_ms)
        base["user_agent"] = device.user_agent
        base["ip"] = device.ip
        return base

    def _event(self, etype: str, t_ms: int, ident: dict[str, Any], fields: dict[str, Any]) -> Event:
        payload: dict[str, Any] = {
            "schema_version": "1.0",
            "event_id": new_uuid(self.rng),
            "event_type": etype,
            "event_time": t_ms,
            "received_time": 0,
        }
        payload.update(ident)
        payload.update(fields)
        return t_ms, payload

    # --- shopping ------------------------------------------------------------------------------------------
    def shopping(
        self, person: Person, device: Device, start_ms: int, landing: dict[str, Any] | None = None
    ) -> list[Event]:
        rng, catalog = self.rng, self.catalog
        ident = self._base(device, person, start_ms)
        t = start_ms
        wanted = self._favourites(person.favourites_seed)
        events: list[Event] = []
        if landing is None:
            referrer, source, medium, campaign, _ = rng.choices(LANDINGS, weights=_LANDING_WEIGHTS)[0]
            landing = {"referrer": referrer, "utm_source": source, "utm_medium": medium, "utm_campaign": campaign}
        landing = {k: v for k, v in landing.items() if v is not None}
        query = "&".join(f"{k}={landing[k]}" for k in ("utm_source", "utm_medium", "utm_campaign") if k in landing)
        first_page = rng.choice(("/", "/", f"/c/{wanted[0].category}", f"/p/{wanted[0].product_id}"))
        url = self._url(device, first_page) + (f"?{query}" if query else "")
        events.append(self._event("page_view", t, ident, {"page_url": url, **landing}))
        logged_in = person.user_id is not None and rng.random() < 0.5
        if logged_in:
            t += self._gap(8)
            events.append(self._login(person, t, ident))
        viewed: list[Product] = []
        n_views = 0 if rng.random() < 0.25 else min(15, 1 + int(rng.expovariate(1 / 2.5)))
        for _ in range(n_views):
            t += self._gap(25)
            if viewed and rng.random() < 0.3:
                product = catalog.in_category(rng, viewed[-1].category)
                events.append(
                    self._event("page_view", t, ident, {"page_url": self._url(device, f"/c/{product.category}")})
                )
                t += self._gap(10)
            else:
                product = rng.choice(wanted) if rng.random() < 0.4 else catalog.popular(rng)
            viewed.append(product)
            events.append(self._product_event("product_view", t, ident, person, product, None))
        if viewed and rng.random() < self.funnel.cart_rate:
            events.extend(self._cart_and_checkout(person, device, ident, viewed, t, logged_in))
        return events

    def _cart_and_checkout(
        self, person: Person, device: Device, ident: dict[str, Any], viewed: list[Product], t: int, logged_in: bool
    ) -> list[Event]:
        rng = self.rng
        events: list[Event] = []
        cart: list[tuple[Product, int]] = []
        for product in rng.sample(viewed, 2 if len(viewed) > 1 and rng.random() < 0.25 else 1):
            t += self._gap(20)
            quantity = 1 if rng.random() < 0.85 else rng.randint(2, 4)
            cart.append((product, quantity))
            events.append(self._product_event("add_to_cart", t, ident, person, product, quantity))
        if len(cart) > 1 and rng.random() < 0.4:
            t += self._gap(30)
            product, quantity = cart.pop(rng.randrange(len(cart)))
            events.append(self._product_event("remove_from_cart", t, ident, person, product, quantity))
        if rng.random() >= self.funnel.checkout_rate:
            return events
        t += self._gap(40)
        events.append(self._event("begin_checkout", t, ident, {"page_url": self._url(device, "/checkout")}))
        if person.user_id is not None and not logged_in and rng.random() < 0.8:
            t += self._gap(15)
            events.append(self._login(person, t, ident))
        if rng.random() >= self.funnel.pay_rate:
            return events
        t += self._gap(60)
        order_id = f"ORD-{rng.getrandbits(40):012d}"
        revenue = round(sum(p.price_in(person.currency) * q for p, q in cart), 2)
        for product, quantity in cart:
            fields = {"email": render_email(rng, person), "order_id": order_id, "revenue": revenue}
            event = self._product_event("purchase", t, ident, person, product, quantity)
            event[1].update(fields)
            event[1]["page_url"] = self._url(device, "/checkout/confirmation")
            events.append(event)
        return events

    def _login(self, person: Person, t: int, ident: dict[str, Any]) -> Event:
        ident["user_id"] = person.user_id  # later events of the session carry it too
        fields: dict[str, Any] = {"email": render_email(self.rng, person)}
        if person.phone is not None and self.rng.random() < 0.7:
            fields["phone"] = render_phone(self.rng, person.phone)
        fields["country"] = person.country  # context for parsing national-format phones
        return self._event("identify", t, ident, fields)

    def _product_event(
        self, etype: str, t: int, ident: dict[str, Any], person: Person, product: Product, quantity: int | None
    ) -> Event:
        fields: dict[str, Any] = {
            "page_url": f"{SHOP}/p/{product.product_id}",
            "product_id": product.product_id,
            "category": product.category,
            "price": product.price_in(person.currency),
            "currency": person.currency,
        }
        if quantity is not None:
            fields["quantity"] = quantity
        return self._event(etype, t, ident, fields)

    @staticmethod
    def _url(device: Device, path: str) -> str:
        return f"shopapp://{path.lstrip('/')}" if device.kind.startswith("app") else f"{SHOP}{path}"

    # --- ads -----------------------------------------------------------------------------------------------
    def ad_exposure(self, person: Person, device: Device, start_ms: int) -> list[Event]:
        """Impressions of one campaign; 1 in 5 exposures is a burst (10-40 impressions in well under an hour)."""
        rng = self.rng
        campaign = rng.choice(self.catalog.campaigns)
        bursty = rng.random() < 0.2
        n = rng.randint(10, 40) if bursty else 1 + int(rng.expovariate(1 / 1.5))
        ident = self._base(device, person, start_ms)
        events: list[Event] = []
        t = start_ms
        for i in range(n):
            if i:
                t += self._gap(45 if bursty else 240, 0.6)
            events.append(self._ad_event("ad_impression", t, ident, campaign))
            if rng.random() < 0.03:
                t += self._gap(3)
                events.append(self._ad_event("ad_click", t, ident, campaign))
                landing = {
                    "referrer": _ad_referrer(campaign),
                    "utm_source": campaign.platform,
                    "utm_medium": campaign.medium,
                    "utm_campaign": campaign.name,
                }
                return events + self.shopping(person, device, t + self._gap(2), landing)
        return events

    def _ad_event(self, etype: str, t: int, ident: dict[str, Any], campaign: Campaign) -> Event:
        fields = {
            "page_url": f"{self.rng.choice(PUBLISHERS)}{self.rng.randint(1000, 99999)}",
            "campaign_id": campaign.campaign_id,
            "ad_id": self.rng.choice(campaign.ad_ids),
        }
        return self._event(etype, t, ident, fields)

    # --- bots ----------------------------------------------------------------------------------------------
    def bot_session(self, bot: Bot, start_ms: int) -> list[Event]:
        rng = self.rng
        ident = {"anonymous_id": bot.anonymous_id, "consent": bot.consent, "user_agent": bot.user_agent, "ip": bot.ip}
        events: list[Event] = []
        t = start_ms
        for _ in range(rng.randint(5, 40)):
            t += max(200, int(rng.expovariate(1 / 1500)))
            if rng.random() < 0.6:
                product = self.catalog.products[rng.randrange(len(self.catalog.products))]  # crawls, not Zipf
                events.append(
                    self._event(
                        "product_view",
                        t,
                        ident,
                        {
                            "page_url": f"{SHOP}/p/{product.product_id}",
                            "product_id": product.product_id,
                            "category": product.category,
                        },
                    )
                )
            else:
                events.append(self._event("page_view", t, ident, {"page_url": f"{SHOP}/c/{rng.randrange(1, 99)}"}))
        return events


def _ad_referrer(campaign: Campaign) -> str:
    return {
        "google": "https://www.googleadservices.com/",
        "meta": "https://l.facebook.com/",
        "criteo": "https://cat.fr.eu.criteo.com/",
        "tiktok": "https://www.tiktok.com/",
    }[campaign.platform]
