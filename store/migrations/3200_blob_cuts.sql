-- 3200_blob_cuts: a raw message may be stored as a skeleton, the base64 of
-- its attachments cut out and kept once, decoded (store/blob_cuts.go);
-- cuts lists them (NULL: the bytes are stored whole).
ALTER TABLE blob_index ADD COLUMN cuts BLOB;
