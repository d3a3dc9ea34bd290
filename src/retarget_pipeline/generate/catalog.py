"""The shop: a product catalog with Zipf-like popularity, and the ad campaigns that advertise it.

Product ``k`` (by popularity rank, 1-based) is viewed with weight ``1 / k**s`` (``s`` = ``--zipf-exponent``);
ranks are shuffled over product ids so popularity is not visible in the id.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass

# (category path, median price EUR): categories in the 'dept/sub' form the segments use.
CATEGORIES: tuple[tuple[str, float], ...] = (
    ("shoes/running", 109.0),
    ("shoes/trail", 129.0),
    ("shoes/casual", 79.0),
    ("apparel/jackets", 149.0),
    ("apparel/t-shirts", 24.0),
    ("apparel/trousers", 59.0),
    ("apparel/socks", 9.0),
    ("outdoor/tents", 249.0),
    ("outdoor/backpacks", 89.0),
    ("electronics/watches", 299.0),
    ("electronics/headphones", 129.0),
    ("home/kitchen", 39.0),
)

# Currency conversion from the shop's EUR list price, and the psychological .99 ending.
FX: dict[str, float] = {"EUR": 1.0, "GBP": 0.86, "USD": 1.08}


@dataclass(frozen=True)
class Product:
    product_id: str
    category: str
    price_eur: float

    def price_in(self, currency: str) -> float:
        whole = max(1, round(self.price_eur * FX[currency]))
        return whole - 0.01


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    name: str
    platform: str  # utm_source of its clicks
    medium: str  # utm_medium of its clicks
    ad_ids: tuple[str, ...]
    category: str  # the category its ads show


class Catalog:
    """Products, their popularity distribution and the ad campaigns; built from ``seed`` only."""

    def __init__(self, n_products: int, zipf_exponent: float, seed: int) -> None:
        rng = random.Random(seed * 7919 + 17)
        self.products: list[Product] = []
        for i in range(n_products):
            category, median = CATEGORIES[i % len(CATEGORIES)] if i < len(CATEGORIES) else rng.choice(CATEGORIES)
            price = median * rng.lognormvariate(0.0, 0.35)
            self.products.append(Product(f"SKU-{i + 1:06d}", category, round(price, 2)))
        rng.shuffle(self.products)  # popularity rank = position after the shuffle
        weights = (1.0 / (rank**zipf_exponent) for rank in range(1, n_products + 1))
        self._cum = list(itertools.accumulate(weights))
        self._total = self._cum[-1]
        self.campaigns = _campaigns(rng)

    def popular(self, rng: random.Random) -> Product:
        """One product drawn by Zipf popularity."""
        return self.products[bisect.bisect_left(self._cum, rng.random() * self._total)]

    def in_category(self, rng: random.Random, category: str) -> Product:
        """A product of ``category`` (popular ones more likely), for 'browse the same shelf' behaviour."""
        for _ in range(20):
            product = self.popular(rng)
            if product.category == category:
                return product
        return self.popular(rng)


def _campaigns(rng: random.Random) -> list[Campaign]:
    platforms = (("google", "cpc"), ("meta", "paid_social"), ("criteo", "display"), ("tiktok", "paid_social"))
    campaigns = []
    for i, (category, _) in enumerate(CATEGORIES):
        platform, medium = platforms[i % len(platforms)]
        n_ads = rng.randint(2, 5)
        ad_ids = tuple(f"ad-{i + 1:03d}-{j + 1:02d}" for j in range(n_ads))
        name = f"retarget_{category.replace('/', '_')}_q4"
        campaigns.append(Campaign(f"cmp-{1000 + i}", name, platform, medium, ad_ids, category))
    return campaigns
