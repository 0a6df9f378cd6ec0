"""Server-rendered pages for donors (and, in development, a sample news page)."""
