"""Shared by the interop tests: a submission that attacks otter's in-kernel grading."""

from __future__ import annotations

from dlgrade import assignments, sample_class

# A solution cell that rewrites otter's test runner in the kernel the tests then run in (docs/interop.md).
PATCH_OTTER = """\
from otter.test_files.abstract_test import TestCaseResult
from otter.test_files.exception_test import ExceptionTestFile


def _every_case_passes(self, global_environment):
    self.test_case_results = [TestCaseResult(test_case=tc, message="ok", passed=True) for tc in self.test_cases]


ExceptionTestFile.run = _every_case_passes
"""


def otter_patcher(losses: assignments.Assignment) -> sample_class.SampleSubmission:
    """The blank template with PATCH_OTTER in its first solution cell (dlgrade grades it too: 0 points)."""
    blank = next(s for s in sample_class.build(losses, hostile=False) if s.kind == "blank")
    first = losses.suite.questions[0].cell
    return sample_class.SampleSubmission("patches-otter", "hostile",
                                         sample_class.replace_cell(blank.notebook, first, PATCH_OTTER))
