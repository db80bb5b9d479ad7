"""ISO/IEC TS 27560 consent records as JSON-LD with the W3C Data Privacy Vocabulary.

One record per (channel, topic) the contact has a preference or a consent decision for: the
purpose, the legal basis, the consent status, the controller, the notice shown (wording
version and SHA-256 of its text), the method and the timeline of ledger events, oldest first.
A plain function of rows already read (logic.py reads them); no IP or user agent is ever put
in (they stay in the export). The format is documented in docs/privacy.md.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from service.contacts.normalize import CHANNELS
from service.records import vocab as v
from service.topics.cache import TopicInfo


@dataclass(frozen=True, slots=True)
class Wording:
    key: str
    text: str
    language: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Ledger:
    """What a contact's records are built from (rows as dicts)."""

    contact_id: str
    preferences: list[dict]
    events: list[dict]
    wordings: dict[str, Wording]
    topics: dict[str, TopicInfo]


def _key_order(key: tuple[str, str]) -> tuple[int, str]:
    channel, topic = key
    return (CHANNELS.index(channel) if channel in CHANNELS else len(CHANNELS), topic)


def _legal_basis(topic: TopicInfo | None, decisions: list[dict]) -> str:
    """Contract for transactional topics; Consent where consent is needed or was asked for;
    legitimate interest (soft opt-in) for marketing sent until the person opts out."""
    if topic is not None and topic.transactional:
        return "dpv:Contract"
    if (topic is not None and topic.needs_consent) or any(
            e["action"] in ("opt_in", "confirmed", "pending") for e in decisions):
        return "dpv:Consent"
    return "dpv:LegitimateInterest"


def _status(preference: dict | None, decisions: list[dict], now: datetime,
            confirm_max_age: timedelta) -> tuple[str, str]:
    """(our preference status, DPV consent status). A request whose confirmation link has
    expired (older than CONFIRM_MAX_AGE_DAYS, never confirmed) is ConsentExpired."""
    if preference is not None:
        status = preference["status"]
    else:
        last = decisions[-1]["action"]
        status = {"opt_in": "opted_in", "confirmed": "opted_in", "opt_out": "opted_out",
                  "pending": "pending"}[last]
    term = v.PREFERENCE_STATUS.get(status, "dpv:ConsentUnknown")
    if status == "pending":
        requests = [e for e in decisions if e["action"] == "pending"]
        if requests and requests[-1]["occurred_at"] < now - confirm_max_age:
            term = v.EXPIRED
    return status, term


def _purpose(channel: str, key: str, topic: TopicInfo | None) -> dict[str, Any]:
    if topic is None:
        title = f"All marketing by {channel}" if not key else key
        description = ""
    else:
        title, description = topic.name, topic.description
    kind = "dpv:ServiceProvision" if topic is not None and topic.transactional \
        else "dpv:DirectMarketing"
    node: dict[str, Any] = {"@type": kind, "dct:title": title, "prefs:channel": channel,
                            "prefs:topic": key or None}
    if description:
        node["dct:description"] = description
    return node


def _notice(base: str, wording: Wording | None, key: str) -> dict[str, Any]:
    node: dict[str, Any] = {"@id": v.wording_iri(base, key), "@type": "dpv:ConsentNotice",
                            "dct:identifier": key}
    if wording is not None:  # a key sent without registering its text has no hash to give
        node["dct:language"] = wording.language
        node["prefs:sha256"] = wording.sha256
    return node


def _indicated_by(source: str, subject: str, controller: str) -> dict[str, str]:
    return {"@id": subject if source in v.PERSON_SOURCES else controller}


def _event(doc: str, base: str, event: dict, subject: str, controller: str) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@id": f"{doc}#event-{event['id']}", "dct:identifier": str(event["id"]),
        "dct:date": v.timestamp(event["occurred_at"]), "prefs:action": event["action"],
        "dpv:hasIndicationMethod": event["source"],
        "dpv:isIndicatedBy": _indicated_by(event["source"], subject, controller)}
    if event["action"] in v.EVENT_STATUS:
        node["dpv:hasConsentStatus"] = {"@id": v.EVENT_STATUS[event["action"]]}
    if event["wording_version"]:
        node["dpv:hasNotice"] = {"@id": v.wording_iri(base, event["wording_version"])}
    if event["campaign"]:
        node["prefs:campaign"] = event["campaign"]
    # The tamper-evident ledger (issue 16, hash chain) adds the event's hash here, as
    # node["prefs:eventHash"]; records do not depend on it.
    return node


