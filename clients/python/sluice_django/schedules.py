"""Django-Q2's schedule types, and what each becomes in `sluice schedule add`."""


class Schedule:
    """Django-Q2's Schedule.TYPE constants, for schedule(schedule_type=...)."""

    ONCE = "O"
    MINUTES = "I"
    HOURLY = "H"
    DAILY = "D"
    WEEKLY = "W"
    BIWEEKLY = "BW"
    MONTHLY = "M"
    BIMONTHLY = "BM"
    QUARTERLY = "Q"
    YEARLY = "Y"
    CRON = "C"


SLUICE_TYPES = {
    Schedule.ONCE: "once",
    Schedule.MINUTES: "minutes",
    Schedule.HOURLY: "hourly",
    Schedule.DAILY: "daily",
    Schedule.WEEKLY: "weekly",
    Schedule.BIWEEKLY: "biweekly",
    Schedule.MONTHLY: "monthly",
    Schedule.BIMONTHLY: "bimonthly",
    Schedule.QUARTERLY: "quarterly",
    Schedule.YEARLY: "yearly",
    Schedule.CRON: "cron",
}
