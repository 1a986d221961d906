"""The inbox's page templates, stylesheet and script, kept as text so the wheel needs no data.

The templates are rendered by a Jinja environment with autoescaping on, so every value (an
address, a subject, a client's name) is escaped by default. An email's own HTML is never put
into these pages: it is served on its own route and shown in a sandboxed iframe.
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
<body data-count="{{ count }}">
<header class="dev-banner" id="dev-banner">
  <strong>{{ label }}</strong> · notifier dev inbox · mail caught in memory by the built-in SMTP
  stand-in; nothing here was delivered to anyone. Not production.
</header>
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
"""

# Reloads the list only when the number of messages changed, so the page stays still otherwise.
SCRIPT = """
(function () {
  var shown = Number(document.body.dataset.count);
  function poll() {
    fetch('/api/messages', {cache: 'no-store'})
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.count !== shown) { window.location.reload(); } else { setTimeout(poll, 2000); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 2000);
})();
"""


def page_environment() -> Environment:
    """Built when the inbox starts, never at import."""
    loader = DictLoader(
        {"base.html": BASE, "list.html": LIST, "message.html": MESSAGE, "404.html": NOT_FOUND}
    )
    return Environment(loader=loader, autoescape=select_autoescape(default=True))
