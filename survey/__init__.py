"""The public survey page customers answer: `python -m survey` (Starlette, Jinja2, uvicorn)."""
