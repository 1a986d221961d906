"""Pure content: template rendering, formatting of times for people, and MIME bytes."""