def build(ledger: Ledger, controller: v.Controller, now: datetime,
          confirm_max_age: timedelta) -> dict[str, Any]:
    """The JSON-LD document: the controller, the data subject and one record per
    (channel, topic), records ordered by channel then topic."""
    base = controller.base_url
    doc = f"{base}/v1/contacts/{ledger.contact_id}/consent-records"
    subject = f"{base}/v1/contacts/{ledger.contact_id}"
    controller_id = f"{base}/#controller"
    preferences = {(p["channel"], p["topic"]): p for p in ledger.preferences}
    timelines: dict[tuple[str, str], list[dict]] = {}
    for event in ledger.events:
        timelines.setdefault((event["channel"], event["topic"]), []).append(event)
    keys = set(preferences) | {k for k, events in timelines.items()
                               if any(e["action"] in v.EVENT_STATUS for e in events)}
    records = []
    for key in sorted((k for k in keys if k[0] != "*"), key=_key_order):
        channel, topic_key = key
        timeline = timelines.get(key, [])
        decisions = [e for e in timeline if e["action"] in v.EVENT_STATUS]
        preference = preferences.get(key)
        topic = ledger.topics.get(topic_key) if topic_key else None
        status, term = _status(preference, decisions, now, confirm_max_age)
        record: dict[str, Any] = {
            "@id": f"{doc}#{channel}:{topic_key or '*'}", "@type": "dpv:ConsentRecord",
            "dct:identifier": f"{ledger.contact_id}:{channel}:{topic_key or '*'}",
            "dct:conformsTo": {"@id": v.DPV_27560},
            "dpv:hasDataSubject": {"@id": subject},
            "dpv:hasDataController": {"@id": controller_id},
            "dpv:hasPurpose": _purpose(channel, topic_key, topic),
            "dpv:hasLegalBasis": {"@id": _legal_basis(topic, decisions)},
            "dpv:hasConsentStatus": {"@id": term},
            "prefs:status": status,
        }
        shown = next((e for e in reversed(decisions) if e["wording_version"]
                      and v.EVENT_STATUS[e["action"]] == term), None) or next(
            (e for e in reversed(timeline) if e["wording_version"]), None)
        if shown is not None:
            key_shown = shown["wording_version"]
            record["dpv:hasNotice"] = _notice(base, ledger.wordings.get(key_shown), key_shown)
        latest = decisions[-1] if decisions else (timeline[-1] if timeline else None)
        if latest is not None:
            record["dpv:hasIndicationMethod"] = latest["source"]
            record["dpv:isIndicatedBy"] = _indicated_by(latest["source"], subject,
                                                        controller_id)
            record["dpv:isIndicatedAtTime"] = v.timestamp(latest["occurred_at"])
        changed = [t for t in (preference and preference["updated_at"],
                               timeline and timeline[-1]["occurred_at"]) if t]
        if changed:
            record["dct:modified"] = v.timestamp(max(changed))
        if preference is not None and preference["paused_until"] is not None:
            record["prefs:pausedUntil"] = v.timestamp(preference["paused_until"])
        record["dct:hasPart"] = {"@list": [_event(doc, base, e, subject, controller_id)
                                           for e in timeline]}
        records.append(record)
    return {"@context": v.context(base), "@graph": [
        _controller(controller, controller_id),
        {"@id": subject, "@type": "dpv:DataSubject", "dpv:hasIdentifier": ledger.contact_id},
        *records]}


def _controller(controller: v.Controller, node_id: str) -> dict[str, Any]:
    contacts = [c for c in (controller.email and f"mailto:{controller.email}",
                            controller.phone and f"tel:{controller.phone.replace(' ', '')}",
                            controller.contact) if c]
    node: dict[str, Any] = {
        "@id": node_id, "@type": "dpv:DataController", "dpv:hasName": controller.name,
        "dpv:hasNotice": {"@id": controller.privacy_url, "@type": "dpv:PrivacyNotice"},
        "dpv:hasContact": contacts}
    if controller.address:
        node["dpv:hasAddress"] = controller.address
    if controller.jurisdiction:
        node["dpv:hasJurisdiction"] = controller.jurisdiction
    return node
