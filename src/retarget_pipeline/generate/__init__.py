"""Sample pixel-log generator (``retarget generate``): realistic, deterministic, streaming.

Output: ``OUT/YYYY/MM/DD/HH/pixel-YYYYMMDDHH.jsonl.gz``, one gzip file (mtime 0, no name in the header) per
collector RECEIVED hour, lines sorted by ``received_time``; every hour from the start date up to the last
received hour gets a file (possibly empty). Lines follow ``schemas/pixel_event.v1.schema.json`` except the
malformed ones; absent optional fields are omitted (not null). Identify lines carry an extra ``country``
(ISO 3166 alpha-2) so national-format phones can be parsed. Same arguments -> byte-identical files.

Defaults: ``--start-date 2026-11-20`` (a Friday, Black Friday week), ``--days 3``, ``--seed 42``,
``--events 100000``, ``--products 2000``, ``--visitors events // 12``.

What each knob produces (measured with ``tests/generate/generate_measure.py`` on the default 100k run, seed 42):

=========================  =======  ==========================================================  ==========
knob                       default  meaning / how to measure                                    measured
=========================  =======  ==========================================================  ==========
``--events``               100000   lines written in total (exact), incl. duplicates/malformed  100000
``--bot-rate``             0.015    share of all lines from bot sessions. Every bot line has a  1.51 %
                                    crawler/headless/script user agent (Googlebot, bingbot,
                                    AhrefsBot, SemrushBot, HeadlessChrome, python-requests,
                                    curl, Scrapy) or an IP in the datacenter range 203.0.113.0/24
                                    (people never use that range); bots never add to cart
``--duplicate-rate``       0.005    per valid line, chance of a double fire: same event_id and  0.49 % of
                                    payload; 30 % byte-identical, else re-received 1-1500 ms     lines
                                    later (only received_time differs)
``--malformed-rate``       0.005    per line, chance it is broken: 25 % truncated JSON, ~10 %   0.50 % of
                                    wrong type (price "abc"/"12,99"/"N/A", quantity "1" string), lines
                                    ~30 % a required field other than received_time missing,
                                    20 % event_time 2 years in the future, ~15 % unparsable
                                    event_time (measured 100k: 133/163/100/64/22+22 lines)
``--late-rate``            0.03     chance a human session is delivered as one offline batch    2.9 % of
                                    2 min - 10 h (median 30 min) after its last event. The share  sessions;
                                    of valid lines whose event_time hour is before the file's    1.7 % of
                                    hour ("late" lines) is about 0.55 x late-rate                lines late
``--consent-denied-rate``  0.03     share of devices (anonymous_ids) that start with 'denied';  3.1 %
                                    4 % of the others start 'unknown', the rest 'granted'
``--consent-flip-rate``    0.01     share of devices that flip once (granted<->denied, unknown  0.32 % seen
                                    -> denied) at a random moment of the window                 both ways
``--registered-rate``      0.35     share of people with a user_id; they log in (identify:      1715 users
                                    user_id + email, phone for 70 % of those with one) in half
                                    their sessions and at 80 % of guest checkouts
``--second-device-rate``   0.45     share of registered people with a second device (another   211 users
                                    anonymous_id, same user_id once they log in there)          on >= 2
``--app-rate``             0.15     share of first devices that are the app (twice that for     15 % of
                                    second devices): advertising_id set (IDFA upper case, GAID  human
                                    lower case; 8 % of iOS send the all-zero limited id)        lines
``--cart-rate``            0.10     per shopping session with a product_view: adds to cart.    10.0 %
                                    Measured per session = per anonymous_id, split after 30 min
                                    without events, bots and malformed lines excluded
``--purchase-rate``        0.30     per session with add_to_cart: purchases (begin_checkout at  28.8 %
                                    min(1, 1.8 x rate), then pays). 25 % of carts add two items,
                                    40 % of those remove one (remove_from_cart)
``--ad-session-rate``      0.25     share of human sessions that are ad exposures: 80 % 1-3     52 max
                                    impressions, 20 % bursts of 10-40 within ~30 min; each      per device
                                    impression is clicked with 3 % and the click lands in a     and hour
                                    shopping session with the campaign's utm_* and referrer
``--zipf-exponent``        1.1      product of popularity rank k viewed with weight 1/k**s      top 10 %:
                                    (40 % of views in a session go to the person's 3            80 % of
                                    'favourites', which returning visitors view again)          views
``--visitors``             ev//12   pool of people; each session picks index pool*u**1.8, so a  56 % of
                                    few return often and most rarely                            devices on
                                                                                                >= 2 days
=========================  =======  ==========================================================  ==========

Purchases: one ``purchase`` line per item in the order, all with the same ``order_id`` and ``revenue`` = the
order total (sum revenue over distinct order_id), ``email`` always (guest checkouts have no user_id).
Currency follows the person's country: EUR (DE/FR/NL, 65 %), GBP (GB, 15 %), USD (US, 20 %).
Emails: example.com / example.org / gmail.com, typed in varied forms (upper/title case, padding, a tab,
gmail dots and +tags). Phones (60 % of US/GB/FR people): US 555-01xx, UK 020 7946 0xxx / 07700 900xxx,
France 01 99 00 xx xx / 06 39 98 xx xx, in E.164, national and pretty formats ('+1 (415) 555-0100',
'020 7946 0958'). IPs: 192.0.2.0/24, 198.51.100.0/24, 2001:db8::/32 (20 %); bots also 203.0.113.0/24.
Landing pages: 30 % direct, search/social/blog referrers, utm_* on newsletter, paid search and social.
Traffic follows a European day (night low, evening peak), weekends +15 %.

Performance (2 shared cores, load ~9, ``/usr/bin/time -v``): 1M lines / 7 days took 27.9 s CPU (~36k lines/s
per core; 18k/s wall at the 50 % CPU share we got), peak RSS 71 MB, 72 MB of gzip; 3M lines: 106 s CPU, peak
RSS 73 MB (flat: memory depends on lines per minute, not on the total). The pending heap peaked at 1,340 /
3,814 lines. 100M lines is ~1 h of CPU; pass ``--compress-level 1`` for ~25 % more speed.
"""
