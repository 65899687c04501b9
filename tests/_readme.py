"""README code blocks, read by heading, for tests that run them as written."""
import os
import re

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def python_blocks(section_heading, path=README):
    """The ```python blocks of the `## section_heading` section, in order."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    match = re.search(rf"^## {re.escape(section_heading)}\n(.*?)(?=^## |\Z)", text,
                      flags=re.MULTILINE | re.DOTALL)
    if match is None:
        raise LookupError(f"README.md has no '## {section_heading}' section.")
    return re.findall(r"^```python\n(.*?)^```", match.group(1), flags=re.MULTILINE | re.DOTALL)
