-- Run once by the postgres image on an empty volume (docker-compose.yml).
-- The application role owns its database but is not a superuser: row-level security does not
-- apply to superusers. CREATEROLE lets the migrations create the NOLOGIN switchboard_app role.
CREATE ROLE switchboard LOGIN CREATEDB CREATEROLE PASSWORD 'switchboard';
CREATE DATABASE switchboard OWNER switchboard;
