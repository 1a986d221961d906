"""The inbox's page templates, stylesheet and script, kept as text so the wheel needs no data.

The templates are rendered by a Jinja environment with autoescaping on, so every value (an
address, a subject, a client's name) is escaped by default. An email's own HTML is never put
into these pages: it is served on its own route and shown in a sandboxed iframe. In-app rows
and webhook posts are plain values too; a link is an ``<a>`` only when it is ``http(s)``, so a
``javascript:`` URL stays text.
"""

from __future__ import annotations

from jinja2 import DictLoader, Environment, select_autoescape

DEV_LABEL = "DEV MODE"

BASE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{% endblock %} · notifier dev inbox (DEV MODE)</title>
<link rel="stylesheet" href="/static/inbox.css">
</head>
<body data-count="{{ count }}" data-api="{{ api }}">
<header class="dev-banner" id="dev-banner">
  <strong>{{ label }}</strong> · notifier dev inbox · mail and webhooks caught in memory by the
  built-in stand-ins, in-app rows read from the dev database; nothing here was delivered to
  anyone. Not production.
</header>
<nav class="sections">
{% for name, href, title in [("email", "/", "Email"), ("in_app", "/in-app", "In-app"),
                             ("webhook", "/webhooks", "Webhooks")] %}
  <a href="{{ href }}" id="nav-{{ name }}"
     {% if name == section %}class="active" aria-current="page"{% endif %}>{{ title }}</a>
{% endfor %}
</nav>
<main>
{% block main %}{% endblock %}
</main>
</body>
</html>
"""

LIST = """{% extends "base.html" %}
{% block title %}Inbox ({{ count }}){% endblock %}
{% block main %}
<h1>Inbox <span class="count">{{ count }} message{{ "" if count == 1 else "s" }}</span></h1>
{% if messages %}
<table id="messages">
  <thead><tr><th>Time (UTC)</th><th>To</th><th>Subject</th><th>Kind</th></tr></thead>
  <tbody>
  {% for m in messages %}
    <tr class="message" data-id="{{ m.id }}" data-kind="{{ m.kind }}">
      <td class="time">{{ m.received_at.strftime("%Y-%m-%d %H:%M:%S") }}</td>
      <td class="to">{{ m.to }}</td>
      <td class="subject"><a href="/messages/{{ m.id }}">{{ m.subject or "(no subject)" }}</a></td>
      <td class="kind"><code>{{ m.kind or "-" }}</code></td>
    </tr>
  {% endfor %}
  </tbody>
</table>
{% else %}
<p class="empty">No mail yet. The demo's first messages arrive within two minutes.</p>
{% endif %}
<script src="/static/inbox.js" defer></script>
{% endblock %}
"""

MESSAGE = """{% extends "base.html" %}
{% block title %}{{ m.subject or "(no subject)" }}{% endblock %}
{% block main %}
<p><a href="/">&larr; Inbox</a></p>
<h1 id="subject">{{ m.subject or "(no subject)" }}</h1>
<dl class="headers">
  <dt>From</dt><dd>{{ m.mail_from }}</dd>
  <dt>To</dt><dd id="to">{{ m.to }}</dd>
  <dt>Date</dt><dd>{{ m.date }}</dd>
  <dt>Kind</dt><dd id="kind"><code>{{ m.kind or "-" }}</code></dd>
  <dt>Message-ID</dt><dd><code>{{ m.message_id }}</code></dd>
</dl>
<nav class="views">
{% for name, title in views %}
  <a href="/messages/{{ m.id }}?view={{ name }}" id="view-{{ name }}"
     {% if name == view %}class="active" aria-current="page"{% endif %}>{{ title }}</a>
{% endfor %}
</nav>
{% if view == "html" %}
<iframe id="html-body" title="HTML body" sandbox referrerpolicy="no-referrer"
        src="/messages/{{ m.id }}/html"></iframe>
{% elif view == "text" %}
<pre id="text-body">{{ m.text }}</pre>
{% else %}
<pre id="source">{{ source }}</pre>
{% endif %}
{% endblock %}
"""

# A link into the app: clickable only when it is http(s), text otherwise.
MACROS = """{% macro link(url) -%}
{% if url is web_link %}<a href="{{ url }}" rel="noreferrer">{{ url }}</a>
{%- else %}{{ url or "-" }}{% endif %}
{%- endmacro %}
{% macro head(titles) -%}
<thead><tr>{% for title in titles %}<th>{{ title }}</th>{% endfor %}</tr></thead>
{%- endmacro %}
"""

IN_APP = """{% extends "base.html" %}
{% from "macros.html" import link, head %}
{% block title %}In-app ({{ count }}){% endblock %}
{% block main %}
<h1>In-app feeds <span class="count">{{ count }} row{{ "" if count == 1 else "s" }}</span></h1>
<p class="note">Rows of <code>in_app_notifications</code> for the demo's users, newest first:
what the host application would show in its own UI.</p>
{% if error %}
<p class="error" id="feed-error">{{ error }}</p>
{% endif %}
{% for feed in feeds %}
<section class="feed" data-user-id="{{ feed.user_id }}">
  <h2>{{ feed.name }} <span class="count">{{ feed.email }}</span></h2>
  <table class="in-app">
    {{ head(["Created (UTC)", "Title", "Body", "Link", "Kind", "Read"]) }}
    <tbody>
    {% for n in feed.items %}
      <tr class="notification" data-kind="{{ n.kind }}"
          data-read="{{ "yes" if n.read_at else "no" }}">
        <td class="time">{{ n.created_at.strftime("%Y-%m-%d %H:%M:%S") }}</td>
        <td class="title">{{ n.title }}</td>
        <td class="body">{{ n.body }}</td>
        <td class="link">{{ link(n.url) }}</td>
        <td class="kind"><code>{{ n.kind }}</code></td>
        <td class="read">{% if n.read_at -%}
          read {{ n.read_at.strftime("%Y-%m-%d %H:%M") }}{% else %}unread{% endif %}</td>
      </tr>
    {% endfor %}
    </tbody>
  </table>
