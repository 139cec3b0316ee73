-- A merge claims its change before it moves the environment branch (issue 13): while
-- merging_since is set, a newer change does not supersede it, a re-render does not replace
-- its head and no review is recorded, so the merge is recorded whole or not at all. A claim
-- older than five minutes (a process that died mid-merge) may be taken again.
ALTER TABLE change_requests ADD COLUMN merging_since TEXT;
