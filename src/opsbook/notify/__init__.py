"""The notify domain: the transactional outbox, delivery with retry and dead letters, channels.

Imports config, store, alerts and the root helpers only; never web or cli.
"""
