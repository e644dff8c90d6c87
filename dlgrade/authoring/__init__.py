"""Instructors' own assignments: the checks an assignment must pass before it is released or graded
(``checks``), the skeleton `dlgrade new` writes (``skeleton``), and mutation testing of a suite
(``mutations``: the ways a student's solution can go wrong, ``mutants``: grading each one with the suite and
reporting the gaps, `dlgrade mutants`). The loader's own structural checks (a notebook and its suite agreeing)
live in dlgrade.assignments, which every command goes through.
"""
