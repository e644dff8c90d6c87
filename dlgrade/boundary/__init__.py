"""The boundary between what students control and what the trusted side and the instructor read.

Everything the sandboxed worker sends is untrusted data: ``messages`` parses each data-channel message against a
strict schema (types, finite numbers, depth, counts, bytes known from the case before they are read) and turns
an answer into plain arrays; ``text`` makes every string from a student plain, printable text (no lone
surrogates, no terminal escape sequences, no bidirectional overrides); ``notebook`` makes the student's cells of
the autograded notebook inert, so formgrader and nbgrader's feedback show them as text, never as live HTML.
"""
