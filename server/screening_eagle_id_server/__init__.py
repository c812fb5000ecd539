"""Reference server."""
