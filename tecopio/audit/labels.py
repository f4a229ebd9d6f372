"""Audit events in words, in the reader's language."""

from flask_babel import lazy_gettext as _l

DESCRIPTIONS = {
    "group.created": _l("%(actor)s created the group."),
    "group.updated": _l("%(actor)s changed the group's details."),
    "member.joined": _l("%(target)s joined the group."),
    "member.requested": _l("%(target)s asked to join."),
    "member.request_withdrawn": _l("%(target)s withdrew their request to join."),
    "member.approved": _l("%(actor)s approved %(target)s as a member."),
    "member.rejected": _l("%(actor)s declined the request of %(target)s."),
    "member.promoted": _l("%(actor)s made %(target)s an admin."),
    "member.demoted": _l("%(actor)s made %(target)s a member instead of an admin."),
    "member.removed": _l("%(actor)s removed %(target)s from the group."),
    "member.left": _l("%(target)s left the group."),
    "invitation.sent": _l("%(actor)s invited %(email)s."),
    "invitation.revoked": _l("%(actor)s withdrew the invitation to %(email)s."),
    "invitation.accepted": _l("%(target)s accepted an invitation and joined."),
    "invitation.declined": _l("%(target)s declined an invitation."),
}
SOMEONE = _l("a former user")


def describe(event) -> str:
    template = DESCRIPTIONS.get(event.action)
    if template is None:
        return event.action
    return str(template) % {
        "actor": event.actor.display_name if event.actor else str(SOMEONE),
        "target": event.target_user.display_name if event.target_user else str(SOMEONE),
        "email": (event.details or {}).get("email", ""),
    }


def init_app(app) -> None:
    app.jinja_env.globals["describe_audit_event"] = describe
