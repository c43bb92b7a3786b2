"""The admin API role (`tracer admin`): what a brand's sending platform calls.

An aiohttp application on `TRACER_ADMIN_PORT` (never the public edge), authenticated by
per-brand API keys: turn a message into its tracked form, build links in bulk, report
conversions, read stats and suppressions. See docs/api.md; the OpenAPI document is served
at `/openapi.json`.
"""
