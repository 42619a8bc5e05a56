"""The real-model benchmark's own pieces: the labelled set it ships, and a run of the script
against the project's Ollama-protocol server (so it cannot rot between real-model runs)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter

from benchmarks.bench_llm import LABELLED
from jobs.comments import NearDuplicates, normalise
from tests.job.conftest import REPO, TEST_MODEL


def test_the_labelled_set_is_balanced_with_hard_cases():
    with LABELLED.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 150
    sentiments = Counter(row["sentiment"] for row in rows)
    assert set(sentiments) == {"positive", "neutral", "negative"}
    assert max(sentiments.values()) - min(sentiments.values()) <= len(rows) // 20
    kinds = Counter(row["kind"] for row in rows)
    assert kinds["mixed"] >= 20 and kinds["sarcastic"] >= 15 and kinds["polite_neutral"] >= 20
    assert all(row["sentiment"] == "neutral" for row in rows if row["kind"] == "polite_neutral")
    distinct = NearDuplicates()
    assert all(distinct.add(row["comment"]) for row in rows), "two comments nearly the same"
    assert all(normalise(row["comment"]) == row["comment"] for row in rows)


def test_the_script_runs_against_any_ollama_server(ollama, tmp_path):
    figures = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_llm", "--records", "30", "--json", str(figures)],
        cwd=REPO,
        env={**os.environ, "OLLAMA_HOST": ollama.url, "OLLAMA_MODEL": TEST_MODEL},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for line in ("records per minute", "completion tokens per kept record", "kept / written",
                 "model decode speed", "accuracy", "negative     (recall)"):  # fmt: skip
        assert line in done.stdout
    result = json.loads(figures.read_text())
    assert result["generation"]["records"] == 30
    assert result["generation"]["kept_share_pct"] == 100.0
    assert result["classification"]["comments"] >= 150
    assert result["classification"]["unlabelled"] == 0
