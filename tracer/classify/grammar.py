"""The shape of a person's client: does a user agent follow a browser's, an in-app
webview's or a device's grammar?

Pattern lists find robots that name themselves. The rest are found by structure: people
reach a link through a browser or an app's webview, and those announce themselves in a
few fixed grammars (below); a script, a monitor, a feed reader or a crawler with no known
name rarely bothers. On a click, a page or an open, a user agent of none of these grammars
is a machine's (`ua:not-a-browser`). Mail clients with grammars of their own (Outlook,
Postbox, The Bat!...) are recognised by the email rules before this check.

The grammars:

- a platform comment, then a rendering engine: `Mozilla/5.0 (platform; ...)
  AppleWebKit/x (KHTML, like Gecko) ...`, `... Gecko/x Firefox/x`, `(...; rv:11.0) like
  Gecko`; whatever precedes the comment (in-app browsers and TV boxes put their own name
  there) and whatever follows the engine (apps append tokens) is free;
- the old `Mozilla/4.0 (compatible; MSIE x; Windows ...)` and Netscape's `Mozilla/4.x
  [en] (X11; ...)`;
- `Opera/x (platform...) Presto/x Version/x`: Opera Mini and classic Opera;
- feature phones and WAP browsers: `Device/x ... Profile/MIDP-x Configuration/CLDC-x`,
  UP.Browser, NetFront, Obigo, MAUI, UCWEB, `Browser/AppleWebKit...`;
- apps' own HTTP stacks on a person's device: `Dalvik/x (Linux; U; Android ...)`,
  `App/x CFNetwork/x Darwin/x`, Android apps on Cronet.

A platform comment is one that names an operating system or a device family; `compatible;
Name/x; +http://...` is the crawler convention, not a platform. A contact URL or an e-mail
address anywhere is a robot's convention too.

`client_text(ua)` answers with the text to search for robot names: the user agent less
the device model names of an Android platform comment (`Linux; Android 8.1.0; Capture+`,
`...; Discovery2-DG500C Build/JDQ39`) and less the comments of device stacks. Those are
free-form names chosen by manufacturers ("Capture+", "Newsday_N2+", "Discovery2") that
robot patterns mistake for robots; robots put their names in products, or in a comment
segment with a version (`...; Storebot-Google/1.0)`), which is kept.
"""

from __future__ import annotations

import re

# Operating systems and device families that appear in a platform comment.
_PLATFORM = (
    r"Windows|Win(?:NT|9[58x]|32|64|dows)|Macintosh|Mac[ _]?OS|Mac_PowerPC|PPC|X11|Linux"
    r"|Android|Andorid|iPhone|iPad|iPod|CPU (?:iPhone )?OS|CrOS|BlackBerry|BB10|PlayBook"
    r"|Symbian|SymbOS|Series ?[46]0|MIDP|J2ME|Nokia|IEMobile|Tizen|KAIOS|webOS|Web0S"
    r"|HbbTV|SMART-?TV|PlayStation|Nintendo|Xbox|FreeBSD|OpenBSD|NetBSD|DragonFly|SunOS"
    r"|AmigaOS|Haiku|BeOS|Fuchsia|Maemo|MeeGo|Sailfish|Ubuntu|Fedora|OS/2|HP-UX|AIX|IRIX"
    r"|RISC OS|Bada|BREW|Palm|Kindle|Silk|Roku|Apple ?TV|tvOS|watchOS|CE-HTML|Mobile"
    r"|Tablet|Touch|armv\d|aarch64|x86_64|i[3-6]86|U;"
)
_ENGINE = (
    r"AppleWebKit|Gecko\b|KHTML|Trident/|Presto/|Goanna/|EdgeHTML"
    r"|NetFront|Obigo|UP\.Browser|Opera Mini|Opera Mobi|UCWEB|UCBrowser|MAUI|Teleca"
    r"|Polaris|Blazer|Dolfin|Jasmine|Chrome/|Chromium|Firefox/|Safari/|Version/"
)
_FLAGS = re.IGNORECASE
_PLATFORM_RE = re.compile(_PLATFORM, _FLAGS)
_ENGINE_RE = re.compile(_ENGINE, _FLAGS)
# The first parenthesised comment (one level of nesting allowed: HbbTV, PocketBook).
_COMMENT = re.compile(r"\((?P<comment>(?:[^()]|\([^()]*\))*)\)")
_MOZILLA = re.compile(r"Mozilla\s*/?\s*(?P<major>\d)", _FLAGS)
_MSIE = re.compile(r"\bMSIE \d|Trident/\d", _FLAGS)
_ANDROID_VERSION = re.compile(r"Android\s*[\d.]*$", _FLAGS)
_ANY_COMMENT = re.compile(r"\((?:[^()]|\([^()]*\))*\)")
# `compatible; SomeBot/1.2` with nothing of a platform, maybe a contact after it.
_CRAWLER_COMMENT = re.compile(
    r"^\s*compatible\s*;\s*[^;]*(?:/|\bv?\d)[^;]*(?:;\s*\+?https?:.*)?$", _FLAGS
)
_DEVICE_STACKS = re.compile(
    r"Dalvik/\d[\d.]* \(?Linux; U; Android"  # Android's HTTP stack
    r"|^[\w .+()/-]+ CFNetwork/[\d.]+ Darwin/"  # an app's HTTP stack on Apple devices
    r"|Android[^)]*Cronet/\d"  # Android apps on Chrome's network stack
    r"|MIDP-\d|CLDC-\d|UP\.Browser|NetFront|Obigo|MAUI|UCWEB|UCBrowser|DoCoMo/|Opera Mini"
    r"|BlackBerry\d+/|SonyEricsson\w+/|SAMSUNG-[\w-]+/|Nokia\w+/|MOT-\w+/|HbbTV/"
    r"|Android/[\d.]+\s+Release/[\d.]+\s+Browser/AppleWebKit",
    _FLAGS,
)
_ROBOT_CONVENTIONS = re.compile(r"\+https?:|https?://|www\.|@[a-z0-9-]+\.[a-z]", _FLAGS)


