"""Locust scenarios against a running Tracer (the edge for recipients' traffic, the admin
API for sends and short links):

    email_campaign   sends through the admin API; Apple MPP prefetch, Gmail proxy and real
                     opens; human clicks; Safe Links scanner bursts; unsubscribes
    sms_burst        a burst of clicks on SMS short links (/s/{slug}) made by the admin API
    bot_storm        crawlers, scripts and headless browsers on real links, and garbage

`python -m bench.locust SCENARIO DURATION` (what `just locust` runs) starts a private
`tracer up`, runs one scenario headless, prints locust's summary and checks that every
event the edge answered reached the store. See docs/load-testing.md.
"""
