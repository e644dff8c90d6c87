"""dlgrade serve: grading on submit. A student posts a notebook over HTTP (the API, the web page at ``/``,
``dlcheck.submit()`` or ``dlgrade submit``); the service process authenticates the token, applies the course's
policy (dlgrade.yml: deadline, late policy, submissions per day, which grade counts, what of the hidden cases is
shown), stores the notebook durably (nbgrader's submitted layout, fsynced, and a row of the SQLite queue in
.dlgrade/service/) and answers 202. It never runs student code and never writes the gradebook: a separate
grading process (supervisor.py) takes queued submissions to a grading backend (the local pool of warm sandboxes,
or a Dask cluster), checks each result and records the one that counts exactly as `dlgrade autograde` records it
(its Recorder), so formgrader and export-grades see it. The queue survives any restart, SIGKILL included:
queued and half-graded submissions are graded when it comes back, each exactly once.
"""

# The first word of the grading process's lines to the serving process that say a status changed ('changed SID',
# or 'changed' alone: any may have); its other lines are start-up's ('ready', 'fatal: ...').
TICK = "changed"
