-- A stored transaction by its event id (the performance pages' transaction event page). Partial,
-- like the attachments' index: only transactions are looked up this way, and the lookups spell
-- the kind out so the index serves them. Created on every daily partition of `items`.
CREATE INDEX items_transactions_by_event ON items (project_id, event_id) WHERE kind = 'transaction';
