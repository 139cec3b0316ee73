-- The dashboard asks for the newest deployment per app and environment for a page of apps.
CREATE INDEX deployments_by_app ON deployments (app_id, environment_id, id);
