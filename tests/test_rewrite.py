"""The HTML rewriter: a realistic marketing email in, its tracked form out.

The expected outputs are built independently of the rewriter: from the fixture's known
links (found with a simple pattern that is good enough for a well-formed fixture), or
written out by hand as sketches where `[H]` is the header pixel plus the canary, `[F]`
the footer pixel and `[n]` tracked link n.
"""

from __future__ import annotations

import html.parser
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracer.brands import Brands
from tracer.keyring import KeyRing, dumps
from tracer.links import LinkBuilder, LinkError, normalize_destination
from tracer.rewrite import ONE_CLICK, RewrittenEmail, rewrite_email
from tracer.rewrite.html_scan import scan_html
from tracer.rewrite.markup import canary_link, open_pixel
from tracer.rewrite.urls import clean_url, decode_attribute
from tracer.tokens import CLICK, OPEN, UNSUBSCRIBE, LinkPayload

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parent.parent
BRAND = "northjobs"
MESSAGE = "wk-2024-42-000123"
RECIPIENT = "Jamie.Doe@Example.com"
TRACKED_PREFIX = "https://t.northjobs.example/c/"

# What the fixture's author left untracked on purpose, each with the reason it stays.
UNTOUCHED = {
    "https://view.northjobs.example/m/wk-2024-42?r=8f3a": "data-notrack",
    "https://t.northjobs.example/c/ALREADYTRACKEDTOKEN": "already a tracked link",
    "/account/help": "relative URL",
}


@pytest.fixture
def builder(example_brands: Brands, keyring: KeyRing) -> LinkBuilder:
    return LinkBuilder(example_brands, keyring)


@pytest.fixture(scope="module")
def email_html() -> str:
    return (DATA / "job_alert.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def email_text() -> str:
    return (DATA / "job_alert.txt").read_text(encoding="utf-8")


def rewrite(builder: LinkBuilder, html: str, text: str | None = None, **kwargs) -> RewrittenEmail:
    return rewrite_email(builder, BRAND, MESSAGE, RECIPIENT, html, text, **kwargs)


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1].removesuffix(".gif")


def payload_of(builder: LinkBuilder, url: str) -> LinkPayload:
    return builder.codec.open(token_of(url))


def header_snippet(result: RewrittenEmail) -> str:
    return open_pixel(result.open_urls["header"]) + canary_link(result.canary_url)


def footer_snippet(result: RewrittenEmail) -> str:
    return open_pixel(result.open_urls["footer"])


def sketch(builder: LinkBuilder, html: str) -> str:
    """The rewritten document with pixels shown as [H]/[F] and tracked links as [n]."""
    result = rewrite(builder, html)
    out = result.html
    assert out.count(header_snippet(result)) == 1
    assert out.count(footer_snippet(result)) == 1
    out = out.replace(header_snippet(result), "[H]").replace(footer_snippet(result), "[F]")
    for link in result.links:
        assert out.count(link.tracked) == 1
        out = out.replace(link.tracked, f"[{link.index}]")
    return out


# --- the fixture: a 60 KB job-board mail with 40 links ----------------------------------