</section>
{% else %}
<p class="empty">No in-app notifications yet. The demo's first rows arrive within two minutes.</p>
{% endfor %}
<script src="/static/inbox.js" defer></script>
{% endblock %}
"""

WEBHOOKS = """{% extends "base.html" %}
{% from "macros.html" import link, head %}
{% block title %}Webhooks ({{ count }}){% endblock %}
{% block main %}
<h1>Webhooks <span class="count">{{ count }} post{{ "" if count == 1 else "s" }}</span></h1>
<p class="note">POSTs caught by the local receiver
{%- if receiver %} at <code>{{ receiver }}</code>{% endif %}, newest first; each signature
is checked with this run's <code>WEBHOOK_SECRET</code>.</p>
{% if hooks %}
<table id="hooks">
  {{ head(["Time (UTC)", "Kind", "Text", "Title", "Body", "URL", "Signature"]) }}
  <tbody>
  {% for h in hooks %}
    <tr class="hook" data-id="{{ h.id }}" data-kind="{{ h.field("kind") }}"
        data-verified="{{ "yes" if h.verified else "no" }}">
      <td class="time">{{ h.received_at.strftime("%Y-%m-%d %H:%M:%S") }}</td>
      <td class="kind"><code>{{ h.field("kind") or "-" }}</code></td>
      <td class="text">{{ h.field("text") }}</td>
      <td class="title">{{ h.field("title") }}</td>
      <td class="body">{{ h.field("body") }}</td>
      <td class="link">{{ link(h.field("url")) }}</td>
      <td class="signature">{% if h.verified %}<span class="ok">verified</span>
        {%- else %}<span class="bad">NOT verified</span>{% endif %}</td>
    </tr>
    <tr class="hook-details"><td colspan="7"><details>
      <summary>Headers and body of post #{{ h.id }}</summary>
      <pre class="headers">{% for name, value in h.headers | dictsort %}{{ name }}: {{ value }}
{% endfor %}</pre>
      <pre class="json">{{ h.pretty_body() }}</pre>
    </details></td></tr>
  {% endfor %}
  </tbody>
</table>
{% else %}
<p class="empty">No webhook posts yet. The demo's first posts arrive within two minutes.</p>
{% endif %}
<script src="/static/inbox.js" defer></script>
{% endblock %}
"""

NOT_FOUND = """{% extends "base.html" %}
{% block title %}Not found{% endblock %}
{% block main %}
<p>No such message (the inbox keeps the latest {{ limit }}). <a href="/">Inbox</a></p>
{% endblock %}
"""

CSS = """
body { font-family: system-ui, sans-serif; margin: 0; color: #1f2933; }
main { padding: 0 24px 24px; }
.dev-banner { background: #b91c1c; color: #fff; padding: 8px 24px; font-size: 14px; }
h1 .count { font-size: 14px; color: #616e7c; font-weight: normal; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e4e7eb; }
td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
dl.headers { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
dl.headers dt { color: #616e7c; }
nav.views a { margin-right: 12px; }
nav.views a.active { font-weight: bold; text-decoration: none; }
iframe { width: 100%; height: 70vh; border: 1px solid #cbd2d9; margin-top: 12px; }
pre { white-space: pre-wrap; background: #f5f7fa; padding: 12px; border: 1px solid #e4e7eb; }
nav.sections { padding: 8px 24px; border-bottom: 1px solid #e4e7eb; }
nav.sections a { margin-right: 16px; }
nav.sections a.active { font-weight: bold; text-decoration: none; }
p.note { color: #616e7c; }
p.error, .bad { color: #b91c1c; font-weight: bold; }
.ok { color: #047857; font-weight: bold; }
tr.hook-details td { border-bottom: 2px solid #cbd2d9; }
section.feed h2 .count { font-size: 14px; color: #616e7c; font-weight: normal; }
"""

# Reloads a page only when the count its API reports changed, so it stays still otherwise.
SCRIPT = """
(function () {
  var shown = Number(document.body.dataset.count);
  var api = document.body.dataset.api || '/api/messages';
  function poll() {
    fetch(api, {cache: 'no-store'})
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.count !== shown) { window.location.reload(); } else { setTimeout(poll, 2000); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 2000);
})();
"""


def is_web_link(value: object) -> bool:
    """Only ``http(s)`` links become clickable; any other scheme is shown as text."""
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def page_environment() -> Environment:
    """Built when the inbox starts, never at import."""
    loader = DictLoader(
        {
            "base.html": BASE,
            "list.html": LIST,
            "message.html": MESSAGE,
            "macros.html": MACROS,
            "in_app.html": IN_APP,
            "webhooks.html": WEBHOOKS,
            "404.html": NOT_FOUND,
        }
    )
    env = Environment(loader=loader, autoescape=select_autoescape(default=True))
    env.tests["web_link"] = is_web_link
    return env