def client_text(ua: str) -> str | None:
    """The products of `ua` (its text less the platform comment) when it has the shape of
    a person's browser, webview or device (see the module docstring); None when not."""
    ua = ua.strip("\"' ")
    if _ROBOT_CONVENTIONS.search(ua) is not None:
        return None
    comment = _COMMENT.search(ua)
    if comment is not None and _platform_comment(ua, comment):
        kept = _without_device_model(comment.group("comment"))
        return f"{ua[: comment.start()]}({kept}){ua[comment.end() :]}"
    if _lost_parentheses(ua, comment):
        return ua  # "Mozilla/5.0 Linux; Android 4.4.2; ...": the parentheses were lost
    if ua.startswith("Opera/") and comment is not None and _PLATFORM_RE.search(ua):
        return ua
    if _DEVICE_STACKS.search(ua) is not None and "/" in ua:
        return _ANY_COMMENT.sub("", ua)
    return None


def has_robot_conventions(ua: str) -> bool:
    """A contact URL or an e-mail address: what robots put in their user agents."""
    return _ROBOT_CONVENTIONS.search(ua) is not None


def is_client_grammar(ua: str) -> bool:
    return client_text(ua) is not None


def _lost_parentheses(ua: str, comment: re.Match[str] | None) -> bool:
    head = ua if comment is None else ua[: comment.start()]
    return (
        _MOZILLA.match(ua) is not None
        and _PLATFORM_RE.search(head) is not None
        and _ENGINE_RE.search(ua) is not None
    )


def _without_device_model(comment: str) -> str:
    """An Android comment less what follows the Android version, except segments with a
    product version (`Storebot-Google/1.0`) other than `Build/`."""
    segments = comment.split(";")
    for index, segment in enumerate(segments):
        if _ANDROID_VERSION.search(segment.strip()) is not None:
            tail = [s for s in segments[index + 1 :] if "/" in s and "Build/" not in s]
            return ";".join([*segments[: index + 1], *tail])
    return comment


def _platform_comment(ua: str, comment: re.Match[str]) -> bool:
    """True when the comment names a platform and what follows is a browser's."""
    text = comment.group("comment")
    if text.startswith("compatible; Konqueror/"):  # KDE's browser, before it said KHTML
        return True
    if _MSIE.search(text) is not None:  # IE and Outlook's Word engine: the comment is all
        return _PLATFORM_RE.search(text) is not None
    if _CRAWLER_COMMENT.match(text) is not None or _PLATFORM_RE.search(text) is None:
        return False
    if _ENGINE_RE.search(ua, comment.start()) is not None:
        return True
    # Netscape 4 and older: `Mozilla/4.7 [en] (X11; U; Linux ...)`, no engine named.
    mozilla = _MOZILLA.match(ua)
    return mozilla is not None and mozilla.group("major") in "1234" and "compatible" not in text
