"""Realistic user-agent strings for browsers, the shop's app and bots."""

from __future__ import annotations

import random

DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 "
    "Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
)
MOBILE_WEB = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.39 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/"
    "122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Mobile/15E148 Safari/604.1",
)
APP_IOS = (
    "ShopApp/5.12.0 (iPhone; iOS 18.1; Scale/3.00)",
    "ShopApp/5.11.2 (iPhone; iOS 17.6.1; Scale/3.00)",
    "ShopApp/5.12.0 (iPad; iOS 18.0; Scale/2.00)",
)
APP_ANDROID = (
    "ShopApp/5.12.0 (Linux; Android 14; Pixel 8 Build/AP2A.240905.003)",
    "ShopApp/5.11.2 (Linux; Android 13; SM-A546B Build/TP1A.220624.014)",
    "Dalvik/2.1.0 (Linux; U; Android 14; SM-S921B Build/UP1A.231005.007) ShopApp/5.12.0",
)
# Crawlers, headless browsers and scripts. Each contains one of the tokens in BOT_TOKENS.
BOTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) "
    "Chrome/131.0.6778.69 Safari/537.36",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.33 Safari/537.36",
    "python-requests/2.32.3",
    "curl/8.5.0",
    "Scrapy/2.11.2 (+https://scrapy.org)",
)
BOT_TOKENS = ("Googlebot", "bingbot", "AhrefsBot", "SemrushBot", "HeadlessChrome", "python-requests", "curl/", "Scrapy")

_BY_KIND = {"desktop": DESKTOP, "mobile_web": MOBILE_WEB, "app_ios": APP_IOS, "app_android": APP_ANDROID}


def human_agent(rng: random.Random, kind: str) -> str:
    return rng.choice(_BY_KIND[kind])


def bot_agent(rng: random.Random) -> str:
    return rng.choice(BOTS)


def is_bot_agent(user_agent: str | None) -> bool:
    return user_agent is not None and any(token in user_agent for token in BOT_TOKENS)
