"""The closed sets of names the whole system shares.

Why: a channel, a profile or a weekday is spelled one way everywhere: the data
contract, the policy's fact vocabulary, the request schemas, the bandit's arms
and the reason phrases all read these tuples, so a new channel is added once.

Example::

    from domain.vocabulary import CHANNELS, PROFILES
    "whatsapp" in CHANNELS   # True
"""
from __future__ import annotations

#: Contact channels, in the order a policy lists them by default.
CHANNELS = ("email", "sms", "whatsapp", "letter", "phone")
#: The bandit's send-time slots and their local hour.
SLOTS = ("morning", "midday", "evening")
SLOT_HOURS = {"morning": 9, "midday": 13, "evening": 19}
DAY_TYPES = ("weekday", "weekend")
TONES = ("friendly", "neutral", "firm")
#: The languages a customer is written to in (the packaged templates have each step and tone in each).
LANGUAGES = ("nl", "en")
CUSTOMER_TYPES = ("business", "consumer")
PROFILES = ("student", "young_family", "adult", "60_plus", "sme", "enterprise")
SIZES = ("small", "medium", "large", "consumer")
#: Dispute types (a customer's objection to an invoice): the policy's ``disputes.types`` routes each to a
#: department with its SLA.
DISPUTE_TYPES = ("price", "quantity", "quality", "not_received", "duplicate", "other")
#: Work for people: the kinds of task on a worklist.
TASK_TYPES = ("call", "dispute", "review", "unmatched_payment", "broken_promise", "escalation", "dispute_overdue")
#: Weekdays as policies write them (``date.weekday()`` order: 0 = Monday) and as people read them.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December")
#: The roles a key holds (one per key), from the least to the most trusted with personal data. Machines:
#: ``checkout`` asks checkout decisions; ``dunning`` next actions, events, the book, dunning runs and tasks.
#: People (they sign in to the pages with their personal key): ``collector`` works the worklist and reads the
#: customers on it; ``credit_manager`` reads the receivables dashboard and every customer; ``analyst``
#: policies, models, backtests and reports; ``auditor`` reads audit records (personal data) and the service's
#: health; ``admin`` reloads and manages keys. ``serving/access.py`` maps routes to them.
ROLES = ("checkout", "dunning", "collector", "credit_manager", "analyst", "auditor", "admin")
#: The roles that sign in to the pages (``/login``); a machine's key is refused there.
PEOPLE_ROLES = ("collector", "credit_manager", "analyst", "auditor", "admin")
#: How long an applied bandit event id is remembered (well past any reward window), in every state backend.
BANDIT_SEEN_TTL_S = 90 * 86_400
