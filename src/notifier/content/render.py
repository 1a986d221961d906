"""Renders a kind's subject, text and HTML from ``templates/<kind>/``.

The environment is built once in the worker's startup (compiled templates are cached there)
and autoescapes HTML, so a client named ``<script>`` shows as text.

Every template also gets ``privacy``, the ``CONTENT_PRIVACY`` mode (contract section 10):
``full``, ``subject`` (no client name in a subject or a title, the surfaces a lock screen
shows) or ``minimal`` (times, counts, the greeting and links only: no client names, services,
locations, task titles, descriptions or priorities). One template serves every mode, so the
wording cannot drift between them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from jinja2.runtime import new_context

Privacy = Literal["full", "subject", "minimal"]
"""What a notification may show (``Settings.content_privacy``); the templates' ``privacy``."""

FULL: Privacy = "full"


@dataclass(frozen=True)
class RenderedContent:
    """What goes into one email; ``subject`` is already safe for a header."""

    subject: str
    text: str
    html: str


def make_environment(folder: Path) -> Environment:
    """A template environment over ``folder``; called at startup, never at import."""
    return Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
        auto_reload=False,
    )


def header_safe(value: str) -> str:
    """Line breaks and runs of white space become single spaces: no header injection."""
    return " ".join(value.split())


def render(
    env: Environment, kind: str, context: Mapping[str, object], privacy: Privacy = FULL
) -> RenderedContent:
    """All three parts of one kind's email, as ``privacy`` allows.

    ``full`` by default, the contract's default: the email channel always passes its mode
    (``channels.email.email_parts``); other callers render the content as it always was.
    """
    values = {**context, "privacy": privacy}
    subject = env.get_template(f"{kind}/subject.txt").render(values)
    return RenderedContent(
        subject=header_safe(subject)[:250],
        text=env.get_template(f"{kind}/body.txt").render(values),
        html=env.get_template(f"{kind}/body.html").render(values),
    )


@dataclass(frozen=True)
class ShortContent:
    """What an in-app row and a webhook post carry: plain text, no HTML.

    ``title`` is one line (the surface a lock screen or a chat preview shows), ``body`` a few
    plain lines, ``url`` the link into the app. Rendered from ``<kind>/short_title.txt``,
    ``short_body.txt`` and ``short_url.txt``: templates of their own, so the email can say
    more than a notification list should.
    """

    title: str
    body: str
    url: str | None


MAX_TITLE = 200
MAX_BODY = 4000


def render_short(
    env: Environment, kind: str, context: Mapping[str, object], *, privacy: Privacy
) -> ShortContent:
    """The in-app and webhook content of one kind, from its own templates, as ``privacy``
    allows (no default: both channels hold the configured mode and must say it).

    The three templates render as one (``_short_template``): a Jinja context per template cost
    most of an in-app delivery's Python time.
    """
    title, body, url = _render_plain(_short_template(env, kind), context, privacy).split(_PART)
    return ShortContent(
        header_safe(title)[:MAX_TITLE], body.strip()[:MAX_BODY], url.strip() or None
    )


def _render_plain(template: Template, context: Mapping[str, object], privacy: Privacy) -> str:
    """``template.render(context)`` without the environment's globals (``range``, ``dict``,
    ...), which the short templates do not use.

    ``Template.render`` copies the globals (a ``ChainMap``) into a new dict for every call
    and lists their names again: a third of an in-app delivery's Python time. The context is
    copied once, with ``privacy`` added in the same copy, so a template cannot change the
    caller's mapping.
    """
    values = {**context, "privacy": privacy}
    jinja_context = new_context(template.environment, template.name, template.blocks, values)
    return template.environment.concat(template.root_render_func(jinja_context))


# Between the three parts: NUL, which no value from the database can hold (PostgreSQL text).
_PART = "\x00"
_SHORT_PARTS = ("short_title.txt", "short_body.txt", "short_url.txt")


@lru_cache(maxsize=64)
def _short_template(env: Environment, kind: str) -> Template:
    """The kind's three short templates joined into one, compiled once per environment."""
    loader = env.loader
    assert loader is not None
    sources = [loader.get_source(env, f"{kind}/{part}")[0] for part in _SHORT_PARTS]
    return env.from_string(_PART.join(sources))
