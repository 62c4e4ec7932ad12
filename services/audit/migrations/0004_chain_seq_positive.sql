-- Chains start at chain_seq 1. Verification also counts a project's rows (a row the walk from 1
-- cannot reach is named), so this is defence in depth, not the check itself.
ALTER TABLE audit_events ADD CONSTRAINT audit_events_chain_seq_positive CHECK (chain_seq > 0);
