-- +goose Up

-- An account's places in the render queue (commands.RenderQueue
-- TakeRenderSlot): RENDERD_ACCOUNT_MAX_QUEUED rows per account, each free
-- or held by one pending or running render. A new render takes a free place
-- with FOR UPDATE SKIP LOCKED, so an account's concurrent requests take
-- different places without waiting on each other, and never more places
-- than there are: the limit is exact without serialising the account's
-- requests. A place is freed in the transaction that removes its render's
-- job (the render completed, failed or was cancelled).
CREATE TABLE render_slots (
    account_id text    NOT NULL,
    slot       integer NOT NULL CHECK (slot >= 0),
    render_id  text,
    PRIMARY KEY (account_id, slot)
);
CREATE UNIQUE INDEX render_slots_render ON render_slots (render_id);
-- The free places: a claim finds the first at once, however many of the
-- account's places are taken.
CREATE INDEX render_slots_free ON render_slots (account_id, slot) WHERE render_id IS NULL;

-- Renders queued before the limit existed hold places of their own.
INSERT INTO render_slots (account_id, slot, render_id)
SELECT account_id, row_number() OVER (PARTITION BY account_id ORDER BY since, render_id) - 1, render_id
FROM render_jobs;

-- renderd_take_render_slot gives p_render a free place among the account's
-- first p_max. An account with fewer places (a new account, a raised
-- limit) gets them as it needs them, up to 1024 at a time, so a high limit
-- costs nothing up front; the requests that find none free meanwhile wait
-- for that one insert. Each turn of the loop claims a place or adds some (its
-- own rows, or another request's, committed meanwhile), so it ends. With
-- every place taken it raises SQLSTATE RDQ01, which aborts the transaction
-- (and so the render's creation).
-- +goose StatementBegin
CREATE FUNCTION renderd_take_render_slot(p_account text, p_render text, p_max integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    places integer;
BEGIN
    LOOP
        UPDATE render_slots SET render_id = p_render
        WHERE (account_id, slot) = (
            SELECT account_id, slot FROM render_slots
            WHERE account_id = p_account AND render_id IS NULL AND slot < p_max
            ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED);
        IF FOUND THEN
            RETURN;
        END IF;
        SELECT count(*) INTO places FROM render_slots WHERE account_id = p_account AND slot < p_max;
        EXIT WHEN places >= p_max;
        INSERT INTO render_slots (account_id, slot)
        SELECT p_account, s FROM generate_series(places, least(p_max, places + 1024) - 1) s
        ON CONFLICT DO NOTHING;
    END LOOP;
    RAISE EXCEPTION 'account % has no free place in the render queue (limit %)', p_account, p_max
        USING ERRCODE = 'RDQ01';
END
$$;
-- +goose StatementEnd

-- When each account last had a render claimed: among accounts with as many
-- renders running, the one served longest ago goes first (round-robin), so
-- an account with a long queue cannot take turn after turn while another
-- account's render waits (postgres.RenderJobs.Pending).
CREATE TABLE render_claims (
    account_id      text        PRIMARY KEY,
    last_claimed_at timestamptz NOT NULL
);

-- The claim side: an account's pending renders in order, and its running
-- ones counted against RENDERD_ACCOUNT_MAX_RUNNING.
CREATE INDEX render_jobs_account_pending ON render_jobs (account_id, since, render_id) WHERE state = 'pending';
CREATE INDEX render_jobs_account_running ON render_jobs (account_id) WHERE state = 'running';

-- +goose Down
DROP INDEX render_jobs_account_running;
DROP INDEX render_jobs_account_pending;
DROP TABLE render_claims;
DROP FUNCTION renderd_take_render_slot(text, text, integer);
DROP TABLE render_slots;
