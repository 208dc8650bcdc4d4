-- PostgreSQL for one partynet node: a database, an owner role for migrations and a login role
-- for the app with data access only (no DDL, no ownership, no other database).
--
-- Run once as a superuser, choosing two passwords:
--   sudo -u postgres psql -v ON_ERROR_STOP=1 \
--        -v owner_password="$(openssl rand -base64 24)" \
--        -v app_password="$(openssl rand -base64 24)" -f deploy/postgresql/setup.sql
-- then:
--   migrations (`partynet node db upgrade`) connect as partynet_owner;
--   the running node (NODE_DATABASE_URL) connects as partynet_app.
-- Names are fixed here; edit them for a second node on the same server.

\set ON_ERROR_STOP on

-- Owns the schema and every table: only migrations use it.
CREATE ROLE partynet_owner LOGIN PASSWORD :'owner_password';
-- The app: reads and writes rows, nothing else.
CREATE ROLE partynet_app LOGIN PASSWORD :'app_password' CONNECTION LIMIT 100;

CREATE DATABASE partynet OWNER partynet_owner ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE partynet FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE partynet TO partynet_app;

\connect partynet

-- Tables live in `public`, owned by partynet_owner; nobody else may create objects there.
ALTER SCHEMA public OWNER TO partynet_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO partynet_app;

-- Whatever the migrations create from now on is readable and writable by the app: rows only.
ALTER DEFAULT PRIVILEGES FOR ROLE partynet_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO partynet_app;
ALTER DEFAULT PRIVILEGES FOR ROLE partynet_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO partynet_app;

-- Optional, after the first `partynet node db upgrade`: make the audit log append-only for
-- the app (the node only ever inserts and reads audit entries).
--   REVOKE UPDATE, DELETE, TRUNCATE ON audit_entries FROM partynet_app;
