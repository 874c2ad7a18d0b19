"""Delivery: the connectors that carry an outbox message out (e-mail, SMS/WhatsApp webhooks, letters) and the
sender that claims, re-checks, renders and delivers queued messages (``serving.delivery.sender``)."""
