"""Security domain: who is asking (principal), what they may do (scopes, roles, consent), audit.

Pure: no I/O here. Token verification, storage of grants and audit rows live in the layers
that own I/O (http, storage, interactions).
"""
