"""Copy the generated config reference (docs/CONFIG.md, from the schema) into README.md.

    python scripts/update_readme_config.py          # rewrite both files
    python scripts/update_readme_config.py --check  # exit 1 if either is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mm_bot.config import config_reference_markdown  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def readme_block(reference: str) -> str:
    """The part of the reference from its key table on, headings one level down."""
    body = reference[reference.index("## Keys"):]
    return "\n".join("#" + line if line.startswith("## ") else line for line in body.splitlines())


def render_readme(readme: str, reference: str) -> str:
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{readme_block(reference).strip()}\n{END}{tail}"


def main() -> int:
    ref = config_reference_markdown()
    readme_path, doc_path = REPO / "README.md", REPO / "docs" / "CONFIG.md"
    new_readme = render_readme(readme_path.read_text(encoding="utf-8"), ref)
    if "--check" in sys.argv:
        stale = [p.name for p, text in ((readme_path, new_readme), (doc_path, ref))
                 if p.read_text(encoding="utf-8") != text]
        if stale:
            print(f"stale: {', '.join(stale)}; run python scripts/update_readme_config.py", file=sys.stderr)
            return 1
        return 0
    readme_path.write_text(new_readme, encoding="utf-8")
    doc_path.write_text(ref, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
