-- loglens: run-as=owner
-- The loader records its counts on the ledger row it claimed (load_object's final UPDATE).
GRANT UPDATE (rows_loaded, rows_duplicate, rows_rejected) ON load_ledger TO loglens_writer;
