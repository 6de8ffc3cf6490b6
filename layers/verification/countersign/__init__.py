"""Countersign's shared verification layer: every Lambda function imports this package.

Modules, by what they decide:
    errors      every error code and its HTTP status (one table)
    api         the Powertools resolver factory, admin authorization, request parsing
    settings    the settings object and the rules of PATCH /settings
    store       every DynamoDB read and write (nothing else talks to DynamoDB)
    envelope    KMS envelope encryption of HS256 secrets
    tokens, claims, policy, verify    what is accepted and why
    netguard, jwks                    fetching customer keys safely
"""
