"""keyroll.audit: who did what during the exposure window (Vercel events, Upstash audit logs)."""

from keyroll.audit.events import AuditEvent, EventCategory
from keyroll.audit.run import AuditOptions, AuditResult, audit

__all__ = ["AuditEvent", "AuditOptions", "AuditResult", "EventCategory", "audit"]
