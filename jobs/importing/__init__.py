"""`python -m jobs import PATH`: loads the survey responses a team already has from a CSV file.

reader.py turns bytes into CSV records with their line numbers; formats.py maps a file's columns
to ours (our documented format, Qualtrics' export); validate.py checks each row (pure);
loader.py stages and loads the rows in one transaction; run.py ties them together.
"""
