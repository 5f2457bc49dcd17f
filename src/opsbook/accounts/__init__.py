"""People's logins, roles, API tokens, browser sessions, signed action links (DESIGN.md).

The people are ``oncall.people`` in the config; an account attaches a login and a role to one.
This package imports only ``store`` and ``errors``; the web layer turns it into authentication.
"""

from opsbook.accounts.roles import Principal, Role

__all__ = ["Principal", "Role"]
