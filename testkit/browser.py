"""Debian's Chromium, launched as this machine's notes say (no background networking: the
sandbox refuses it); shared by the browser tests and the dashboard benchmark. No browser is
ever downloaded."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
