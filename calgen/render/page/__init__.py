"""Pages: the document context, the timeline geometry, Markdown."""
