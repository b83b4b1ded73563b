-- 0600_blob_index: blobs live in append-only pack files (store/blobs.go);
-- this is where each one is. A row is inserted in the transaction that
-- first references the blob, after the pack's bytes are durable.
CREATE TABLE blob_index (
    sha256      TEXT    PRIMARY KEY, -- hex SHA-256 of the bytes
    pack        TEXT    NOT NULL,    -- file name under BlobDir/packs
    pack_offset INTEGER NOT NULL,
    size        INTEGER NOT NULL
) WITHOUT ROWID;
