"""Jinja2 templates of the Dockerfiles; shipped in the wheel as builder.templates."""
