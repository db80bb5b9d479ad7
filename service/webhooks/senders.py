"""Outbox senders of the webhooks capability: signed change deliveries to CRM endpoints."""

from service.webhooks.outgoing import KIND, deliver

SENDERS = {KIND: deliver}
