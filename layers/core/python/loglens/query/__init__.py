"""Looking at logs without a model: structured search, histograms, live tail, raw SQL and saved queries.

Everything here reaches the database the way the agent does: SQL built (or written) as text, checked by the
SQL guard, run by the agent's `QueryTools` on the read-only analyst role with its statement timeout and row
cap (`runner`). Requests and answers are pydantic models, so the HTTP edge validates with them and the
OpenAPI document is generated from them.

- `filters`: the filters shared by search, histogram and tail, and the SQL conditions they become
- `search`: a page of matching records (keyset cursor) and their histogram over time
- `tail`: records stored after a cursor, in the order they were stored
- `sql`: raw SQL through the guard, and the guard's verdict without running
- `saved`: saved questions/searches/SQL and shared answers, written as loglens_writer
- `errors`: what goes wrong, and the HTTP status each failure answers with
"""
