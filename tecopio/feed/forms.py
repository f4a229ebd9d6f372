from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import InputRequired

from tecopio.feed.services import ANSWER_MAX
from tecopio.forms import PlainParagraphs


class AnswerForm(FlaskForm):
    body = TextAreaField(
        _l("Your answer to the group"),
        description=_l(
            "Plain text, public within the group: every member reads it in the group's feed."
        ),
        validators=[InputRequired(_l("Write the answer.")), PlainParagraphs(ANSWER_MAX)],
    )
