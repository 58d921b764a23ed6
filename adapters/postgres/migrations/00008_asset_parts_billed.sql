-- +goose Up

-- An asset is charged for the longer of its two parts: the first part's
-- duration, then the difference when the second is longer (docs/events.md,
-- asset.charged). So one asset may have two charge entries; the event store
-- (the charge commits with its asset.charged event, under the asset's
-- lock) keeps a charge from being taken twice.
DROP INDEX credit_ledger_one_charge_per_asset;
CREATE INDEX credit_ledger_asset_idx ON credit_ledger (asset_id) WHERE asset_id IS NOT NULL;

-- Why a part was refused (asset.part_refused), until it is uploaded again.
ALTER TABLE rm_assets ADD COLUMN refusal jsonb;

-- +goose Down
ALTER TABLE rm_assets DROP COLUMN refusal;
DROP INDEX credit_ledger_asset_idx;
CREATE UNIQUE INDEX credit_ledger_one_charge_per_asset ON credit_ledger (asset_id) WHERE reason = 'charge';
