"""Renderers: format reports (console, JSON, Markdown, JUnit). They never compute."""
