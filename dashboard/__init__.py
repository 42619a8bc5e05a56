"""The read-only Streamlit dashboard: `streamlit run dashboard/app.py`."""
