-- Who wrote a change (issue 13): the author and committer identities of every commit
-- between what the environment ran when the change was proposed and the change's head,
-- as a JSON list of {"commit", "as" ("author" | "committer"), "who" ("Name <email>"),
-- "user" (the fluxgate user with that e-mail, or null)}. None of them may approve.
-- Changes proposed before this migration keep only their head commit's author.
ALTER TABLE change_requests ADD COLUMN authors TEXT NOT NULL DEFAULT '[]';
