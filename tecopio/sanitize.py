"""The one place member-written rich text is cleaned (bleach), before it is stored or shown.

Members may use a small, safe subset of formatting: paragraphs, line breaks,
bold, italics, lists, quotes and links. Everything else is escaped; links get
``rel="nofollow noopener"`` and only http, https and mailto addresses survive.
"""

import re

import bleach
from bleach.linkifier import DEFAULT_CALLBACKS

ALLOWED_TAGS = frozenset({"p", "br", "strong", "b", "em", "i", "ul", "ol", "li", "blockquote", "a"})
ALLOWED_ATTRIBUTES = {"a": ["href", "title"]}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})


def _link_rel(attrs, new=False):
    attrs[(None, "rel")] = "nofollow noopener"
    return attrs


def _drop_unsafe_links(attrs, new=False):
    href = attrs.get((None, "href"), "")
    if href and not re.match(r"^(https?:|mailto:)", href, re.IGNORECASE):
        attrs.pop((None, "href"), None)
    return attrs


_cleaner = bleach.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    protocols=ALLOWED_PROTOCOLS,
    strip=False,
    strip_comments=True,
)


def _paragraphs(text: str) -> str:
    """Blank lines separate paragraphs; single line breaks are kept."""
    blocks = [block.strip() for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n"))]
    return "".join(f"<p>{block.replace(chr(10), '<br>')}</p>" for block in blocks if block)


def clean_html(text: str) -> str:
    """Safe HTML for what a member typed (plain text with optional simple tags)."""
    cleaned = _cleaner.clean(_paragraphs(text or ""))
    return bleach.linkify(
        cleaned,
        callbacks=[*DEFAULT_CALLBACKS, _link_rel, _drop_unsafe_links],
        parse_email=False,
    )
