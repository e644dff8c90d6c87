"""nbgrader's own commands and formgrader's buttons on a dlgrade course, made to grade with dlgrade.

Left as they are, `nbgrader autograde` (formgrader's "Autograde") runs the student's notebook in a kernel and counts
a grade cell that does not raise as full marks, and a dlgrade grade cell is `check("q")`, which prints and returns
False: every answer, wrong or not, would get its points. `nbgrader generate_feedback` ("Generate Feedback") would
replace dlgrade's feedback page with a render of the notebook and delete results.json. nbgrader lets a course's
nbgrader_config.py replace the preprocessors of its converters and the exporter of its feedback, which is how
``CONFIG_BLOCK`` (written by `dlgrade setup`) plugs dlgrade in (``hooks``): Autograde rebuilds the notebook's
nbgrader metadata from the gradebook's source cells, then has dlgrade grade the submission in its sandbox and
record it (the gradebook, results, feedback, the autograded notebook: the very outputs of `dlgrade autograde`);
Generate Feedback writes dlgrade's feedback (its results, with the graders' manual scores and comments from the
gradebook). Nothing of nbgrader's kernel execution remains, so nothing there can score a cell.
"""

from __future__ import annotations

from typing import Any

HOOKS = "dlgrade.formgrader.hooks"
EXPORT = "dlgrade.formgrader.export.SafeCsvExportPlugin"
MARKER = "# dlgrade: nbgrader's Autograde and Generate Feedback grade with dlgrade"
CONFIG_BLOCK = f'''\
{MARKER} (formgrader's buttons too). nbgrader's own
# autograding would run the notebook in the student's kernel, where a check("q") grade cell that prints a failure
# still counts as full marks; keep these lines (docs: dlgrade/formgrader/__init__.py). `nbgrader export` writes
# a CSV a spreadsheet opens safely (quoted, formulas neutralised), as `dlgrade export-grades` does.
c.Autograde.sanitize_preprocessors = ["{HOOKS}.RestoreFromGradebook"]
c.Autograde.autograde_preprocessors = ["{HOOKS}.GradeWithDlgrade"]
c.GenerateFeedback.preprocessors = []
c.GenerateFeedback.exporter_class = "{HOOKS}.FeedbackExporter"
c.ExportApp.plugin_class = "{EXPORT}"
'''


def configured(config: Any) -> bool:
    """Whether an nbgrader configuration routes Autograde, Generate Feedback and export through dlgrade."""
    def name(value: Any) -> str | None:
        return value if isinstance(value, str) or value is None else f"{value.__module__}.{value.__qualname__}"

    def section(key: str) -> Any:
        return config[key] if key in config else {}

    autograde, feedback, export = section("Autograde"), section("GenerateFeedback"), section("ExportApp")
    return ([name(v) for v in autograde.get("autograde_preprocessors") or []] == [f"{HOOKS}.GradeWithDlgrade"]
            and f"{HOOKS}.RestoreFromGradebook" in [name(v) for v in autograde.get("sanitize_preprocessors") or []]
            and name(feedback.get("exporter_class")) == f"{HOOKS}.FeedbackExporter"
            and name(export.get("plugin_class")) == EXPORT)


__all__ = ["CONFIG_BLOCK", "EXPORT", "HOOKS", "MARKER", "configured"]
