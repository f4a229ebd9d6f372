"""The one place member-written rich text is rendered and cleaned, before it is stored or shown.

Members write Markdown (markdown-it-py, CommonMark): paragraphs, line breaks,
**bold**, *italics*, lists, quotes and links; the few HTML tags of the same
set typed by hand still work. The result then goes through bleach: anything
else is escaped; links get ``rel="nofollow noopener"`` and only http, https
and mailto addresses survive. Markdown that would make other elements
(headings, code, images, rules, tables) is switched off, so such text
stays as the member typed it.
"""

import re

import bleach
from bleach.linkifier import DEFAULT_CALLBACKS
from markdown_it import MarkdownIt

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


# Single line breaks are kept (``breaks``); HTML typed by hand is left to bleach.
_markdown = MarkdownIt("commonmark", {"html": True, "breaks": True}).disable(
    ["heading", "lheading", "code", "fence", "backticks", "image", "hr", "entity"]
)


def clean_html(text: str) -> str:
    """Safe HTML for what a member typed (Markdown, or plain text with a few simple tags)."""
    cleaned = _cleaner.clean(_markdown.render((text or "").replace("\r\n", "\n")))
    return bleach.linkify(
        cleaned,
        callbacks=[*DEFAULT_CALLBACKS, _link_rel, _drop_unsafe_links],
        parse_email=False,
    )
