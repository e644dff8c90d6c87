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
MARKER = "# dlgrade: nbgrader's Autograde and Generate Feedback grade with dlgrade"
CONFIG_BLOCK = f'''\
{MARKER} (formgrader's buttons too). nbgrader's own
# autograding would run the notebook in the student's kernel, where a check("q") grade cell that prints a failure
# still counts as full marks; keep these four lines (docs: dlgrade/formgrader/__init__.py).
c.Autograde.sanitize_preprocessors = ["{HOOKS}.RestoreFromGradebook"]
c.Autograde.autograde_preprocessors = ["{HOOKS}.GradeWithDlgrade"]
c.GenerateFeedback.preprocessors = []
c.GenerateFeedback.exporter_class = "{HOOKS}.FeedbackExporter"
'''


def configured(config: Any) -> bool:
    """Whether an nbgrader configuration routes Autograde and Generate Feedback through dlgrade's hooks."""
    def names(values: Any) -> list[str]:
        return [value if isinstance(value, str) else f"{value.__module__}.{value.__name__}" for value in values or []]

    autograde = config.get("Autograde", {}) if "Autograde" in config else {}
    feedback = config.get("GenerateFeedback", {}) if "GenerateFeedback" in config else {}
    exporter = feedback.get("exporter_class")
    exporter = exporter if isinstance(exporter, str) or exporter is None else f"{exporter.__module__}." \
                                                                                f"{exporter.__name__}"
    return (names(autograde.get("autograde_preprocessors")) == [f"{HOOKS}.GradeWithDlgrade"]
            and f"{HOOKS}.RestoreFromGradebook" in names(autograde.get("sanitize_preprocessors"))
            and exporter == f"{HOOKS}.FeedbackExporter")


__all__ = ["CONFIG_BLOCK", "HOOKS", "MARKER", "configured"]
