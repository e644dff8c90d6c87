"""nbgrader's grades CSV, written so that a spreadsheet opens it safely (`dlgrade export-grades`, and `nbgrader
export` on a dlgrade course through its ExportApp.plugin_class).

nbgrader's CsvExportPlugin joins fields with commas unquoted: an id or a roster name holding a comma, a quote or a
newline shifts the row, and one starting with ``=``, ``+``, ``-``, ``@`` (or a tab or CR) is a live formula in
Excel, LibreOffice or Google Sheets (CSV injection). This plugin writes the same columns and rows through a real CSV
writer, every text field that starts with such a character prefixed with ``'`` (OWASP's rule), numbers as numbers.
"""

from __future__ import annotations

import csv
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins.export import CsvExportPlugin

__all__ = ["COLUMNS", "SafeCsvExportPlugin", "spreadsheet_safe"]

COLUMNS = ("assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email", "raw_score",
           "late_submission_penalty", "score", "max_score")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> str | float:
    """A field as written: numbers as they are, None as empty, text with a leading ' if a spreadsheet would
    read it as a formula."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class SafeCsvExportPlugin(CsvExportPlugin):
    """CsvExportPlugin's rows (one per assignment and student of the gradebook, zero for no submission), quoted
    by the csv module and neutralised by spreadsheet_safe()."""

    def rows(self, gradebook: Gradebook) -> list[dict[str, Any]]:
        students = [str(item) for item in self.student]
        assignments = [str(item) for item in self.assignment]
        rows = []
        for assignment in gradebook.assignments:
            if assignments and assignment.name not in assignments:
                continue
            for student in gradebook.students:
                if students and student.id not in students:
                    continue
                row = {"assignment": assignment.name, "duedate": assignment.duedate, "student_id": student.id,
                       "last_name": student.last_name, "first_name": student.first_name, "email": student.email,
                       "max_score": assignment.max_score, "timestamp": None, "raw_score": 0.0,
                       "late_submission_penalty": 0.0, "score": 0.0}
                try:
                    submission = gradebook.find_submission(assignment.name, student.id)
                except MissingEntry:
                    pass
                else:
                    # The gradebook's float sums (35.620000000000005) rounded as the Gradescope JSON rounds them.
                    penalty = submission.late_submission_penalty or 0.0
                    row.update(timestamp=submission.timestamp, raw_score=round(submission.score, 4),
                               late_submission_penalty=round(penalty, 4),
                               score=round(max(0.0, submission.score - penalty), 4))
                rows.append(row)
        return rows

    def export(self, gradebook: Gradebook) -> None:
        destination = self.to or "grades.csv"
        self.log.info("Exporting grades to %s", destination)
        with open(destination, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream, quoting=csv.QUOTE_MINIMAL)
            writer.writerow(COLUMNS)
            for row in self.rows(gradebook):
                writer.writerow([spreadsheet_safe(row[column]) for column in COLUMNS])
