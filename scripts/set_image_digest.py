#!/usr/bin/env python3
"""Pins images in a kustomization.yaml, like `kustomize edit set image`.

    python scripts/set_image_digest.py deploy/overlays/staging \\
        npscsat-job=ghcr.io/acme/npscsat-job@sha256:<64 hex> \\
        npscsat-dashboard=ghcr.io/acme/npscsat-dashboard@sha256:<64 hex>

Each argument is NAME=NEW_NAME@sha256:DIGEST (or NAME@sha256:DIGEST to keep the entry's
newName). As `kustomize edit set image` does, the entry for NAME gets newName and digest, any
newTag is dropped, a missing entry is added, and entries are kept sorted by name. Only the
top-level `images:` list is rewritten; the rest of the file, comments included, is kept byte for
byte. The release workflow runs this for its GitOps pull request; it needs only the standard
library, so no kustomize binary has to be downloaded in CI.

Exit codes: 0 changed or already pinned, 1 the file cannot be edited safely, 2 bad usage.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

DIGEST = r"sha256:[0-9a-f]{64}"
# A lowercase image reference without tag or digest: registry/path/name.
IMAGE_NAME = r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
SPEC_RE = re.compile(
    rf"^(?P<name>{IMAGE_NAME})(?:=(?P<new_name>{IMAGE_NAME}))?@(?P<digest>{DIGEST})$"
)
KEYS = ("name", "newName", "newTag", "digest")
ITEM_RE = re.compile(r"^(?P<indent> *)- (?P<key>[A-Za-z]+): *(?P<value>\S.*?)\s*$")
FIELD_RE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z]+): *(?P<value>\S.*?)\s*$")


class EditError(Exception):
    """The kustomization cannot be edited without guessing."""


def parse_spec(spec: str) -> tuple[str, str | None, str]:
    match = SPEC_RE.fullmatch(spec)
    if not match:
        raise argparse.ArgumentTypeError(
            f"{spec!r} is not NAME=NEW_NAME@sha256:<64 lowercase hex> (or NAME@sha256:...)"
        )
    return match["name"], match["new_name"], match["digest"]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _images_block(lines: list[str]) -> tuple[int, int]:
    """Start and end (exclusive) line index of the top-level `images:` list, or (-1, -1)."""
    start = next((i for i, line in enumerate(lines) if re.match(r"^images:\s*$", line)), -1)
    if start < 0:
        return -1, -1
    end = start + 1
    while end < len(lines):
        line = lines[end]
        if line.strip() and not line.startswith((" ", "-", "#")):
            break
        end += 1
    # Trailing blank lines and comments belong to what follows.
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip()[0] == "#"):
        end -= 1
    return start, end


def parse_images(block: list[str]) -> list[dict[str, str]]:
    entries: list[dict[str, str]] = []
    item_indent = None
    for line in block:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = ITEM_RE.match(line)
        if item and (item_indent is None or len(item["indent"]) == item_indent):
            item_indent = len(item["indent"])
            entries.append({})
            key, value = item["key"], item["value"]
        else:
            field = FIELD_RE.match(line)
            if not field or not entries or len(field["indent"]) != item_indent + 2:
                raise EditError(f"unexpected line in images: {line.rstrip()!r}")
            key, value = field["key"], field["value"]
        if key not in KEYS:
            raise EditError(f"unsupported key {key!r} in images (only {', '.join(KEYS)})")
        if key in entries[-1]:
            raise EditError(f"key {key!r} repeated in one images entry")
        entries[-1][key] = _unquote(value)
    for entry in entries:
        if "name" not in entry:
            raise EditError(f"an images entry has no name: {entry}")
    return entries


def render_images(entries: list[dict[str, str]]) -> list[str]:
    lines = ["images:\n"]
    for entry in sorted(entries, key=lambda e: e["name"]):
        first = True
        for key in KEYS:
            if key in entry:
                lines.append(f"{'  - ' if first else '    '}{key}: {entry[key]}\n")
                first = False
    return lines


def set_images(text: str, specs: list[tuple[str, str | None, str]]) -> str:
    """The kustomization text with each (name, new_name, digest) pinned."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start, end = _images_block(lines)
    entries = pinned_images(text)
    by_name = {entry["name"]: entry for entry in entries}
    if len(by_name) != len(entries):
        raise EditError("two images entries have the same name")
    for name, new_name, digest in specs:
        entry = by_name.setdefault(name, {"name": name})
        if new_name is not None:
            entry["newName"] = new_name
        entry.pop("newTag", None)
        entry["digest"] = digest
    block = render_images(list(by_name.values()))
    if start < 0:
        separator = ["\n"] if lines and lines[-1].strip() else []
        return "".join([*lines, *separator, *block])
    return "".join([*lines[:start], *block, *lines[end:]])


def pinned_images(text: str) -> list[dict[str, str]]:
    """The images entries of a kustomization text."""
    lines = text.splitlines(keepends=True)
    start, end = _images_block(lines)
    return parse_images(lines[start + 1 : end]) if start >= 0 else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kustomization", type=Path, help="a kustomization.yaml or its folder")
    parser.add_argument("images", nargs="+", type=parse_spec, metavar="NAME=NEW_NAME@DIGEST")
    args = parser.parse_args(argv)

    path: Path = args.kustomization
    if path.is_dir():
        path = path / "kustomization.yaml"
    if not path.is_file():
        print(f"set_image_digest: {path} does not exist", file=sys.stderr)
        return 1
    before = path.read_text(encoding="utf-8")
    try:
        after = set_images(before, args.images)
    except EditError as exc:
        print(f"set_image_digest: {path}: {exc}", file=sys.stderr)
        return 1
    if after == before:
        print(f"{path}: already pinned")
        return 0
    path.write_text(after, encoding="utf-8")
    changed = {name for name, _, _ in args.images}
    for entry in pinned_images(after):
        if entry["name"] in changed:
            reference = f"{entry.get('newName', entry['name'])}@{entry['digest']}"
            print(f"{path}: {entry['name']} -> {reference}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
