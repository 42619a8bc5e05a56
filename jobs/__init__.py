"""The one-shot data job: schema, users, generated responses, sentiment, reporting refresh."""
