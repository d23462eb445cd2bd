"""The HTTP/JSON adapter (FastAPI) over the application layer."""
