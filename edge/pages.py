"""The brand's unsubscribe pages: rendered from templates prepared once per brand.

GET shows what will happen and a button; it never unsubscribes, so link scanners and
prefetchers that follow the link change nothing. Only the form's POST (or a mail
provider's RFC 8058 one-click POST) unsubscribes. The pages need no JavaScript.

Colours come from the brand, but text stays readable (WCAG 2 AA, 4.5:1): the button's
label is white or black, whichever contrasts more with the brand's colour, and a text
colour that would be unreadable on the white card is replaced by the default one.
"""

from __future__ import annotations

import logging
from html import escape

from tracer.brands import Brand, UnsubscribePage

logger = logging.getLogger(__name__)

CARD_COLOR = "#ffffff"
DEFAULT_TEXT_COLOR = UnsubscribePage().text_color
# WCAG 2 level AA for body-size text.
MIN_TEXT_CONTRAST = 4.5

_STYLE = """
body{{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
background:{background};color:{text}}}
main{{max-width:32rem;margin:3rem auto;padding:2rem;border:1px solid #d0d7de;
border-radius:12px;background:{card}}}
img{{max-height:48px;max-width:200px}}
h1{{font-size:1.5rem;margin:1rem 0}}
fieldset{{border:0;padding:0;margin:1rem 0}}
legend{{padding:0;font-weight:600}}
label{{display:block;padding:.4rem 0;cursor:pointer}}
input[type=radio]{{width:1.1rem;height:1.1rem;margin:0 .5rem 0 0;vertical-align:-.15rem}}
button{{font:inherit;font-weight:600;padding:.7rem 1.4rem;border:2px solid transparent;
border-radius:8px;background:{primary};color:{on_primary};cursor:pointer}}
button:focus-visible,input:focus-visible,a:focus-visible{{outline:3px solid {text};
outline-offset:2px}}
.small{{font-size:.875rem;color:#57606a}}
"""


def relative_luminance(color: str) -> float:
    """WCAG 2 relative luminance of a `#rrggbb` colour (0 black … 1 white)."""
    channels = []
    for start in (1, 3, 5):
        value = int(color[start : start + 2], 16) / 255
        channels.append(value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4)
    red, green, blue = channels
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two `#rrggbb` colours, from 1 to 21."""
    light, dark = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def text_color_on(background: str) -> str:
    """White or black, whichever reads better on `background` (at least 4.58:1 for any
    colour)."""
    white, black = "#ffffff", "#000000"
    if contrast_ratio(white, background) >= contrast_ratio(black, background):
        return white
    return black


def _card_text_color(brand: Brand) -> str:
    color = brand.unsubscribe.text_color
    ratio = contrast_ratio(color, CARD_COLOR)
    if ratio >= MIN_TEXT_CONTRAST:
        return color
    logger.warning(
        "brand %s: unsubscribe.text_color %s has a contrast of %.2f:1 on the page's white "
        "card (at least %.1f:1 is needed); the page uses %s",
        brand.id,
        color,
        ratio,
        MIN_TEXT_CONTRAST,
        DEFAULT_TEXT_COLOR,
    )
    return DEFAULT_TEXT_COLOR


class UnsubscribePages:
    """HTML for one brand; only the token, the masked address and the list vary."""

    def __init__(self, brand: Brand) -> None:
        page = brand.unsubscribe
        self.brand_name = escape(brand.name)
        self.lists = {key: escape(label) for key, label in page.lists.items()}
        self.landing_url = escape(brand.landing_url)
        style = _STYLE.format(
            background=page.background_color,
            text=_card_text_color(brand),
            card=CARD_COLOR,
            primary=page.primary_color,
            on_primary=text_color_on(page.primary_color),
        )
        logo = (
            f'<img src="{escape(page.logo_url)}" alt="{self.brand_name}">'
            if page.logo_url
            else f"<strong>{self.brand_name}</strong>"
        )
        contact = (
            f'<p class="small">Questions? Write to <a href="mailto:{escape(page.support_email)}">'
            f"{escape(page.support_email)}</a>.</p>"
            if page.support_email
            else ""
        )
        self._head = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            '<meta name="robots" content="noindex,nofollow">'
            f"<title>{{title}} | {self.brand_name}</title><style>{style}</style></head>"
            f"<body><main>{logo}"
        )
        self._tail = f"{contact}</main></body></html>"

    def _page(self, title: str, body: str) -> bytes:
        return (self._head.replace("{title}", escape(title)) + body + self._tail).encode()

    def confirm(self, hint: str, list_id: str) -> bytes:
        """The GET page: a form that posts back to the same URL."""
        who = escape(hint) if hint else "this address"
        if list_id in self.lists:
            choices = (
                "<fieldset><legend>What would you like to stop receiving?</legend>"
                '<label><input type="radio" name="scope" value="list" checked> '
                f"Only “{self.lists[list_id]}”</label>"
                '<label><input type="radio" name="scope" value="all"> '
                f"All marketing email from {self.brand_name}</label></fieldset>"
            )
            question = f"Unsubscribe {who}?"
        else:
            choices = '<input type="hidden" name="scope" value="all">'
            question = f"Unsubscribe {who} from all marketing email of {self.brand_name}?"
        body = (
            f"<h1>{question}</h1>"
            '<form method="post">'
            f'{choices}<button type="submit">Unsubscribe</button></form>'
            '<p class="small">Nothing changes until you press the button. '
            "Messages about your account and applications are not affected.</p>"
        )
        return self._page("Unsubscribe", body)

    def done(self, hint: str, list_id: str) -> bytes:
        """The page after a successful POST."""
        who = escape(hint) if hint else "This address"
        what = (
            f"“{self.lists[list_id]}”"
            if list_id in self.lists
            else f"marketing email from {self.brand_name}"
        )
        body = (
            "<h1>You are unsubscribed</h1>"
            f'<p role="status">{who} will no longer receive {what}.</p>'
            '<p class="small">It can take up to two days for messages already on their way.</p>'
            f'<p><a href="{self.landing_url}">Go to {self.brand_name}</a></p>'
        )
        return self._page("Unsubscribed", body)

    def invalid(self) -> bytes:
        """The answer to a form POST whose link does not open (tampered, expired, another
        brand's)."""
        body = (
            "<h1>This link is no longer valid</h1>"
            "<p>Use the unsubscribe link of a recent message, or manage your preferences "
            "in your account.</p>"
        )
        return self._page("Link not valid", body)
