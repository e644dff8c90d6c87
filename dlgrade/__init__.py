"""dlgrade: grading and exercises for deep-learning courses (see README.md)."""

import sys

# jsonschema (under nbformat and nbgrader) imports rfc3987_syntax when it is installed (jupyter-events pulls it
# in), and that module compiles 39 lark grammars at import: 2.3 s of every dlgrade command's start, for an "iri"
# format check that nothing here uses. A None entry makes that optional import fail, as jsonschema allows.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
