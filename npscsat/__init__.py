"""Shared core of npscsat: database access, typed models, reporting queries and metrics.

Both images carry this package; it depends on nothing heavier than SQLModel and psycopg2,
so the job image stays free of pandas and Streamlit.
"""
