"""The unsubscribe pages' HTML: plain forms that work with JavaScript off, every value escaped.

Nothing here names the user or shows an address: whoever holds a link learns only which
kind of email it turns off.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

# No script, no outside resource, no framing; the token in the URL never leaves as a Referer.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_STYLE = (
    "body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2933;"
    "max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}"
    "button{font-size:1rem;padding:.6rem 1.2rem;border:0;border-radius:4px;"
    "background:#1f2933;color:#fff;cursor:pointer}"
)


def page(status: int, title: str, body_html: str) -> web.Response:
    """A whole page; ``body_html`` must already be escaped by the caller."""
    text = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body_html}</body></html>"
    )
    return web.Response(
        status=status, text=text, content_type="text/html", headers=SECURITY_HEADERS
    )


def confirm_page(label: str) -> web.Response:
    """``GET``: what the button turns off, and the button; changes nothing."""
    body = (
        f"<p>You will stop receiving <strong>{escape(label)}</strong> by email. Other "
        "notifications stay as they are.</p>"
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
    )
    return page(200, "Unsubscribe", body)


def done_page(label: str, settings_url: str) -> web.Response:
    body = (
        f"<p>You will no longer receive <strong>{escape(label)}</strong> by email.</p>"
        f'<p><a href="{escape(settings_url)}">Manage your notifications</a></p>'
    )
    return page(200, "Unsubscribed", body)


def refusal(status: int, message: str) -> web.Response:
    return page(status, "Unsubscribe", f"<p>{escape(message)}</p>")
