"""The data layer: every DynamoDB read and write of Countersign lives in this package, nowhere else.

    control   applications, admin tokens, settings              (ControlTable)
    keys      HS256 signing keys (ciphertext only)              (ControlTable)
    data      sessions, events (the dedupe records), counters   (DataTable)

Each module documents its item layout. Keys always start with the application, so one tenant's
reads and writes can never reach another's items.
"""
