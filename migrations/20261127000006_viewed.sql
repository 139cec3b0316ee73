-- "Viewed" marks on a change page, per reviewer and object, bound to the head they were
-- given at: a new head (a re-render) shows every object as not viewed again.
CREATE TABLE viewed_objects (
    change_id    TEXT NOT NULL REFERENCES change_requests (id) ON DELETE CASCADE,
    user_name    TEXT NOT NULL,
    object_index BIGINT NOT NULL,
    head_commit  TEXT NOT NULL,
    at           TEXT NOT NULL,
    PRIMARY KEY (change_id, user_name, object_index)
);
