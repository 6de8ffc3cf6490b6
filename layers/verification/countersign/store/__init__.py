"""The data layer: every DynamoDB read and write of Countersign lives in this package, nowhere else,
and so do the data lake's S3 objects.

    control          applications, admin tokens, settings                  (ControlTable)
    keys             HS256 signing keys (ciphertext only)                  (ControlTable)
    jwks_uri_passes  which JWKS URIs passed their test, for 15 minutes     (ControlTable)
    erasures         erasures, suppressions, the subject-hash key          (ControlTable)
    data             sessions, events (the dedupe records), receipts,
                     recent drops; stream images as typed values           (DataTable)
    counters         hour-bucket counters (diagnostics, coverage), the
                     rate window, the last use of keys and kids            (DataTable)
    lake_objects     the data lake's objects: list, read, put            (ExportBucket)
    _attributes      DynamoDB attribute values and keys, for these modules only

Outside this package no module reads or writes an attribute value (`{"S": ...}`) or knows a key
format: the lake gets typed sessions and events from `data.stream_change`, and the pure rule
modules import nothing from here (tests/unit/core/test_store_owns_layout.py holds both).

Each module documents its item layout. Keys always start with the application (lake objects:
`<kind>/app=<appId>/`), so one tenant's reads and writes can never reach another's items.
"""
