"""Patron: a self-hosted guest CRM that speaks the Deliverect CRM API."""

__version__ = "0.1.0"
