-- Version 4: a reassessment's vendor entries read in joining order without
-- a sort. STMT_RSM_VENDORS reads one reassessment's entries ORDER BY rowid
-- (the order they joined in); the primary key's index holds them in
-- vendor_id order, so every read of a reassessment sorted its entries in a
-- temporary b-tree. The entries of one key of this index are in rowid
-- order: the query walks it and sorts nothing (about an eighth of the
-- instructions of GET /v1/reassessments/{id} with 10 vendors).
CREATE INDEX reassessment_vendors_in_order
  ON reassessment_vendors(reassessment_id);
