"""Instructor insight: what a whole class did on an assignment, and feedback a student would rather read.

From the course's records (.dlgrade/results) and nbgrader's gradebook, ``cohort`` builds the class statistics
(score distribution, per-question status counts, known mistakes ranked by how many students made them) and
``clusters`` groups the failures no known mistake explains by their behaviour on the course's probe set
(``probes``: inputs the same for every student, seeded from the course secret, answered in the sandbox while
grading). ``catalog`` is the course's own list of known mistakes (<course>/mistakes.yml), each defined by a
cluster's behaviour, which autograde names in every matching student's feedback without touching a score.
``pages`` renders the cohort report and the feedback page from Jinja2 templates with autoescape; ``plots``
draws the report's charts with matplotlib as inline SVG, ``figures`` the feedback page's small plots of yours
against expected; ``tables`` writes the same tables as text or formula-safe CSV; ``commands`` is what
`dlgrade report` and `dlgrade mistakes` run.
"""
