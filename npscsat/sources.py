"""Where a response comes from, defined once: the job's demo data, the project's own survey, or
a file a team imported. The same rule as the survey_response_source_format CHECK in
db/init/006_response_sources.sql."""

from __future__ import annotations

import re

GENERATED = "generated"  # demo data written by a language model
SURVEY = "survey"  # answers to the project's own survey
IMPORT_PREFIX = "import:"  # import:<name>, one name per imported tool or file series
IMPORT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def import_source(name: str) -> str:
    """The source of an import called `name`; ValueError naming the rule when it breaks it."""
    if not IMPORT_NAME.match(name):
        raise ValueError(
            f'"{name}" is not a usable source name: 1 to 63 lowercase letters, digits, ".", "_" '
            'or "-", starting with a letter or digit'
        )
    return IMPORT_PREFIX + name


def source_name_from_file(file_name: str) -> str:
    """The default source name of a file: its base name without .csv / .tsv / .gz, lowercased,
    other characters turned into "-" (`Zendesk CSAT 2026.csv.gz` -> `zendesk-csat-2026`)."""
    base = file_name.rsplit("/", 1)[-1]
    for suffix in (".gz", ".csv", ".tsv", ".txt"):
        base = base.removesuffix(suffix).removesuffix(suffix.upper())
    slug = re.sub(r"[^a-z0-9._-]+", "-", base.lower()).strip("-._")
    return slug[:63]


def is_demo(source: str) -> bool:
    return source == GENERATED


# Survey answers that the page's honeypot or its minimum time to submit flagged: stored with
# source 'survey' (one answer per invitation) and suspected_bot set, reported under this source
# (db/init/007_survey.sql), which the dashboard leaves out unless picked.
SURVEY_SUSPECTED_BOT = "survey:suspected_bot"


def is_counted_by_default(source: str) -> bool:
    """Real answers: neither the demo data nor answers flagged as bots."""
    return source not in (GENERATED, SURVEY_SUSPECTED_BOT)
