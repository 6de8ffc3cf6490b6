"""The analysts' tables (SPEC 6.2): typed Apache Iceberg tables `events` and `sessions`.

    landing objects (SPEC 6, gzip JSON Lines) --fold--> Iceberg tables (Parquet, zstd) under tables/

    columns       the typed columns and the landing line -> row conversion (pure, no library)
    catalog       opening the catalog and the tables (Glue on AWS, SQLite locally); creates them
    ledger        which landing objects a table holds: files named by its snapshot summaries
    fold          folding new landing objects into the tables, exactly once
    maintenance   compaction of closed days, snapshot expiry, unreferenced files, landing retention
    completeness  reconcile (DataTable against `events`, SPEC 6.3) and backfill
    tasks         what the tables function does on each schedule, with its metrics
    erasure       an erasure's step (SPEC 9): the subject's rows and every file that held them, deleted

Only `columns` is importable without pyiceberg and pyarrow: every other module needs the tables
layer (layers/tables), which only the tables and erasure functions carry. No API function imports this
package (a unit test holds it), so the hot path never pays for these libraries.
"""
