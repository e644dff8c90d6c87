"""Instructors' own assignments: the checks an assignment must pass before it is released or graded
(``checks``), the skeleton `dlgrade new` writes (``skeleton``), and mutation testing of a suite
(``mutations``: the ways a student's solution can go wrong, ``mutants``: grading each one with the suite and
reporting the gaps, `dlgrade mutants`). The loader's own structural checks (a notebook and its suite agreeing)
live in dlgrade.assignments, which every command goes through.
"""

# A built-in question whose mutation score is under this percentage fails `dlgrade validate` (and CI); a course's
# own question under it is warned about. Measured and justified in docs/authoring.md ("Mutation scores").
MUTATION_THRESHOLD = 90.0
VALIDATE_SAMPLE = 12  # mutants per question `dlgrade validate` grades by default: a deterministic sample