_FIXTURE_HREF = re.compile(
    r"""<(?:a|area|v:\w+)\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I
)


def fixture_links(html: str) -> list[tuple[int, int, str]]:
    """(start, end, destination) of every link the fixture's author meant to be tracked.
    The pattern is enough for this well-formed fixture; the one <a> inside a CSS comment
    is skipped by position."""
    style_start = html.index('<style type="text/css">\n    /*')
    style_end = html.index("</style>", style_start)
    found = []
    for match in _FIXTURE_HREF.finditer(html):
        group = next(g for g in (1, 2, 3) if match.group(g) is not None)
        start, end = match.span(group)
        if style_start < start < style_end:
            continue
        destination = re.sub(r"\s", "", match.group(group).replace("&amp;", "&"))
        if destination.startswith("http") and destination not in UNTOUCHED:
            found.append((start, end, destination))
    return found


def test_fixture_is_a_typical_marketing_mail(email_html: str) -> None:
    assert 55_000 <= len(email_html.encode()) <= 70_000
    assert len(fixture_links(email_html)) == 40
    assert "<!--[if mso]>" in email_html and "<v:roundrect" in email_html


def test_every_web_link_is_tracked_and_decodes_to_its_destination(
    builder: LinkBuilder, email_html: str
) -> None:
    result = rewrite(builder, email_html, campaign="weekly-matches", job_source="indeed")
    expected = [destination for _, _, destination in fixture_links(email_html)]
    assert [link.url for link in result.links] == expected
    assert [link.index for link in result.links] == list(range(1, 41))
    recipient_hash = builder.hasher.hash(BRAND, RECIPIENT)
    for link in result.links:
        assert link.tracked.startswith(TRACKED_PREFIX)
        payload = payload_of(builder, link.tracked)
        assert payload.kind == CLICK
        assert (payload.brand, payload.message_id) == (BRAND, MESSAGE)
        assert payload.url == normalize_destination(link.url) == link.url
        assert payload.link == link.index
        assert payload.recipient == recipient_hash
        assert (payload.campaign, payload.job_source) == ("weekly-matches", "indeed")
        assert payload.channel == "email"
        assert not payload.canary
    assert len({link.tracked for link in result.links}) == 40


def test_everything_but_the_tracked_hrefs_is_unchanged_byte_for_byte(
    builder: LinkBuilder, email_html: str
) -> None:
    result = rewrite(builder, email_html)
    body_open = re.search(r"<body[^>]*>", email_html)
    body_close = email_html.rindex("</body>")
    assert body_open is not None
    # The expected document, built from the fixture alone: the 40 href values replaced in
    # order, the header snippet right after <body…>, the footer pixel before </body>.
    edits = [
        (start, end, link.tracked)
        for (start, end, _), link in zip(fixture_links(email_html), result.links, strict=True)
    ]
    edits += [
        (body_open.end(), body_open.end(), header_snippet(result)),
        (body_close, body_close, footer_snippet(result)),
    ]
    expected, done = [], 0
    for start, end, text in sorted(edits, key=lambda edit: edit[0]):
        expected += [email_html[done:start], text]
        done = end
    expected.append(email_html[done:])
    assert result.html == "".join(expected)
    assert [link.span for link in result.links] == [
        (start, end) for start, end, _ in fixture_links(email_html)
    ]


def test_links_that_are_not_for_tracking_are_left_alone(
    builder: LinkBuilder, email_html: str
) -> None:
    result = rewrite(builder, email_html)
    for verbatim in (
        'href="mailto:help@northjobs.example?subject=Job%20alert%20help"',
        'href="tel:+441134960000"',
        'href="#top"',
        'href="https://view.northjobs.example/m/wk-2024-42?r=8f3a" data-notrack',
        'href="https://t.northjobs.example/c/ALREADYTRACKEDTOKEN"',
        'href="/account/help"',
        '<a href="https://ignored.example/in-css">not a link</a>',  # inside <style>
    ):
        assert email_html.count(verbatim) == 1
        assert result.html.count(verbatim) == 1, verbatim
    assert {skipped.url: skipped.reason for skipped in result.skipped} == UNTOUCHED


def test_links_inside_outlook_conditional_comments_are_tracked(
    builder: LinkBuilder, email_html: str
) -> None:
    result = rewrite(builder, email_html)
    vml_buttons = re.findall(r'<v:roundrect [^>]*href="([^"]*)"', result.html)
    assert len(vml_buttons) == 2
    assert all(url.startswith(TRACKED_PREFIX) for url in vml_buttons)
    # The button's Outlook (VML) half and its <a> half are separate links, in order.
    hero = [link for link in result.links if link.url.endswith("utm_content=hero")]
    assert [link.index for link in hero] == [5, 6]


def test_header_and_footer_pixels(builder: LinkBuilder, email_html: str) -> None:
    result = rewrite(builder, email_html)
    for position in ("header", "footer"):
        url = result.open_urls[position]
        assert url.startswith("https://t.northjobs.example/o/") and url.endswith(".gif")
        payload = payload_of(builder, url)
        assert (payload.kind, payload.position, payload.message_id) == (OPEN, position, MESSAGE)
        assert payload.recipient == builder.hasher.hash(BRAND, RECIPIENT)
        pixel = re.search(rf'<img src="{re.escape(url)}"[^>]*>', result.html)
        assert pixel is not None
        for attribute in ('alt=""', 'width="1"', 'height="1"', "display:block", "border:0"):
            assert attribute in pixel[0]
    body_open = re.search(r"<body[^>]*>", result.html)
    assert body_open is not None
    assert result.html[body_open.end() :].startswith(f'<img src="{result.open_urls["header"]}"')
    assert result.html.endswith(f"{footer_snippet(result)}</body>\n</html>\n")


def test_canary_link_is_hidden_and_marked(
    builder: LinkBuilder, email_html: str, example_brands: Brands
) -> None:
    result = rewrite(builder, email_html)
    canary = re.findall(rf'<a href="{re.escape(result.canary_url)}"([^>]*)>(.*?)</a>', result.html)
    assert len(canary) == 1
    attributes, content = canary[0]
    assert content == ""  # nothing to click, even where display:none is ignored
    assert "display:none" in attributes and "mso-hide:all" in attributes
    assert 'aria-hidden="true"' in attributes and 'tabindex="-1"' in attributes
    payload = payload_of(builder, result.canary_url)
    assert payload.canary and payload.kind == CLICK
    assert payload.url == example_brands.get(BRAND).landing_url
    assert payload.link == 0  # message links count from 1
    assert result.canary_url not in {link.tracked for link in result.links}


def test_list_unsubscribe_headers(builder: LinkBuilder, email_html: str) -> None:
    result = rewrite(builder, email_html, list_id="newsletter", campaign="weekly-matches")
    assert result.list_unsubscribe == f"<{result.unsubscribe_url}>"
    assert result.unsubscribe_url.startswith("https://t.northjobs.example/u/")
    assert result.list_unsubscribe_post == ONE_CLICK == "List-Unsubscribe=One-Click"
    assert result.header_lines() == [
        f"List-Unsubscribe: <{result.unsubscribe_url}>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
    ]
    payload = payload_of(builder, result.unsubscribe_url)
    assert (payload.kind, payload.list_id, payload.campaign) == (
        UNSUBSCRIBE,
        "newsletter",
        "weekly-matches",
    )
    assert payload.recipient == builder.hasher.hash(BRAND, RECIPIENT)
    assert payload.hint == "J•••@example.com"


def test_text_part_shares_links_with_the_html(
    builder: LinkBuilder, email_html: str, email_text: str
) -> None:
    result = rewrite(builder, email_html, email_text)
    assert result.text is not None
    by_url = {link.url: link for link in reversed(result.links)}  # the first of each URL
    job_1 = by_url[
        "https://northjobs.example/jobs/1037-python-backend?src=alert&pos=1"
        "&utm_source=newsletter&utm_medium=email&utm_campaign=weekly-matches"
    ]
    assert job_1.in_text and f"   {job_1.tracked}\n" in result.text
    # A URL only in the text part becomes link 41; the HTML is not affected.
    app = by_url["https://northjobs.example/app?from=text-only"]
    assert app.index == 41 and app.span is None and app.in_text
    assert app.tracked not in result.html
    # Sentence punctuation and brackets around a URL stay outside it.
    assert f"<{app.tracked}>," in result.text
    assert re.search(r"weekly-matches\.\n|/c/[\w-]+\.\n", result.text)
    assert re.search(r"\(https://t\.northjobs\.example/c/[\w-]+\)\n", result.text)
    assert re.search(r"/c/[\w-]+!\n", result.text)
    wiki = by_url["https://en.wikipedia.example/wiki/Nursing_(profession)"]
    assert f"Wikipedia-style: {wiki.tracked}.\n" in result.text
    # data-notrack in the HTML keeps the same URL untracked in the text part; links that
    # are tracked already and mailto: stay as they are.
    for verbatim in (
        "https://view.northjobs.example/m/wk-2024-42?r=8f3a\n",
        "https://t.northjobs.example/c/ALREADYTRACKEDTOKEN\n",
        "help@northjobs.example / mailto:help@northjobs.example\n",
    ):
        assert verbatim in result.text
    # Byte for byte, apart from the URLs.
    restored = result.text
    for link in result.links:
        restored = restored.replace(link.tracked, link.written)
    assert restored == email_text
    for link in result.links:
        assert payload_of(builder, link.tracked).link == link.index


# --- malformed and unusual HTML ---------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        # uppercase, every quoting style, whitespace around '=' and inside the value
        ('<A HREF="https://a.example/">a</A>', '[H]<A HREF="[1]">a</A>[F]'),
        ("<a href='https://a.example/x'>", "[H]<a href='[1]'>[F]"),
        ("<a href=https://a.example/?q=1&amp;r=2>x</a>", "[H]<a href=[1]>x</a>[F]"),
        ('<a href = "\n  https://a.example/ \n">', '[H]<a href = "[1]">[F]'),
        ("<a\thref\n=\n'http://a.example/'/>", "[H]<a\thref\n=\n'[1]'/>[F]"),
        # links that are not web links, or have no usable href
        ('<a href="mailto:x@a.example">m</a><a href="tel:+1">t</a>', None),
        ('<a href="#section">s</a><a href="">e</a><a href>n</a><a name="x">', None),
        ('<a href="javascript:void(0)">j</a><a href="ftp://a.example/">f</a>', None),
        ('<a href="/relative">r</a><a href="//a.example/">p</a><a href="{{url}}">', None),
        ('<a data-notrack href="https://a.example/">n</a>', None),
        ('<a href="https://a.example/" DATA-NOTRACK="">n</a>', None),
        ('<a href="https://links.northjobs.example/c/x">t</a>', None),  # 2nd host
        ('<a href="https://T.HarborCareers.Example/c/x">t</a>', None),  # partner brand
        # attributes: valueless, duplicated (the first one counts), '>' inside quotes
        (
            '<a download href="https://a.example/1" href="https://b.example/">',
            '[H]<a download href="[1]" href="https://b.example/">[F]',
        ),
        ('<a title="1 > 0" href="https://a.example/">', '[H]<a title="1 > 0" href="[1]">[F]'),
        (
            '<a title=\'say "hi"\' href="https://a.example/">',
            '[H]<a title=\'say "hi"\' href="[1]">[F]',
        ),
        ('<a href="https://a.example/"title="x">', '[H]<a href="[1]"title="x">[F]'),
        ('<div data-href="https://a.example/"><a xhref="https://b.example/">', None),
        # area and VML
        (
            '<map><area shape="rect" href="https://a.example/"></map>',
            '[H]<map><area shape="rect" href="[1]"></map>[F]',
        ),
        # markup that is text: comments, raw text elements, attribute values
        ('<!-- <a href="https://a.example/"> -->', None),
        ('<!--> <a href="https://a.example/">', '[H]<!--> <a href="[1]">[F]'),
        ('<!---> <a href="https://a.example/">', '[H]<!---> <a href="[1]">[F]'),
        ('<!-- x --!> <a href="https://a.example/">', '[H]<!-- x --!> <a href="[1]">[F]'),
        ("<script>var a = '<a href=\"https://a.example/\">';</script>", None),
        ('<style>/* <a href="https://a.example/"> */</style>', None),
        ('<title><a href="https://a.example/"></title>', None),
        ('<textarea><a href="https://a.example/"></TEXTAREA >', None),
        ("<img alt='<a href=\"https://a.example/\">'>", None),
        ('<script>x</scripty><a href="https://a.example/"></script>', None),
        ('<plaintext><a href="https://a.example/">', None),
        # a document that ends inside a tag, a comment or raw text
        (
            '<a href="https://a.example/">x</a><a href="https://b.example/',
            '[H]<a href="[1]">x</a><a href="https://b.example/[F]',
        ),
        (
            '<a href="https://a.example/">x</a><!-- <a href="https://b.example/">',
            '[H]<a href="[1]">x</a><!-- <a href="https://b.example/">[F]',
        ),
        (
            '<a href="https://a.example/">x</a><style><a href="https://b.example/">',
            '[H]<a href="[1]">x</a><style><a href="https://b.example/">[F]',
        ),
        # unclosed tags, stray brackets, bogus comments, processing instructions
        (
            '<table><tr><td><a href="https://a.example/">x<td>y',
            '[H]<table><tr><td><a href="[1]">x<td>y[F]',
        ),
        (
            'a < b <> c </ d <? e ?> <! f > </3> <a href="https://a.example/">',
            '[H]a < b <> c </ d <? e ?> <! f > </3> <a href="[1]">[F]',
        ),
        ('<base href="https://base.example/"><a href="page.html">p</a>', None),
    ],
)
def test_malformed_and_unusual_html(builder: LinkBuilder, html: str, expected: str | None) -> None:
    """`None`: nothing to track, so only the pixels are added (at both ends here)."""
    assert sketch(builder, html) == (f"[H]{html}[F]" if expected is None else expected)


def test_conditional_comments(builder: LinkBuilder) -> None:
    html = (
        '<!--[if mso]><v:roundrect href="https://a.example/vml"><center>Go</center>'
        '</v:roundrect><![endif]--><!--[if !mso]><!-- --><a href="https://a.example/">Go</a>'
        "<!--<![endif]--><!--[if mso | IE]><table><tr><td><a href='https://b.example/'>"
        "<![endif]-->"
    )
    assert sketch(builder, html) == (
        '[H]<!--[if mso]><v:roundrect href="[1]"><center>Go</center>'
        '</v:roundrect><![endif]--><!--[if !mso]><!-- --><a href="[2]">Go</a>'
        "<!--<![endif]--><!--[if mso | IE]><table><tr><td><a href='[3]'>"
        "<![endif]-->[F]"
    )


def test_base_href_changes_nothing(builder: LinkBuilder) -> None:
    html = '<base href="https://base.example/"><a href="page">p</a><a href="https://a.example/">'
    assert sketch(builder, html) == (
        '[H]<base href="https://base.example/"><a href="page">p</a><a href="[1]">[F]'
    )
    result = rewrite(builder, html)
    assert [(s.url, s.reason) for s in result.skipped] == [("page", "relative URL")]


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("", "[H][F]"),
        ("<p>Hello</p>", "[H]<p>Hello</p>[F]"),
        ("<!DOCTYPE html><p>Hi</p>", "<!DOCTYPE html>[H]<p>Hi</p>[F]"),
        ("<!doctype html>\n<html><p>x</p></html>", "<!doctype html>\n<html>[H]<p>x</p>[F]</html>"),
        (
            "<html><head><title>T</title></head><p>Hi</p></html>",
            "<html><head><title>T</title></head>[H]<p>Hi</p>[F]</html>",
        ),
        (
            '<HTML><BODY BGCOLOR="#fff">Hi</BODY></HTML>',
            '<HTML><BODY BGCOLOR="#fff">[H]Hi[F]</BODY></HTML>',
        ),
        ("<body>Hi", "<body>[H]Hi[F]"),
        ("<body>a</body>b</body>c", "<body>[H]a</body>b[F]</body>c"),
        ("<!-- <body> --><body>x</body>", "<!-- <body> --><body>[H]x[F]</body>"),
        ("<body>\r\n<p>x</p>\r\n</body>\r\n", "<body>[H]\r\n<p>x</p>\r\n[F]</body>\r\n"),
    ],
)
def test_pixel_placement(builder: LinkBuilder, html: str, expected: str) -> None:
    assert sketch(builder, html) == expected


def test_each_occurrence_is_its_own_link(builder: LinkBuilder) -> None:
    html = '<a href="https://a.example/job"><img></a><a href="https://a.example/job">Job</a>'
    result = rewrite(builder, html)
    assert [(link.index, link.url) for link in result.links] == [
        (1, "https://a.example/job"),
        (2, "https://a.example/job"),
    ]


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("https://a.example/?a=1&amp;b=2", "https://a.example/?a=1&b=2"),
        ("https://a.example/?a=1&amp=2", "https://a.example/?a=1&amp=2"),
        ("https://a.example/?a=1&region=eu", "https://a.example/?a=1&region=eu"),
        ("https://a.example/?a=1&copy=2", "https://a.example/?a=1&copy=2"),
        ("https://a.example/?a=1&copy;2", "https://a.example/?a=1©2"),
        ("https://a.example/?a&amp", "https://a.example/?a&"),
        ("https://a.example/?a=&#38;&#x26;&#X26", "https://a.example/?a=&&&"),
        ("https://a.example/?x=&notit;", "https://a.example/?x=&notit;"),
        ("https://a.example/?x=&lt &gt;", "https://a.example/?x=< >"),
        ("https://a.example/?x=&bogus;&#;&#x;", "https://a.example/?x=&bogus;&#;&#x;"),
        ("https://a.example/?x=&#0;", "https://a.example/?x=\ufffd"),
    ],
)
def test_href_character_references_decode_as_in_attributes(raw: str, decoded: str) -> None:
    assert decode_attribute(raw) == decoded


def test_legacy_reference_before_equals_sign_is_kept(builder: LinkBuilder, email_html: str) -> None:
    result = rewrite(builder, email_html)
    tip = next(link for link in result.links if "night-shift-health" in link.url)
    assert "&region=north&utm_content=tip-2" in tip.url
    assert "&region=north" in payload_of(builder, tip.tracked).url


def test_agrees_with_the_standard_library_parser_on_the_fixture(
    builder: LinkBuilder, email_html: str
) -> None:
    """html.parser finds the same <a> links (it does not look inside comments, so the VML
    buttons are left out) — except where it decodes `&region` against the HTML standard."""

    class Collector(html.parser.HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.hrefs: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            href = dict(attrs).get("href")
            if tag == "a" and href is not None:
                self.hrefs.append(clean_url(href))

    collector = Collector()
    collector.feed(email_html)
    collector.close()
    stdlib = [
        url.replace("®ion", "&region")
        for url in collector.hrefs
        if url.startswith("http") and url not in UNTOUCHED
    ]
    ours = [
        link.url
        for link in rewrite(builder, email_html).links
        if not re.search(r"<v:\w+[^>]*$", email_html[: link.span[0]] if link.span else "")
    ]
    assert stdlib == ours
    assert len(ours) == 38


# --- errors -------------------------------------------------------------------------------


def test_invalid_destination_is_left_and_reported(builder: LinkBuilder) -> None:
    too_long = "https://a.example/" + "x" * 5000
    html = f'<a href="{too_long}">x</a><a href="https://b.example/">y</a>'
    result = rewrite(builder, html)
    assert [link.url for link in result.links] == ["https://b.example/"]
    assert result.links[0].index == 1
    assert too_long in result.html
    assert [skipped.url for skipped in result.skipped] == [too_long]
    assert "longer than" in result.skipped[0].reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"brand": "nope"}, "brand: 'nope' is not a configured brand"),
        ({"message_id": ""}, "message_id"),
        ({"recipient": " "}, "recipient"),
        ({"list_id": "no-such-list"}, "list_id"),
    ],
)
def test_bad_arguments_raise_link_error(builder: LinkBuilder, kwargs: dict, message: str) -> None:
    arguments = {"brand": BRAND, "message_id": MESSAGE, "recipient": RECIPIENT, **kwargs}
    with pytest.raises(LinkError, match=re.escape(message)):
        rewrite_email(builder, html="<a href='https://a.example/'>", **arguments)


# --- size and hostile input ---------------------------------------------------------------


@pytest.mark.parametrize(
    "hostile",
    [
        "<a " * 200_000,
        "<!--" * 200_000,
        "<" * 1_000_000,
        '<a href="' * 100_000,
        "<a href=x " * 100_000,
        "<!--[if mso]>" * 100_000,
        "</" * 300_000 + "<a href='https://a.example/'>",
        "<p title='" + "&amp;" * 200_000,
        "<script>" + "</scrip" * 100_000,
        "<![endif]-->" * 100_000,
    ],
    ids=lambda text: repr(text[:12]),
)
def test_hostile_input_is_handled_in_linear_time(builder: LinkBuilder, hostile: str) -> None:
    started = time.process_time()
    result = rewrite(builder, hostile)
    assert time.process_time() - started < 2.0
    assert len(result.links) <= 1


def test_huge_document(builder: LinkBuilder, email_html: str) -> None:
    body = email_html[email_html.index("<body") : email_html.rindex("</body>")]
    huge = email_html.replace(body, body * 40)  # 2.4 MB, 1,600 links
    started = time.process_time()
    result = rewrite(builder, huge)
    elapsed = time.process_time() - started
    assert len(result.links) == 1600
    assert elapsed < 10.0


# --- properties ---------------------------------------------------------------------------

# Pieces that, joined at random, make every kind of (mal)formed markup the rewriter meets.
_FRAGMENTS = """
<a href= | <A HREF= | <area href= | <v:roundrect href= | " | ' | > | /> | </a> | =
https://a.example/x?y=1&amp;z=2 | http://b.example/ | HTTPS://C.example | mailto:x@a.example
#top | /rel | data-notrack | title= | & | &amp; | &region=1 | <body> | <BODY class=x>
</body> | <html> | </html> | <head> | </head> | <!DOCTYPE html> | <!-- | --> | --!>
<!--[if mso]> | <![endif]--> | <!--[if !mso]><!-- --> | <!--<![endif]--> | <script>
</script> | <style> | </style> | <title> | </title> | < | </ | <? | <! | <p> | text | é
https://t.northjobs.example/c/abc | <base href=https://base.example/>
""".replace("\n", " | ").split(" | ")
_FRAGMENTS = [f for f in _FRAGMENTS if f] + [" ", "\n", "\r\n", "\t", "\x00"]
_HTMLISH = st.lists(st.sampled_from(_FRAGMENTS), max_size=40).map("".join)
_PROPERTY_SETTINGS = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _check_only_hrefs_and_snippets_changed(
    builder: LinkBuilder, source: str, result: RewrittenEmail
) -> None:
    out = result.html
    for snippet in (header_snippet(result), footer_snippet(result)):
        assert out.count(snippet) == 1
        out = out.replace(snippet, "", 1)
    rebuilt, done = [], 0
    in_html = [link for link in result.links if link.span is not None]
    assert all(link.in_text for link in result.links if link.span is None)
    for link in sorted(in_html, key=lambda link: link.span or (0, 0)):
        start, end = link.span or (0, 0)
        assert start >= done
        assert clean_url(decode_attribute(source[start:end])) == link.written
        assert payload_of(builder, link.tracked).url == normalize_destination(link.written)
        assert link.url == normalize_destination(link.written)
        rebuilt += [source[done:start], link.tracked]
        done = end
    rebuilt.append(source[done:])
    assert out == "".join(rebuilt)


@_PROPERTY_SETTINGS
@given(source=st.text(max_size=400))
def test_any_text_is_preserved(builder: LinkBuilder, source: str) -> None:
    result = rewrite(builder, source, source)
    _check_only_hrefs_and_snippets_changed(builder, source, result)


@_PROPERTY_SETTINGS
@given(source=_HTMLISH, text=_HTMLISH)
def test_any_html_like_input_is_preserved(builder: LinkBuilder, source: str, text: str) -> None:
    result = rewrite(builder, source, text)
    _check_only_hrefs_and_snippets_changed(builder, source, result)
    assert result.text is not None
    restored = result.text
    for link in result.links:
        restored = restored.replace(link.tracked, "\x01" + link.written)
    assert restored.replace("\x01", "") == text


_CONTENT_MODELS = {
    "style": "rawtextState", "xmp": "rawtextState", "iframe": "rawtextState",
    "title": "rcdataState", "textarea": "rcdataState", "plaintext": "plaintextState",
}  # fmt: skip
# Script data escape states (`<script><!--<script>…`) are a documented simplification.
_SPEC_FRAGMENTS = [f for f in _FRAGMENTS if not re.search(r"script|\[if|v:", f)] + [
    "<textarea>", "</textarea>", "<plaintext>", "<xmp>", "</xmp>", "<iframe>", "</iframe>",
    "</style/", "</title >", "<!---->", "<!-->", "<!--->", "-", "--", "!", "/", "<a", "a",
    "<a/", ' href=', '="', "<area", "<a\thref", "'x'", '"y"',
]  # fmt: skip


def _html5lib_hrefs(source: str) -> list[str]:
    """<a>/<area> href values by html5lib's tokenizer, its content model switched after
    raw-text start tags as its tree builder does."""
    tokenizer_module = pytest.importorskip("html5lib._tokenizer")
    constants = pytest.importorskip("html5lib.constants")
    tokenizer = tokenizer_module.HTMLTokenizer(source)
    found = []
    for token in tokenizer:
        if token["type"] != constants.tokenTypes["StartTag"]:
            continue
        if token["name"] in _CONTENT_MODELS:
            tokenizer.state = getattr(tokenizer, _CONTENT_MODELS[token["name"]])
            tokenizer.currentToken = token  # what the "appropriate end tag" is compared with
        if token["name"] in ("a", "area") and token["data"].get("href"):
            found.append(token["data"]["href"])
    return found


@_PROPERTY_SETTINGS
@given(source=st.lists(st.sampled_from(_SPEC_FRAGMENTS), max_size=30).map("".join))
def test_finds_the_links_a_conformant_tokenizer_finds(source: str) -> None:
    """html5lib implements the WHATWG tokenizer to the letter (needs the dev dependency
    html5lib; skipped without it). CR LF is compared as LF, as its input stream does."""
    expected = [href.replace("\r\n", "\n") for href in _html5lib_hrefs(source)]
    found = [decode_attribute(site.raw) for site in scan_html(source).hrefs]
    assert [href.replace("\r\n", "\n") for href in found if href] == expected


# --- the command line ---------------------------------------------------------------------


COMMON = f"--brand {BRAND} --message-id {MESSAGE} --recipient {RECIPIENT}"


def run_cli(
    args: list[str], stdin: bytes, keyring: KeyRing, cwd: Path
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "TRACER_KEYS": dumps(keyring), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "cli", "rewrite", *args],
        input=stdin,
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_cli_rewrites_stdin_and_writes_headers_and_text(
    builder: LinkBuilder, keyring: KeyRing, tmp_path: Path, email_html: str
) -> None:
    headers = tmp_path / "headers.txt"
    text_out = tmp_path / "tracked.txt"
    done = run_cli(
        f"{COMMON} --campaign weekly-matches --job-source indeed --list newsletter "
        f"--headers {headers} --text {DATA / 'job_alert.txt'} --text-out {text_out}".split(),
        email_html.encode(),
        keyring,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b""
    out = done.stdout.decode()
    tracked = re.findall(r"https://t\.northjobs\.example/c/(?!ALREADY)[\w-]+", out)
    destinations = [destination for _, _, destination in fixture_links(email_html)]
    payloads = [payload_of(builder, url) for url in tracked]
    canary = [p for p in payloads if p.canary]
    assert len(canary) == 1
    links = [p for p in payloads if not p.canary and p.url in destinations]
    assert [p.url for p in links] == destinations
    assert [p.link for p in links] == list(range(1, 41))
    assert {(p.campaign, p.job_source, p.message_id) for p in links} == {
        ("weekly-matches", "indeed", MESSAGE)
    }
    lines = headers.read_text().splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"List-Unsubscribe: <https://t\.northjobs\.example/u/[\w-]+>", lines[0])
    assert lines[1] == "List-Unsubscribe-Post: List-Unsubscribe=One-Click"
    unsubscribe = payload_of(builder, lines[0].split("<")[1].rstrip(">"))
    assert (unsubscribe.kind, unsubscribe.list_id) == (UNSUBSCRIBE, "newsletter")
    text = text_out.read_text()
    assert "https://northjobs.example/app?from=text-only" not in text
    assert text.count("https://t.northjobs.example/c/") == 8 + 1  # + the one already tracked


def test_cli_passes_bytes_that_are_not_utf8_through(keyring: KeyRing, tmp_path: Path) -> None:
    page = b'<body>caf\xe9 \xff\xfe <a href="https://a.example/">x</a></body>'
    done = run_cli(COMMON.split(), page, keyring, tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert b"<body><img src=" in done.stdout
    assert b'caf\xe9 \xff\xfe <a href="https://t.northjobs.example/c/' in done.stdout


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ("--brand nope --message-id m --recipient a@b.example", "error: brand: 'nope' is not"),
        (f"{COMMON} --list x", "error: list_id: 'x' is not a list of brand 'northjobs'"),
        (f"{COMMON} --text t", "--text and --text-out go together"),
        (f"{COMMON} --text missing.txt --text-out o.txt", "error: --text: cannot read"),
        (f"--brand {BRAND} --message-id m", "the following arguments are required: --recipient"),
    ],
)
def test_cli_errors_exit_2(keyring: KeyRing, tmp_path: Path, args: str, error: str) -> None:
    done = run_cli(args.split(), b"<p>x</p>", keyring, tmp_path)
    assert done.returncode == 2
    assert error in done.stderr.decode()
    assert done.stdout == b""


def test_cli_warns_about_links_it_could_not_track(keyring: KeyRing, tmp_path: Path) -> None:
    page = f'<a href="https://a.example/{"x" * 5000}">x</a>'.encode()
    done = run_cli(COMMON.split(), page, keyring, tmp_path)
    assert done.returncode == 0
    assert done.stderr.decode().startswith("warning: left untracked: https://a.example/xxx")
    assert json.dumps(page.decode())  # the page itself is written unchanged around it
    assert page.decode() in done.stdout.decode()


def test_cli_leaves_a_host_mover_untracked_and_names_what_links_carry(
    builder: LinkBuilder, keyring: KeyRing, tmp_path: Path
) -> None:
    """`&#xFF0F;` decodes to a full-width solidus, which IDNA 2003 maps to '/': the link
    would have gone to evil.example."""
    html = (
        '<a href="https://evil.example&#xFF0F;.alpha.example/jobs/1">A</a>'
        '<a href="https://B&#xFC;cher.example/jobs/2">B</a>'
    )
    done = run_cli(COMMON.split(), html.encode(), keyring, tmp_path)

    assert done.returncode == 0, done.stderr.decode()
    tokens = re.findall(r"https://t\.northjobs\.example/c/([\w-]+)", done.stdout.decode())
    destinations = {builder.codec.open(token).url for token in tokens}
    assert "https://xn--bcher-kva.example/jobs/2" in destinations
    assert not any("evil.example" in url for url in destinations)
    assert 'href="https://evil.example&#xFF0F;.alpha.example/jobs/1"' in done.stdout.decode()
    stderr = done.stderr.decode()
    assert "left untracked: https://evil.example\uff0f.alpha.example/jobs/1" in stderr
    assert "goes to https://xn--bcher-kva.example/jobs/2" in stderr
