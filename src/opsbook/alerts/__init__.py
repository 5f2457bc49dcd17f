"""The alerts domain: rules over check results, the alert lifecycle (pending -> firing ->
resolved), dependencies, silences, maintenance windows, grouping, and alerts ingested from
Alertmanager, PagerDuty Events v2 and generic webhooks.

Imports config, store, checks and the root helpers only; never incidents, notify, web or cli.
Notifications leave through the ``Emit`` hook the composition root (web/app.py) passes in.
"""
