-- The approvals queue (GET /api/approvals): the decision's risk score for the approver to weigh,
-- the approver's comment, and the keyset indexes of the list. Older rows keep both null.
ALTER TABLE approvals
  ADD COLUMN risk_score double precision CHECK (risk_score BETWEEN 0 AND 1),
  ADD COLUMN comment    text             CHECK (char_length(comment) BETWEEN 1 AND 500);

-- Pending: soonest expiry first, (expires_at, id) the keyset. Also serves the expiry sweep, as the
-- index it replaces did.
DROP INDEX approvals_pending_idx;
CREATE INDEX approvals_pending_queue_idx ON approvals (expires_at, id) WHERE status = 'pending';

-- Every other status: newest first, (created_at, id) the keyset; across projects, or within one.
CREATE INDEX approvals_status_queue_idx ON approvals (status, created_at DESC, id DESC);
CREATE INDEX approvals_project_queue_idx ON approvals (project, status, created_at DESC, id DESC);
