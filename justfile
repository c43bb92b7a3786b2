# Tracer — engagement tracking for marketing email and SMS.
# Every recipe creates .venv and installs what it needs on first use, from uv.lock.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := justfile_directory() / ".venv"
bin := venv / "bin"

# List the recipes.
default:
    @just --list

# Install Tracer (and redis-server when missing) without starting anything.
setup:
    scripts/bootstrap.sh "" redis-server:redis-server

# Start every role on embedded defaults (private redis-server, SQLite, example brands).
# On the example brands (TRACER_CONFIG unset) this is development mode: their published
# demo API keys work (TRACER_DEV_MODE=1); with a brands file of your own they do not.
run *ARGS: setup
    TRACER_DEV_MODE="${TRACER_DEV_MODE:-$([ -z "${TRACER_CONFIG:-}" ] && echo 1 || echo 0)}" {{bin}}/tracer up {{ARGS}}

# Run the whole test suite against real redis-server, granian, aiohttp, chromium.
test *ARGS:
    scripts/bootstrap.sh dev redis-server:redis-server nginx-light:nginx wrk:wrk chromium:chromium
    scripts/mongoeco_venv.sh >/dev/null
    TRACER_REQUIRE_ALL_TESTS=1 {{bin}}/python -m pytest {{ARGS}}

# Fault injection under load through `tracer up`: kill -9 of each role, a webhook receiver
# down; every answered request stored once, every event delivered. A table per fault.
chaos *ARGS:
    scripts/bootstrap.sh dev redis-server:redis-server
    {{bin}}/python -m tests.chaos {{ARGS}}

# Benchmarks: edge vs bare granian vs nginx vs Flask+Celery, printed as a table.
bench *ARGS:
    scripts/bootstrap.sh dev,bench redis-server:redis-server nginx-light:nginx wrk:wrk
    {{bin}}/python -m bench {{ARGS}}

# Load test: a locust scenario (email_campaign, sms_burst, bot_storm) against a private `tracer up`.
locust SCENARIO="email_campaign" DURATION="30s" *ARGS:
    scripts/bootstrap.sh bench redis-server:redis-server
    {{bin}}/python -m bench.locust {{SCENARIO}} {{DURATION}} {{ARGS}}

# Lint and format check.
lint:
    scripts/bootstrap.sh dev
    {{bin}}/ruff check .
    {{bin}}/ruff format --check .

# Apply ruff's fixes and formatting.
fmt:
    scripts/bootstrap.sh dev
    {{bin}}/ruff check --fix .
    {{bin}}/ruff format .

# Newest releases the pyproject ranges allow, in a scratch venv: run the suite, print what broke.
deps-check *ARGS:
    scripts/bootstrap.sh "" redis-server:redis-server nginx-light:nginx wrk:wrk chromium:chromium
    scripts/mongoeco_venv.sh >/dev/null
    scripts/deps_check.sh {{ARGS}}

# Refresh uv.lock (and requirements/mongoeco.txt) to the newest allowed releases; names: only those.
deps-update *PACKAGES:
    scripts/deps_update.sh {{PACKAGES}}

# Target: < 5 % RSS growth after warm-up, no fd growth, every event stored once.
# Endurance: `tracer up` 10 minutes at a steady mixed load; RSS/fd growth per role, event totals.
soak *ARGS:
    scripts/bootstrap.sh dev,bench redis-server:redis-server
    {{bin}}/python -m bench.soak {{ARGS}}

# Passes with 0 5xx, 0 worker restarts, 0 redirects outside a valid token.
# Fuzz the edge: 200,000 generated and mutated requests (`--requests N`, `--seed S`).
fuzz *ARGS:
    scripts/bootstrap.sh dev,bench redis-server:redis-server
    {{bin}}/python -m bench.fuzz {{ARGS}}
