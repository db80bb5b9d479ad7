"""Kantara Initiative Consent Receipt Specification v1.1 for one opt-in ledger event.

A plain function of the event, its topic, the notice's wording and the controller. The
receipt ID is a UUID derived from the service's base URL and the event id, so the same event
always gets the same receipt. The person is named by the opaque contact id, never an address.
"""

from __future__ import annotations

import uuid
from typing import Any

from service.records import vocab as v
from service.records.jsonld import Wording
from service.topics.cache import TopicInfo

VERSION = "KI-CR-v1.1.0"
TERMINATION = ("Until withdrawn: the unsubscribe link in every message, the preference "
               "centre, or a request to the organisation")


def receipt_id(base_url: str, event_id: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{base_url}/consent-receipts/{event_id}"))


def _purpose(channel: str, key: str, topic: TopicInfo | None) -> dict[str, Any]:
    name = topic.name if topic is not None else (key or f"All marketing by {channel}")
    text = f"{name} by {channel}"
    if topic is not None and topic.description:
        text += f": {topic.description}"
    transactional = topic is not None and topic.transactional
    return {
        "purpose": text,
        # Kantara v1.1 Appendix purpose categories
        "purposeCategory": ["Core Function"] if transactional else ["Marketing"],
        "consentType": "EXPLICIT",  # a recorded opt-in is an expressed choice
        "piiCategory": ["Contact"],
        "primaryPurpose": True,  # the subscription is the service this receipt is for
        "termination": TERMINATION,
        "thirdPartyDisclosure": False,
    }


def build(event: dict, contact_id: str, controller: v.Controller, topic: TopicInfo | None,
          wording: Wording | None, default_language: str) -> dict[str, Any]:
    """The receipt as Kantara v1.1 JSON (every required field, in the spec's order)."""
    channel, key = event["channel"], event["topic"]
    name = topic.name if topic is not None else (key or "all marketing")
    return {
        "version": VERSION,
        "jurisdiction": controller.jurisdiction,
        "consentTimestamp": int(event["occurred_at"].timestamp()),
        "collectionMethod": f"{event['source']}: {v.method(event['source'])}",
        "consentReceiptID": receipt_id(controller.base_url, event["id"]),
        "language": wording.language if wording is not None else default_language,
        "piiPrincipalId": contact_id,
        "piiControllers": [{
            "piiController": controller.name, "onBehalf": False,
            "contact": controller.contact,
            "address": {"streetAddress": controller.address,
                        "addressCountry": controller.jurisdiction},
            "email": controller.email, "phone": controller.phone,
            "piiControllerUrl": controller.base_url,
        }],
        "policyUrl": controller.privacy_url,
        "services": [{"service": f"{name} ({channel})",
                      "purposes": [_purpose(channel, key, topic)]}],
        "sensitive": False,
        "spiCat": [],
    }
